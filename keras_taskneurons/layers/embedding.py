"""``TaskNeuronEmbedding``: every input in ``copies`` copies, each through the
formula's bases at trainable inner constants, then a linear map per input.

For input ``i`` and copy ``j`` the layer evaluates the formula's bases
``g_k`` at ``a_ij·u_i + b_ij`` (``u``: the input, mapped by ``input_map``
when the layer holds the search's map), maps each input's ``copies · K``
values linearly to ``dim`` numbers (one map per input, or one shared map
with ``lite=True``), applies ``activation`` and flattens the inputs' ``dim``
values into ``(batch, inputs · dim)``. It is the paper's Fig. 1 (every
inner constant trainable) with several copies, and the structure of the
numerical embeddings of Gorishniy et al. (2022): ``formula="periodic"`` is
MLP-PLR's embedding, ``"rbf"`` FastKAN's Gaussian bases, ``"hinge"`` a
piecewise-linear map, ``"polynomial"`` a cubic per copy.

Initialization (``placement``): ``"frequencies"`` draws ``a_ij`` from
``N(0, (2π·sigma)²)`` with ``b = 0`` (PLR's ``cos(2π c x)``,
``sin(2π c x)`` with ``c ~ N(0, sigma²)``); ``"centres"`` spreads the copies'
centres ``c_ij`` evenly over the input's domain (each column's own with an
input map), ``a_ij = sigma · copies / width`` and ``b_ij = -a_ij·c_ij`` (RBF
and hinge knots, as PLE's bins cover the domain); ``"shifts"`` keeps the
formula's own scale, ``a_ij = sigma`` and ``b_ij = -sigma·c_ij`` at the same
centres (a searched ``sin(3*x)`` stays that frequency in every copy, at
phases spread over a period or more). A formula that is not a preset uses
``"shifts"``.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_taskneurons.formula import as_formula
from keras_taskneurons.input_map import _domain_pair
from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.basis import check_positive_int, known_size
from keras_taskneurons.layers.options import LAYER_OPTIONS, check_bool, invalid
from keras_taskneurons.layers.ranges import InputRangeMixin

PRESETS = {
    "periodic": ("cos(x) + sin(x)", "frequencies"),
    "rbf": ("exp(-x**2)", "centres"),
    "hinge": ("abs(x)", "centres"),
    "polynomial": ("x**3 + x**2 + x", "shifts"),
}
"""``{name: (formula, placement)}``: the fixed families, each a formula with copies."""

PLACEMENTS = ("frequencies", "centres", "shifts")

DEFAULT_DOMAIN = (-2.0, 2.0)
"""The domain the copies' centres cover without an input map: standardized
inputs lie mostly inside it."""


def initial_constants(placement, sigma, low, high, copies, seed):
    """The inner constants ``(a, b)`` an embedding starts from, each of shape
    ``(inputs, copies)`` for the per-input domains ``low``, ``high`` (module
    docstring): the layer's initializer and the shape search's draw."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    if placement == "frequencies":
        scale = 2 * math.pi * sigma * np.random.default_rng(seed).standard_normal(
            (len(low), copies))
        return scale, np.zeros_like(scale)
    step = (high - low)[:, None] / copies
    centres = low[:, None] + step * (np.arange(copies) + 0.5)
    scale = np.broadcast_to(sigma / step if placement == "centres" else sigma, centres.shape)
    return scale, -scale * centres


def formula_bases(formula):
    """The formula's bases (its terms without their coefficients and constant):
    what every copy evaluates."""
    return tuple(basis for _, basis in formula.terms()[1])


def embedding_features(bases, u, scale, shift):
    """``(rows, inputs, copies · K)``: the layer's ``features()`` in numpy
    (float64), for ``u`` already mapped and clipped."""
    z = np.asarray(u, float)[:, :, None] * scale + shift
    return np.concatenate([basis.evaluate(z) for basis in bases], axis=-1)


def _options(formula, placement):
    """``(formula, placement, preset name or None)`` for a preset name or a formula."""
    if isinstance(formula, str) and formula in PRESETS:
        text, default = PRESETS[formula]
        return as_formula(text), placement or default, formula
    return as_formula(formula), placement or "shifts", None


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronEmbedding(InputRangeMixin, keras.layers.Layer):
    """Each input in ``copies`` copies through the formula's bases at trainable
    inner constants, a linear map per input to ``dim`` values, flattened
    (module docstring). Place it where the raw features come in; the layers
    after it are ordinary ``Dense`` layers.

    Args:
        dim (int): Positive integer, the values per input (the output has
            ``inputs · dim``).
        formula (Formula or str): A preset (``"periodic"``, ``"rbf"``,
            ``"hinge"``, ``"polynomial"``), a formula string in ``x`` or a
            [Formula][keras_taskneurons.Formula]: its bases are evaluated at
            every copy's ``a·u + b``.
        copies (int): Positive integer ``k``, the copies per input.
        activation (str, callable or None): Applied to each input's ``dim``
            values (PLR: ``"relu"``); ``None``: the identity.
        lite (bool): One linear map shared by every input instead of one each.
        sigma (float): Positive: the spread of the inner scales
            (``"frequencies"``: the frequencies' standard deviation, PLR's
            ``σ``; ``"centres"``: the width of each copy relative to the
            spacing of the centres, inverted; ``"shifts"``: the scale
            applied to the formula's own).
        placement (str or None): ``"frequencies"``, ``"centres"`` or
            ``"shifts"`` (module docstring); ``None``: the preset's,
            ``"shifts"`` for a formula.
        domain (tuple of 2 floats or None): The range of ``u`` the centres
            cover; ``None``: each column's domain of the input map, else
            ``(-2, 2)``.
        input_map (InputMap, dict or None): The search's ``input_map_``: the
            layer maps the raw features to the values the formula was
            searched on, clipped to each column's domain.
        use_bias (bool): Whether the linear maps have a bias.
        kernel_initializer (str or Initializer): Initializer of the linear maps.
        seed (int or None): Seed of the inner constants' draw.

    Input shape:
        ``(batch, inputs)``.

    Output shape:
        ``(batch, inputs · dim)``.

    >>> import numpy as np, keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronEmbedding(8, "periodic", copies=16, seed=0)
    >>> tuple(layer(np.zeros((2, 3), "float32")).shape)
    (2, 24)
    >>> tuple(layer.inner_scale.shape), tuple(layer.kernel.shape)  # 16 copies · 2 bases
    ((3, 16), (3, 32, 8))
    """

    def __init__(self, dim, formula="periodic", copies=16, activation="relu", lite=False,
                 sigma=1.0, placement=None, domain=None, input_map=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if placement is not None and placement not in PLACEMENTS:
            raise invalid("placement", f"one of {PLACEMENTS} or None", placement)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.floating)) or not (
                math.isfinite(sigma) and sigma > 0):
            raise invalid("sigma", "a positive number", sigma)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise invalid("seed", "an integer or None", seed, TypeError)
        self.dim = check_positive_int("dim", dim)
        self.copies = check_positive_int("copies", copies)
        self.formula, self.placement, self.preset = _options(formula, placement)
        self.lite = check_bool("lite", lite)
        self.use_bias = check_bool("use_bias", use_bias)
        self.sigma = float(sigma)
        self.seed = None if seed is None else int(seed)
        self.input_map = LAYER_OPTIONS["input_map"].check(input_map)
        self._domain_given = domain
        if domain is None:
            domain = DEFAULT_DOMAIN if self.input_map is None else self.input_map.domain
        try:
            self.domain = _domain_pair(domain)
        except ValueError:
            raise invalid("domain", "a (low, high) pair of finite numbers, low < high",
                          domain) from None
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = LAYER_OPTIONS["kernel_initializer"].check(kernel_initializer)
        self.bias_initializer = LAYER_OPTIONS["bias_initializer"].check(bias_initializer)
        self.bases = formula_bases(self.formula)
        self.input_spec = keras.layers.InputSpec(ndim=2)

    # -- weights -----------------------------------------------------------------------
    def column_domains(self, inputs):
        """``(low, high)``, arrays of ``inputs``: the range of ``u`` each input's
        centres cover (``domain``, or each column's domain of the input map)."""
        if self.input_map is not None and self._domain_given is None:
            if self.input_map.n_features != inputs:
                raise ValueError(
                    f"The input map of {self.name} is for {self.input_map.n_features} "
                    f"features, but the layer received {inputs}.")
            return tuple(np.asarray(v, float) for v in self.input_map.column_domains())
        return np.full(inputs, self.domain[0]), np.full(inputs, self.domain[1])

    def inner_constants(self, inputs):
        """The initial ``(a, b)``, each of shape ``(inputs, copies)`` (numpy)."""
        return initial_constants(self.placement, self.sigma, *self.column_domains(inputs),
                                 self.copies, self.seed)

    def build(self, input_shape):
        self.n_inputs = int(known_size(self, input_shape))
        scale, shift = self.inner_constants(self.n_inputs)
        self.inner_scale = self.add_weight(
            name="inner_scale", shape=scale.shape, autocast=False,
            initializer=keras.initializers.Constant(scale.astype("float32")))
        self.inner_shift = self.add_weight(
            name="inner_shift", shape=shift.shape, autocast=False,
            initializer=keras.initializers.Constant(shift.astype("float32")))
        features = self.copies * len(self.bases)
        shape = (features, self.dim) if self.lite else (self.n_inputs, features, self.dim)
        self.kernel = self.add_weight(name="kernel", shape=shape, autocast=False,
                                      initializer=self._initialize_kernel)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.dim,) if self.lite else (self.n_inputs, self.dim),
                initializer=self.bias_initializer, autocast=False)

    def _initialize_kernel(self, shape, dtype=None):
        """Each input's map drawn as a ``(copies · K, dim)`` matrix."""
        if self.lite:
            return self.kernel_initializer(shape, dtype=dtype)
        return ops.stack([self.kernel_initializer(shape[1:], dtype=dtype)
                          for _ in range(shape[0])])

    # -- computation -------------------------------------------------------------------
    def mapped(self, x):
        """``u``: the inputs on the search's map, each clipped to its
        column's domain (the inputs themselves without a map), float32."""
        x = ops.cast(x, "float32")
        _, u = self._map_input(x)
        if self.input_map is not None:  # the search's columns, each clipped to its domain
            low, high = (ops.convert_to_tensor(np.asarray(v, "float32"))
                         for v in self.input_map.column_domains())
            u = ops.minimum(ops.maximum(u, low), high)
        return u

    def features(self, x):
        """``(batch, inputs, copies · K)``: every basis at every copy's
        ``a·u + b`` (bases outer, copies inner), in float32."""
        return self._features_of(self.mapped(x))

    def _features_of(self, u):
        z = ops.add(ops.multiply(ops.expand_dims(u, -1), self.inner_scale), self.inner_shift)
        values = [ops.broadcast_to(basis.evaluate_keras(z), ops.shape(z)) for basis in self.bases]
        return values[0] if len(values) == 1 else ops.concatenate(values, axis=-1)

    def _embed(self, features):
        """``(batch, inputs, dim)``: each input's map and the activation."""
        if self.lite:
            out = ops.matmul(features, self.kernel)
        else:
            out = ops.einsum("bfk,fkd->bfd", features, self.kernel)
        if self.bias is not None:
            out = ops.add(out, self.bias)
        return out if self.activation is None else self.activation(out)

    def call(self, inputs):
        out = self._embed(self.features(inputs))
        out = ops.reshape(out, (-1, self.n_inputs * self.dim))
        return ops.cast(out, self.compute_dtype)

    def function_grids(self, points=200):
        """``(grids, values)``: per input, ``points`` values of ``u`` over its
        column's domain (``(inputs, points)``) and the ``dim`` values the
        layer gives each (``(inputs, points, dim)``, after the activation):
        the function each input is embedded by, read from the layer's own
        computation (numpy)."""
        if not self.built:
            raise ValueError(f"{self.name} is not built yet: call it on data first.")
        low, high = (self.column_domains(self.n_inputs) if self.input_map is None
                     else self.input_map.column_domains())  # where u is clipped to
        grids = np.linspace(low, high, int(points), axis=1)
        values = self._embed(self._features_of(ops.convert_to_tensor(grids.T.astype("float32"))))
        return grids, np.transpose(ops.convert_to_numpy(values), (1, 0, 2)).astype(np.float64)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[-1] is None else input_shape[-1] * self.dim)

    def get_config(self):
        config = super().get_config()
        config.update({
            "dim": self.dim,
            "formula": self.preset or str(self.formula),
            "copies": self.copies,
            "activation": keras.activations.serialize(self.activation),
            "lite": self.lite,
            "sigma": self.sigma,
            "placement": self.placement,
            "domain": None if self._domain_given is None else list(self.domain),
            "input_map": LAYER_OPTIONS["input_map"].config(self.input_map),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild from untrusted config data: the formula is a preset name or
        read by the allow-list parser (never run)."""
        config = dict(config)
        if not isinstance(config.get("formula"), str):
            raise ValueError(
                f"The config of a {cls.__name__} layer must hold its formula as a string "
                f"under 'formula'. Received: formula={type(config.get('formula')).__name__}")
        return cls(**config)

    def __repr__(self):
        return (f"<{type(self).__name__} name={self.name}, dim={self.dim}, copies={self.copies}, "
                f"formula='{self.preset or self.formula}'>")
