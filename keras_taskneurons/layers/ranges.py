"""What a task-neuron layer's bases see: the input map, the range they are
brought into (``basis_range``: clipped to the search's per-column domains,
mapped by running statistics, or left alone), and the check that warns when
most of it falls outside the domain. A mixin of
``BasisLayer`` (see its module
docstring for the meaning of each range)."""

import contextlib
import warnings

import keras
import numpy as np
from keras import ops

from keras_taskneurons.columns import warp_segments
from keras_taskneurons.formula import Formula

LINEAR = Formula("x")

RUNNING_MOMENTUM = 0.99
"""Momentum of the ``"running"`` statistics (debiased, so the first
training batch already gives its own statistics)."""

MOMENT_ROWS = 256
"""A dense layer's running statistics take each training batch's first
``MOMENT_ROWS`` rows (training batches are shuffled: a random sample of the
batch). The moving averages pool about ``1 / (1 - RUNNING_MOMENTUM)``
batches, so the estimate stays steady, and the statistics' share of a
training step falls by the batch's size over this (a quarter at batch
1024). Inputs with more axes (sequences, images) use every row: their
first rows are one sample's, not a random sample."""

RUNNING_SPREAD = 2.0
"""``"running"`` maps ``mean ± RUNNING_SPREAD * std`` of each input onto the
domain's ends (a normal input is clipped 4.6 % of the time)."""

SATURATION_WARNING = 0.5
"""A layer warns (once) when more than this fraction of what its bases see
in a training batch falls outside the basis domain (the bases saturate
there: clipped, they are constants)."""


def _clip_along(x, low, high, axis):
    """``x`` clipped to per-channel bounds (``low``, ``high``: one value per
    channel along ``axis``)."""
    return ops.minimum(ops.maximum(x, _along(low, x, axis)), _along(high, x, axis))


def _along(values, x, axis):
    """The per-channel ``values`` as a tensor of ``x``'s dtype that
    broadcasts against ``x`` along ``axis``."""
    shape = [1] * len(x.shape)
    shape[axis] = -1
    return ops.reshape(
        ops.convert_to_tensor(values, keras.backend.standardize_dtype(x.dtype)), shape)


def _warp(x, knots, values, axis):
    """The input map's piecewise-linear warp of ``x`` (channels along
    ``axis``): per channel, its first value plus each segment's slope times
    how far ``x`` reaches into the segment (``x`` clipped to it), as
    ``apply_warp()`` computes it in numpy."""
    low, high, slope = warp_segments(knots, values)
    dtype = keras.backend.standardize_dtype(x.dtype)
    last = ops.expand_dims(ops.moveaxis(x, axis, -1), -1)
    low_t, high_t, slope_t = (ops.convert_to_tensor(v, dtype) for v in (low, high, slope))
    inside = ops.subtract(ops.minimum(ops.maximum(last, low_t), high_t), low_t)
    warped = ops.add(ops.sum(ops.multiply(inside, slope_t), axis=-1),
                     ops.convert_to_tensor(values[:, 0], dtype))
    return ops.moveaxis(warped, -1, axis)


def _channel_moments(u, axis):
    """Mean and (biased) variance of each channel of ``u`` (channels along
    ``axis``), as two products with a row of ones: a matrix product is the
    best-tuned reduction every backend has (a column-wise ``mean`` over a
    batch costs several times as much on CPU)."""
    flat = ops.reshape(ops.moveaxis(u, axis, -1), (-1, u.shape[axis]))
    shift = flat[:1]  # moments about the first row: no cancellation when |mean| >> std
    flat = ops.subtract(flat, shift)
    count = ops.shape(flat)[0]
    ones = ops.ones((1, count), dtype=u.dtype) / ops.cast(count, u.dtype)
    mean = ops.matmul(ones, flat)[0]
    second = ops.matmul(ones, ops.square(flat))[0]
    return ops.add(mean, shift[0]), ops.maximum(second - ops.square(mean), 0.0)


class InputRangeMixin:
    """The input map and the range of what the bases see (module docstring)."""


    def _map_input(self, x, axis=-1):
        """``(z, u)``: ``x`` (channels along ``axis``) mapped by the input
        map, standardized for the linear basis (``z``, when the map has
        statistics) and as the search saw it (``u``)."""
        if self.input_map is None:
            return x, x
        if self.input_map.n_features not in (1, x.shape[axis]):
            raise ValueError(
                f"Layer {self.name!r} holds an input map of {self.input_map.n_features} "
                f"features, but its input has {x.shape[axis]} along axis {axis}. "
                f"Received: input_shape={tuple(x.shape)}"
            )
        def constant(values):
            return _along(values, x, axis)

        m = self.input_map
        u = ops.divide(ops.subtract(x, constant(m.center)), constant(m.scale))
        if m.warp_knots is not None:  # x sees the affine part; the bases its warp
            return u, _warp(u, m.warp_knots, m.warp_values, axis)
        if m.u_mean is None:
            return u, u
        center, scale = m.linear_map()  # one affine map of x, not two in a row
        return ops.divide(ops.subtract(x, constant(center)), constant(scale)), u

    def _build_range(self, channels):
        """The ``"running"`` statistics of the ``channels`` inputs (when some
        basis but ``x``, or the interaction term, uses them): non-trainable
        float32 weights, saved and exported like any weight."""
        self.range_mean = self.range_variance = self.range_count = None
        if self.basis_range != "running" or not self._uses_bounded_input():
            return
        for name, shape in (("range_mean", (channels,)), ("range_variance", (channels,)),
                            ("range_count", ())):
            setattr(self, name, self.add_weight(
                name=name, shape=shape, initializer="zeros", trainable=False,
                autocast=False,
            ))

    def _uses_bounded_input(self):
        """Whether some basis but ``x`` or the interaction term sees the
        bounded input."""
        return bool(getattr(self, "interaction_rank", 0)) or any(b != LINEAR for b in self.bases)

    def _running_statistics(self, u, axis, training):
        """The debiased running mean and variance of each input, updated
        first with the batch ``u`` when ``training`` (and the layer is
        trainable: a frozen layer keeps its statistics, as Keras's
        ``BatchNormalization`` does)."""
        dtype = u.dtype
        if training and self.trainable:
            rows = u[:MOMENT_ROWS] if len(u.shape) == 2 else u  # a dense layer's batch
            batch_mean, batch_variance = _channel_moments(ops.stop_gradient(rows), axis)
            m = RUNNING_MOMENTUM
            self.range_mean.assign(
                m * self.range_mean + (1 - m) * ops.cast(batch_mean, "float32"))
            self.range_variance.assign(
                m * self.range_variance + (1 - m) * ops.cast(batch_variance, "float32"))
            self.range_count.assign(self.range_count + 1.0)
        count = ops.cast(self.range_count, dtype)
        seen = ops.greater(count, 0)
        correction = ops.maximum(1.0 - ops.power(ops.cast(RUNNING_MOMENTUM, dtype), count), 1e-12)
        mean = ops.where(seen, ops.cast(self.range_mean, dtype) / correction, 0.0)
        variance = ops.where(seen, ops.cast(self.range_variance, dtype) / correction, 1.0)
        return mean, variance

    def _basis_input(self, u, axis=-1, training=None, state=False):
        """What every basis but ``x`` sees: ``u`` brought into
        the basis domain as ``basis_range`` says (module docstring).
        ``state``: ``u`` is a recurrent state, not the input: clipped to
        the basis domain, never to the input's per-column domains, and not
        counted by the range check."""
        if self.basis_range is None:
            return u
        by_column = self._clips_by_column() and not state
        low, high = self.basis_bounds(by_column=not state)
        if self.basis_range == "running" and self.range_mean is not None:
            mean, variance = self._running_statistics(u, axis, training)
            shape = [1] * len(u.shape)
            shape[axis] = -1
            # One affine map per input, folded on the (channels,) vectors so
            # the batch sees one multiply and one add: mean ± RUNNING_SPREAD
            # std onto the domain's ends.
            half = (high - low) / (2 * RUNNING_SPREAD)
            slope = ops.multiply(ops.rsqrt(ops.add(variance, 1e-6)), half)
            offset = ops.subtract((low + high) / 2, ops.multiply(mean, slope))
            u = ops.add(ops.multiply(u, ops.reshape(slope, shape)), ops.reshape(offset, shape))
        if by_column:  # the search's per-column domains, as tensors
            low, high = (_along(v, u, axis) for v in (low, high))
        if (self._range_probe is not None or (training and not self._range_checked)) and (
                self._uses_bounded_input() and not state):
            self._note_range(u, low, high)
        return ops.minimum(ops.maximum(u, low), high) if by_column else ops.clip(u, low, high)

    @property
    def range_probe(self):
        """The list an open ``probing_range()`` fills, or ``None``."""
        return self._range_probe

    @contextlib.contextmanager
    def probing_range(self, probe):
        """While open, each inference call records ``(fraction of the
        values outside the domain, number of values)`` in the list it
        yields (``probe``, an empty list, as the layer holds it;
        [basis_range_report][keras_taskneurons.basis_range_report] reads
        it) instead of warning; ``probe=None`` pauses an outer probe."""
        previous, self._range_probe = self._range_probe, probe
        try:
            yield self._range_probe  # Keras's attribute tracking may wrap the list
        finally:
            self._range_probe = previous

    def record_input_range(self, x, axis=-1):
        """Record in the open probe what the bases see of ``x`` (a recurrent
        layer's whole sequence, outside its time loop)."""
        self._inputs(x, axis, False)

    def basis_bounds(self, by_column=True):
        """``(low, high)`` of what the bases see, for numpy: each input's own
        domain (arrays) in a layer that clips by column (unless
        ``by_column=False``), else the layer's one basis domain, the
        ``(low, high)`` pair the layer holds."""
        if by_column and self._clips_by_column():
            return self.input_map.column_domains()
        return self.basis_domain

    def _clips_by_column(self):
        """Whether the bases see each input clipped to its own domain (a
        layer holding a search's map with per-column domains, with
        ``basis_range="clip"``)."""
        return self.clips_linear() and self.input_map.low is not None

    def _outside_fraction(self, u, low, high):
        """The fraction of ``u`` outside ``(low, high)`` (numbers, or tensors
        that broadcast against ``u``), as a Python float, or ``None`` when
        ``u`` has no value yet (traced under ``jit`` or ``tf.function``; the
        unused tensor is then pruned from the graph)."""
        outside = ops.logical_or(ops.less(u, low), ops.greater(u, high))
        fraction = ops.mean(ops.cast(outside, "float32"))
        try:
            return float(ops.convert_to_numpy(fraction))
        except Exception:  # a symbolic or traced tensor: no value to read
            return None

    def _note_range(self, u, low, high):
        """Record the fraction outside the domain ``(low, high)`` for a
        probe, or, on the first training batch seen eagerly, warn once if it
        is most of it (``SATURATION_WARNING``). Compiled training is
        checked by [BasisRangeMonitor][keras_taskneurons.BasisRangeMonitor]."""
        fraction = self._outside_fraction(u, low, high)
        if fraction is None:
            return
        if self._range_probe is not None:
            self._range_probe.append((fraction, int(np.prod(u.shape))))
            return
        self._range_checked = True
        self.warn_range(fraction)

    def warn_range(self, fraction, threshold=SATURATION_WARNING):
        """Warn (once per layer) that ``fraction`` of the inputs fall
        outside the domain."""
        if fraction <= threshold or self._range_warned:
            return
        self._range_warned = True
        low, high = self.basis_bounds(by_column=False)
        advice = ("Give the first layer the search's input map (search.layer_factory())"
                  + (", or use basis_range='running'." if self.basis_range != "running" else
                     "; the running statistics follow what the layer sees over about 100 "
                     "training steps (a dense layer reads each batch's first 256 rows: shuffle "
                     "the rows)."))
        warnings.warn(
            f"{type(self).__name__} layer {self.name!r}: {100 * fraction:.1f} % of the "
            f"values its bases see fall outside basis_domain=({low:g}, {high:g}) "
            f"(basis_range={self.basis_range!r}), where every basis but x saturates. "
            + advice,
            UserWarning, stacklevel=2,
        )

    def _inputs(self, x, axis=-1, training=None):
        """``(z, v)``: what the linear basis sees (the input, standardized
        by the input map when it has statistics, and in a layer holding the
        map with ``basis_range="clip"`` clipped to the search's domain in
        those units) and what the other bases see (the search's values
        brought into the domain); ``training`` updates the running
        statistics."""
        z, u = self._map_input(x, axis)
        if self.clips_linear():
            low, high = self.input_map.linear_domain()
            z = _clip_along(z, low, high, axis)
        return z, self._basis_input(u, axis, training)

    def clips_linear(self):
        """Whether ``x`` too sees its input clipped (to the map's
        ``linear_domain()``): in a
        layer holding the search's map with ``basis_range="clip"``."""
        return self.input_map is not None and self.basis_range == "clip"

    def _interaction_input(self, z, bounded, axis=-1):
        """What the interaction term's projections see
        (``interaction``): ``z`` bounded like
        ``bounded`` (the other bases' input), in ``z``'s units when the input
        map standardizes (then exactly ``z`` inside the search's domain);
        ``z`` itself with ``basis_range=None``."""
        if self.basis_range is None:
            return z
        m = self.input_map
        if m is None or m.u_mean is None:
            return bounded
        return ops.divide(ops.subtract(bounded, _along(m.u_mean, z, axis)),
                          _along(m.u_std, z, axis))
