"""The basis machinery every task-neuron layer shares.

A formula ``f`` is expanded into distinct basis functions ``g_k``; a layer
applies ``g_k`` element-wise to its input, multiplies each by a fixed factor
``m_k`` and feeds the concatenated features ``[m_1 g_1(x), ..., m_K g_K(x)]``
to ONE linear operation (a matmul for ``TaskNeuronDense``, a convolution for
``TaskNeuronConvND``) whose kernel holds one block per basis. This module
holds what does not depend on that operation: the options (``linear_basis``,
``basis_scale``, ``normalize_bases``, ``basis_clip``) and their validation,
the bases and factors, the features, the block-wise kernel initialization,
the float32 computation under mixed precision, and the config with its safe
loading (the stored ``"bases"`` pin the kernel order).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_taskneurons.formula import Formula, as_formula

LINEAR = Formula("x")

LOW_PRECISION = ("float16", "bfloat16")

NORMALIZATION_GRID = np.linspace(-1.0, 1.0, 201)

DEFAULT_BASIS_CLIP = 1.0
"""Default ``basis_clip``: the bases but ``x`` see inputs in [-1, 1],
the range formulas are searched on (features scaled to [-1, 1])."""

BEFORE_START_AS_DENSE = {
    "linear_basis": False, "basis_scale": 1.0, "normalize_bases": False,
    "basis_clip": None,
}
"""What a config without these keys (saved by 0.1) meant."""


def scaled(features, multiplier):
    return features if multiplier == 1.0 else ops.multiply(features, multiplier)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(
            f"Received an invalid value for `{name}`, expected a bool. "
            f"Received: {name}={value!r}"
        )


def _is_positive_number(value):
    return (
        not isinstance(value, bool) and isinstance(value, (int, float))
        and math.isfinite(value) and value > 0
    )


class BasisLayer(keras.layers.Layer):
    """Base class of the task-neuron layers: formula, bases, factors,
    features, kernel blocks and config. Not a layer to use by itself."""

    def _set_bases(self, formula, *, use_bias, linear_basis, basis_scale,
                   normalize_bases, basis_clip, kernel_initializer,
                   basis_initializer, bias_initializer, kernel_regularizer,
                   bias_regularizer, kernel_constraint, bias_constraint,
                   parametric=False):
        """Validate and store the basis and weight options; derive the bases.

        With ``parametric``, bases with constants inside go to
        ``self._parametric_bases`` (the dense layer's ``"constants"``
        parameterization); the others are the kernel's blocks,
        ``self._matmul_bases``.
        """
        for name, value in (("use_bias", use_bias), ("linear_basis", linear_basis),
                            ("normalize_bases", normalize_bases)):
            _check_bool(name, value)
        if basis_scale != "coefficients" and not _is_positive_number(basis_scale):
            raise ValueError(
                "Received an invalid value for `basis_scale`, expected a "
                "positive number or 'coefficients'. Received: "
                f"basis_scale={basis_scale!r}"
            )
        if basis_clip is not None and not _is_positive_number(basis_clip):
            raise ValueError(
                "Received an invalid value for `basis_clip`, expected a "
                f"positive number or None. Received: basis_clip={basis_clip!r}"
            )
        self.formula = as_formula(formula)
        self.use_bias = use_bias
        self.linear_basis = linear_basis
        self.basis_scale = (
            basis_scale if basis_scale == "coefficients" else float(basis_scale)
        )
        self.normalize_bases = normalize_bases
        self.basis_clip = None if basis_clip is None else float(basis_clip)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.basis_initializer = keras.initializers.get(basis_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

        constant, terms = self.formula.terms()
        self.formula_constant = constant
        bases = [basis for _, basis in terms]
        largest = max(abs(c) for c, _ in terms)
        self._coefficients = {str(b): abs(c) / largest for c, b in terms}
        if linear_basis and LINEAR not in bases:
            bases.insert(0, LINEAR)
        if parametric:
            self._matmul_bases = [b for b in bases if not b.constants]
            self._parametric_bases = [b for b in bases if b.constants]
        else:
            self._matmul_bases = bases
            self._parametric_bases = []
        self._multipliers = [self._multiplier(b) for b in self.bases]

    @property
    def bases(self):
        """The basis functions ``g_k``, in kernel order."""
        return tuple(self._matmul_bases + self._parametric_bases)

    @property
    def multipliers(self):
        """The fixed factor ``m_k`` of each basis, in kernel order."""
        return tuple(self._multipliers)

    def _multiplier(self, basis):
        """The fixed factor ``m_k`` of a basis's features (1 for ``x``)."""
        if basis == LINEAR:
            return 1.0
        scale = (
            self._coefficients[str(basis)] if self.basis_scale == "coefficients"
            else self.basis_scale
        )
        size = 1.0
        if self.normalize_bases:
            values = np.abs(basis.evaluate(NORMALIZATION_GRID))
            largest = float(values.max()) if np.all(np.isfinite(values)) else 0.0
            size = largest if largest > 0 else 1.0
        return scale / size

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

    def _bounded(self, x):
        """``x`` clipped to ``[-basis_clip, basis_clip]`` (or ``x``)."""
        if self.basis_clip is None:
            return x
        return ops.clip(x, -self.basis_clip, self.basis_clip)

    def _matmul_features(self, x, axis=-1, groups=1, constants=None):
        """The features ``m_k g_k`` of the kernel's bases, concatenated along
        the channel ``axis``. With ``groups > 1`` the channels are split into
        ``groups`` consecutive groups and the features are laid out group by
        group (``[g_1(group 1), ..., g_K(group 1), g_1(group 2), ...]``), so
        that a grouped operation keeps each basis of a channel in its
        channel's group. ``constants`` (one list of tensors or ``None`` per
        basis) replace the formula's constants inside the bases."""
        bounded = self._bounded(x)
        constants = constants or [None] * len(self._matmul_bases)
        features = [
            scaled(
                basis.evaluate_keras(x if basis == LINEAR else bounded, values),
                multiplier,
            )
            for basis, multiplier, values in zip(
                self._matmul_bases, self._multipliers, constants
            )
        ]
        if len(features) == 1:
            return features[0]
        if groups == 1:
            return ops.concatenate(features, axis=axis)
        axis = axis % len(x.shape)
        per_group = [ops.split(f, groups, axis=axis) for f in features]
        return ops.concatenate(
            [per_group[k][g] for g in range(groups) for k in range(len(features))],
            axis=axis,
        )

    def _initialize_blocks(self, block_shape, axis, dtype=None):
        """The kernel: the ``x`` block from ``kernel_initializer``, the others
        from ``basis_initializer``, each drawn with ``block_shape`` and
        concatenated along ``axis`` in the order of the kernel's bases."""
        blocks = [
            (self.kernel_initializer if basis == LINEAR else self.basis_initializer)(
                block_shape, dtype=dtype
            )
            for basis in self._matmul_bases
        ]
        return blocks[0] if len(blocks) == 1 else ops.concatenate(blocks, axis=axis)

    # -- config ----------------------------------------------------------------------

    def _basis_config(self):
        return {
            "formula": str(self.formula),
            "bases": [str(basis) for basis in self.bases],
            "use_bias": self.use_bias,
            "linear_basis": self.linear_basis,
            "basis_scale": self.basis_scale,
            "normalize_bases": self.normalize_bases,
            "basis_clip": self.basis_clip,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "basis_initializer": keras.initializers.serialize(self.basis_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
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
            raise TypeError(
                f"The config of a {kind} layer must hold its formula "
                "as a string under 'formula'. Received: "
                f"formula={type(formula).__name__}"
            )
        # Files saved before these options existed (0.1) keep their meaning.
        for name, old in BEFORE_START_AS_DENSE.items():
            config.setdefault(name, old)
        stored = config.pop("bases", None)
        if stored is not None and (
            not isinstance(stored, (list, tuple))
            or not all(isinstance(b, str) for b in stored)
        ):
            raise TypeError(
                f"The config of a {kind} layer must hold its bases as "
                f"a list of strings under 'bases'. Received: bases={stored!r:.200}"
            )
        # Expanding here (cached on the formula) lets a refusal surface as
        # the ValueError it is, not wrapped by Keras's constructor call.
        config["formula"] = Formula(formula)
        config["formula"].terms()
        layer = super().from_config(config)
        derived = [str(basis) for basis in layer.bases]
        if stored is not None and list(stored) != derived:
            raise ValueError(
                f"The saved bases of {kind} layer {layer.name!r} do "
                f"not match its formula {str(layer.formula)!r}: the file says "
                f"{list(stored)!r:.300}, the formula expands into {derived!r}. "
                "Its weights would land in the wrong basis blocks, so the "
                "layer is not loaded."
            )
        return layer
