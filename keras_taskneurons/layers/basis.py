"""The basis machinery every task-neuron layer shares.

A formula ``f`` is expanded into distinct basis functions ``g_k``; a layer
applies ``g_k`` element-wise to its input, multiplies each by a fixed factor
``m_k`` and feeds the concatenated features ``[m_1 g_1(x), ..., m_K g_K(x)]``
to ONE linear operation (a matmul for ``TaskNeuronDense``, a convolution for
``TaskNeuronConvND``) whose kernel holds one block per basis. This module
holds what does not depend on that operation: the options (``linear_basis``,
``basis_scale``, ``normalize_bases``, ``input_map``, ``basis_range``,
the basis domain) and their validation, the bases and factors, the input
map and the range the bases see, the features, the block-wise kernel
initialization, the float32 computation under mixed precision, and the
config with its safe loading (the stored ``"bases"`` pin the kernel order).

**What the bases see.** A layer first applies its ``input_map`` (the
search's map from the user's features to the values the formula was found
on; the identity by default), giving ``u``; the linear basis ``x`` sees
``u`` standardized with the map's statistics (``z``; ``u`` itself for a map
without them). Every other basis sees ``u`` brought into the basis domain (the range
the formula was searched on, default ``[-1, 1]``), as ``basis_range`` says:

- ``"clip"``: ``u`` clipped to the domain (exact inside it; a layer holding
  the search's input map computes the searched bases of the raw input, and
  its ``x`` too sees ``z`` clipped to that domain, in ``z``'s units, so the
  layer, hence the network, stays bounded on rows far outside the range
  the search saw, as a tree ensemble does; the search's rows pass
  unchanged);
- ``"running"``: each input (channel) standardized by running statistics of
  what the layer sees in training (debiased moving averages, like
  ``BatchNormalization``'s but used alike in training and inference), its
  ``mean ± 2 std`` mapped onto the domain's ends, then clipped: hidden
  layers, whose activations (ReLU: ``[0, inf)``) have no relation to the
  search's range, evaluate the bases where the formula means something;
- ``None``: ``u`` itself (unbounded).
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_taskneurons.formula import Formula, as_formula
from keras_taskneurons.columns import domain_sample
from keras_taskneurons.layers.handoff import HandOffMixin
from keras_taskneurons.layers.interaction import InteractionMixin
from keras_taskneurons.layers.options import (  # noqa: F401  (imported from here too)
    BASIS_RANGES,
    DEFAULT_BASIS_DOMAIN,
    LAYER_OPTIONS,
    NORMALIZATIONS,
    check_options,
    is_positive_number,
    reseeded,
)
from keras_taskneurons.layers.ranges import (  # noqa: F401  (imported from here too)
    LINEAR,
    RUNNING_MOMENTUM,
    RUNNING_SPREAD,
    SATURATION_WARNING,
    InputRangeMixin,
    _along,
)

LOW_PRECISION = ("float16", "bfloat16")

BEFORE_START_AS_DENSE = {
    "linear_basis": False, "basis_scale": 1.0, "normalize_bases": False,
    "basis_clip": None,
}
"""What a config without these keys (saved by 0.1) meant."""

FORMAT_VERSION = 1
"""The layout of a task-neuron layer's config, stored under
``"format_version"`` since 0.3. Such a config must hold its ``"bases"`` (the
kernel's block order); configs without a version (0.1, 0.2) load with their
old meaning; a newer version than this one is refused."""


def check_format_version(kind, version, bases):
    """Refuse a config ``version`` this package cannot read, or a versioned
    config without its stored ``bases``: without them a formula edited into
    another with as many bases would load its weights into the wrong blocks."""
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, numbers.Integral):
        raise TypeError(
            f"The format_version of a {kind} layer's config must be an integer. "
            f"Received: format_version={version!r:.100}"
        )
    if not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"The config of a {kind} layer has format_version={version}; this "
            f"keras-taskneurons reads versions 1 to {FORMAT_VERSION} (a newer release "
            "wrote it: upgrade the package)."
        )
    if bases is None:
        raise ValueError(
            f"The config of a {kind} layer (format_version={version}) lacks its 'bases', "
            "which pin the order of the kernel's blocks; it is not loaded. Drop "
            "format_version too when you build a layer from an edited formula."
        )


SPREAD_FLOOR = 1e-12
"""A basis whose spread over a column's sample is at most this fraction of
its largest magnitude there is constant on that column: it keeps factor
``basis_scale`` there (dividing by its spread would blow rounding up)."""


def scaled(features, multiplier, axis=-1):
    """``features`` times the basis's factor: a number, or one factor per
    input channel (an array, laid along ``axis``)."""
    if isinstance(multiplier, np.ndarray):
        return ops.multiply(features, _along(multiplier, features, axis))
    return features if multiplier == 1.0 else ops.multiply(features, multiplier)


def check_positive_int(name, value):
    """Refuse ``value`` unless it is a positive int (numpy ints too)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive "
            f"integer. Received: {name}={value!r}"
        )
    return int(value)


def known_size(layer, input_shape, axis=-1, which="last"):
    """The input's size along ``axis``; refused when the shape leaves it
    unknown (``which`` names the axis in the message)."""
    size = input_shape[axis]
    if size is None:
        raise ValueError(f"The {which} dimension of the inputs to {layer.name} must be known. "
                         f"Received: input_shape={tuple(input_shape)}")
    return size


class BasisLayer(HandOffMixin, InputRangeMixin, InteractionMixin, keras.layers.Layer):
    """Base class of the task-neuron layers: formula, bases, factors,
    features, kernel blocks and config. Not a layer to use by itself."""

    def __init__(self, formula, *, bases=None, parametric=False, format_version=None,
                 **kwargs):
        """Check and store the ``LAYER_OPTIONS`` among ``kwargs`` (the
        rest goes to Keras's ``Layer``); derive the bases.

        ``bases`` (what ``get_config()`` stores under ``"bases"``) must be
        the formula's own expansion, so that ``cls(**layer.get_config())``
        works and a tampered config is refused. With ``parametric``, bases
        with constants inside go to ``self._parametric_bases`` (the dense
        layer's ``"constants"`` parameterization); the others are the
        kernel's blocks, ``self._matmul_bases``. ``format_version`` (a
        config's): see ``FORMAT_VERSION``.
        """
        check_format_version(type(self).__name__, format_version, bases)
        options = check_options({name: kwargs.pop(name) for name in LAYER_OPTIONS
                                 if name in kwargs})
        super().__init__(activity_regularizer=options.pop("activity_regularizer"), **kwargs)
        for name, value in options.items():
            setattr(self, name, value)
        if self.basis_domain is None:  # the map's domain, else [-1, 1]
            self.basis_domain = (DEFAULT_BASIS_DOMAIN if self.input_map is None
                                 else self.input_map.domain)
        if self.basis_range == "auto":  # the search's map: its bases exactly; else adapt
            self.basis_range = "clip" if self.input_map is not None else "running"
        self.formula = as_formula(formula)
        given_bases = bases

        constant, terms = self.formula.terms()
        self.formula_constant = constant
        bases = [basis for _, basis in terms]
        largest = max(abs(c) for c, _ in terms)
        self._coefficients = {str(b): abs(c) / largest for c, b in terms}
        if self.linear_basis and LINEAR not in bases:
            bases.insert(0, LINEAR)
        if parametric:
            self._matmul_bases = [b for b in bases if not b.constants]
            self._parametric_bases = [b for b in bases if b.constants]
        else:
            self._matmul_bases = bases
            self._parametric_bases = []
        self._multipliers = [self._multiplier(b) for b in self.bases]
        self._state_multipliers = [self._multiplier(b, per_input=False) for b in self.bases]
        if given_bases is not None:
            self._check_bases(given_bases)
        self._range_checked = False  # the once-per-layer saturation check
        self._range_probe = None  # a list while basis_range_report() probes
        self._range_warned = False

    def _check_bases(self, stored):
        """Refuse ``stored`` bases (a config's ``"bases"``) that are not the
        formula's expansion: the weights would land in the wrong blocks."""
        kind = type(self).__name__
        if not isinstance(stored, (list, tuple)) or not all(isinstance(b, str) for b in stored):
            raise TypeError(
                f"The bases of a {kind} layer must be a list of strings (the "
                f"config's 'bases'). Received: bases={stored!r:.200}"
            )
        derived = [str(basis) for basis in self.bases]
        if list(stored) != derived:
            raise ValueError(
                f"The bases given for {kind} layer {self.name!r} (`bases`, a config's "
                f"'bases') do not match its formula {str(self.formula)!r}: they say "
                f"{list(stored)!r:.300}, the formula expands into {derived!r}. Its "
                "weights would land in the wrong basis blocks, so the layer is not "
                "built. Drop `bases` (and `format_version`) when you change the formula."
            )

    @property
    def bases(self):
        """The basis functions ``g_k``, in kernel order."""
        return tuple(self._matmul_bases + self._parametric_bases)

    @property
    def matmul_bases(self):
        """The bases whose features go through the kernel, in block order."""
        return tuple(self._matmul_bases)

    @property
    def parametric_bases(self):
        """The bases with trainable inner constants per input and unit
        (``parameterization="constants"``), each with its own kernel."""
        return tuple(self._parametric_bases)

    def kernel_value(self, dtype="float32"):
        """The kernel the layer computes with, as a tensor of ``dtype``
        (LoRA's update merged, an int8 kernel dequantized)."""
        return self._kernel_value(dtype)

    def _kernel_value(self, dtype):
        return ops.cast(self.kernel, dtype)

    @property
    def multipliers(self):
        """The fixed factor ``m_k`` of each basis, in kernel order: a number,
        or (``normalize_bases="spread"`` in a layer holding an input map
        of several columns, its range not ``"running"``) an array with one
        factor per input."""
        return tuple(self._multipliers)

    def input_multipliers(self, size):
        """The factors as a ``(bases, size)`` float64 array: each basis's
        factor for each of ``size`` inputs."""
        return np.stack([np.broadcast_to(np.asarray(m, dtype=np.float64), (size,))
                         for m in self._multipliers])

    def _multiplier(self, basis, per_input=True):
        """The fixed factor ``m_k`` of a basis's features (1 for ``x``);
        without ``per_input``, one number sized on the basis domain (what a
        recurrent cell's state sees)."""
        if basis == LINEAR:
            return 1.0
        scale = (
            self._coefficients[str(basis)] if self.basis_scale == "coefficients"
            else self.basis_scale
        )
        if self.normalize_bases == "spread":
            return self._spread_multiplier(basis, scale, per_input)
        size = 1.0
        if self.normalize_bases:
            grid = np.linspace(*self.basis_bounds(by_column=False), 201)
            values = np.abs(basis.evaluate(grid))
            largest = float(values.max()) if np.all(np.isfinite(values)) else 0.0
            size = largest if largest > 0 else 1.0
        return scale / size

    def _spread_multiplier(self, basis, scale, per_input=True):
        """``scale`` over the basis's standard deviation on values standing
        for what the bases see (``_basis_sample()``): per input where the
        bases see each input on its own domain, else one number. A basis
        constant there (or not finite) keeps ``scale``."""
        values = basis.evaluate(self._basis_sample(per_input))
        with np.errstate(invalid="ignore", over="ignore"):
            spread = values.std(axis=0)
            largest = np.abs(values).max(axis=0)
        usable = np.isfinite(spread) & np.isfinite(largest) & (spread > SPREAD_FLOOR * largest)
        factors = np.where(usable, scale / np.where(usable, spread, 1.0), scale)
        return factors if factors.size > 1 else float(factors[0])

    def _basis_sample(self, per_input=True):
        """``(points, columns)``: values standing for what the bases see. In
        a layer holding the search's map (but ``basis_range="running"``), the map's
        ``column_sample()`` (the
        search's rows); else one column: a normal law centred in
        the basis domain with a quarter of its width as spread, clipped
        there (the ``"running"`` range maps ``mean ± 2 std`` onto the
        domain's ends)."""
        if per_input and self.input_map is not None and self.basis_range != "running":
            return self.input_map.column_sample()
        return domain_sample(*self.basis_bounds(by_column=False))

    # -- weights and computing -------------------------------------------------------

    def _add_bias(self, size):
        """The bias vector (``None`` without ``use_bias``); float32 under
        mixed precision (``autocast=False``), like the kernels."""
        if not self.use_bias:
            return None
        return self.add_weight(
            name="bias", shape=(size,), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            autocast=False,
        )

    def _finish(self, outputs, dtype, bias_shape):
        """Add the bias (reshaped to ``bias_shape``), apply the activation
        and cast to the compute dtype."""
        if self.bias is not None:
            outputs = ops.add(outputs, ops.reshape(ops.cast(self.bias, dtype), bias_shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return ops.cast(outputs, self.compute_dtype)

    def _feature_dtype(self):
        """float32 under mixed precision (powers leave float16's range)."""
        compute = self.compute_dtype
        return "float32" if compute in LOW_PRECISION else compute

    def _matmul_features(self, u, bounded, axis=-1, groups=1, constants=None, state=False):
        """The features ``m_k g_k`` of the kernel's bases, concatenated along
        the channel ``axis``. With ``groups > 1`` the channels are split into
        ``groups`` consecutive groups and the features are laid out group by
        group (``[g_1(group 1), ..., g_K(group 1), g_1(group 2), ...]``), so
        that a grouped operation keeps each basis of a channel in its
        channel's group. ``constants`` (one list of tensors or ``None`` per
        basis) replace the formula's constants inside the bases. ``state``:
        a recurrent cell's state, whose factors are sized on
        the basis domain."""
        constants = constants or [None] * len(self._matmul_bases)
        features = [
            scaled(
                basis.evaluate_keras(u if basis == LINEAR else bounded, values),
                multiplier, axis,
            )
            for basis, multiplier, values in zip(
                self._matmul_bases, self._state_multipliers if state else self._multipliers,
                constants,
            )
        ]
        if len(features) == 1:
            return features[0]
        if groups == 1:
            return ops.concatenate(features, axis=axis)
        axis = axis % len(u.shape)
        per_group = [ops.split(f, groups, axis=axis) for f in features]
        return ops.concatenate(
            [per_group[k][g] for g in range(groups) for k in range(len(features))],
            axis=axis,
        )

    def _initialize_blocks(self, block_shape, axis, dtype=None, initializers=None):
        """The kernel: the ``x`` block from ``kernel_initializer``, the others
        from ``basis_initializer``, each drawn with ``block_shape`` and
        concatenated along ``axis`` in the order of the kernel's bases
        (``initializers``: another ``(x block, other blocks)`` pair)."""
        linear, other = initializers or (self.kernel_initializer, self.basis_initializer)
        blocks, draws = [], {}
        for basis in self._matmul_bases:
            initializer = linear if basis == LINEAR else other
            blocks.append(reseeded(initializer, draws.get(id(initializer), 0))(
                block_shape, dtype=dtype))
            draws[id(initializer)] = draws.get(id(initializer), 0) + 1
        return blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=axis)

    # -- config ----------------------------------------------------------------------

    def _basis_config(self):
        """The formula, its bases and every ``LAYER_OPTIONS`` entry."""
        return {
            "format_version": FORMAT_VERSION,
            "formula": str(self.formula),
            "bases": [str(basis) for basis in self.bases],
            **{name: option.config(getattr(self, name))
               for name, option in LAYER_OPTIONS.items()},
        }

    @classmethod
    def from_config(cls, config):
        """Rebuild the layer from untrusted config data: the formula is read
        by the allow-list parser (never run), options missing from old
        files keep their old meaning, and a file whose stored bases differ
        from the formula's is refused."""
        kind = cls.__name__
        config = dict(config)
        formula = config.get("formula")
        if not isinstance(formula, str):
            # A ValueError: Keras passes it on as it is (a TypeError it wraps
            # in a message that dumps the whole config).
            raise ValueError(
                f"The config of {kind} layer {str(config.get('name'))[:100]!r} must hold its "
                "formula as a string under 'formula'; it holds "
                f"{'none' if formula is None else type(formula).__name__}. It is not loaded."
            )
        # Files saved before these options existed (0.1) keep their meaning.
        for name, old in BEFORE_START_AS_DENSE.items():
            config.setdefault(name, old)
        # 0.2's basis_clip=c: the bases saw the input clipped to [-c, c].
        if "basis_range" not in config:
            clip = config.pop("basis_clip", None)
            if clip is not None and not is_positive_number(clip):
                raise ValueError(
                    f"The config of a {kind} layer holds an invalid basis_clip. "
                    f"Received: basis_clip={clip!r:.100}"
                )
            config["basis_range"] = None if clip is None else "clip"
            config["basis_domain"] = (-1.0, 1.0) if clip is None else (-float(clip), float(clip))
        else:
            config.pop("basis_clip", None)
        stored = config.pop("bases", None)
        check_format_version(kind, config.pop("format_version", None), stored)
        # Expanding here (cached on the formula) lets a refusal surface as
        # the ValueError it is, not wrapped by Keras's constructor call.
        config["formula"] = Formula(formula)
        config["formula"].terms()
        layer = super().from_config(config)
        if stored is not None:
            layer._check_bases(stored)
        return layer
