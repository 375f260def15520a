"""``TaskNeuronDense``: a dense layer whose aggregation is a found formula."""

import keras
from keras import ops

from keras_taskneurons.layers import readout
from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.basis import BasisLayer, check_positive_int, known_size, scaled
from keras_taskneurons.layers.lora import LoraMixin
from keras_taskneurons.layers.options import invalid, passed_on
from keras_taskneurons.layers.quantization import Int8Mixin

PARAMETERIZATIONS = ("terms", "constants", "input_constants")

CHUNK_ELEMENTS = 2048
"""The ``"constants"`` path evaluates its bases on slices of the input axis
of at most ``max(1, CHUNK_ELEMENTS // units)`` inputs, so it never holds more
than about ``batch * CHUNK_ELEMENTS`` values of a basis at once (2048: the
fastest of 256–32768 tried at 256 → 256, batch 1024, on a CPU)."""


def _rematerialized(function):
    """``keras.remat(function)``: the backward pass recomputes the function's
    intermediates instead of keeping them (Keras >= 3.9; before, the function
    itself)."""
    remat = getattr(keras, "remat", None)
    return function if remat is None else remat(function)


def check_parameterization(value):
    """Refuse ``value`` unless it is one of ``PARAMETERIZATIONS``."""
    if not (isinstance(value, str) and value in PARAMETERIZATIONS):
        raise invalid("parameterization", f"one of {PARAMETERIZATIONS}", value)
    return value


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronDense(Int8Mixin, LoraMixin, BasisLayer):
    """Densely connected layer of task-based neurons.

    A linear neuron aggregates its inputs as ``w·x + b``. A task-based neuron
    aggregates them with a formula ``f`` found for the task (for example by
    [VectorizedSymbolicRegressor][keras_taskneurons.VectorizedSymbolicRegressor]). The formula is
    expanded into distinct basis functions,
    ``f(x) = c_0 + sum_k c_k g_k(x)``, and each basis gets its own trainable
    weights.

    With ``parameterization="terms"`` (the paper's), unit ``j`` computes

        ``activation(sum_k m_k g_k(x)ᵀ W_k[:, j] + b_j)``

    where ``g_k`` is applied element-wise to the input vector and ``m_k`` is a
    fixed factor per basis (below). All ``W_k`` are stored as one ``kernel``
    of shape ``(K * input_dim, units)`` (rows ``k * input_dim`` to
    ``(k + 1) * input_dim`` belong to basis ``k``, in the order of
    ``bases``), so the layer is ONE matmul over the concatenated features
    ``[m_1 g_1(x), ..., m_K g_K(x)]``. The formula's own coefficients ``c_k``
    only choose the basis; the constant ``c_0`` is left to the bias. Constants
    inside a basis function (``sin(1.3*x + 0.2)``) stay fixed.

    **Starting as Dense** (the defaults; Fan et al.'s ReLinear for quadratic
    neurons): the layer holds the linear basis ``x`` (added when the formula
    lacks it; ``linear_basis=False`` turns that off), its block starts from
    ``kernel_initializer`` and every other block from ``basis_initializer``
    (zeros), so a new layer computes exactly the ``Dense`` layer with the
    same units and initializer. The other bases are trained gently and on a
    common scale: their features are multiplied by
    ``m_k = basis_scale / max|g_k|`` (the maximum over the basis domain, the
    range the formula is searched on; ``normalize_bases="spread"`` divides
    by ``g_k``'s spread on each input instead, ``False`` not at all). Under Adam a weight
    moves about the learning rate per step
    whatever its gradient, so ``W_k = m_k V_k`` moves ``basis_scale`` times
    as fast as the linear weights, and ``x**8`` next to ``x`` no longer
    dominates the start. ``m_k = 1`` for ``x``.

    **The search's domain**: ``input_map`` (an
    [InputMap][keras_taskneurons.InputMap], as the search's
    ``input_map_``) maps the layer's input ``x`` to ``u``, the values the
    formula was searched on; every basis but ``x`` sees ``u``, so the first
    layer of a network computes the searched bases of the raw features (no
    ``Normalization`` layer needed), and ``x`` sees each input standardized
    with the map's statistics (``u_mean``, ``u_std``; an affine change that
    its weights absorb, and the conditioning ``Dense`` trains best with). Every basis but ``x`` sees
    ``u`` brought into the basis domain (the range of ``u`` the search saw,
    default ``[-1, 1]``) as ``basis_range`` says: ``"clip"`` clips ``u`` to
    it (exact inside it; beyond it ``x**5`` stays at its boundary value, so
    an outlying row cannot blow the network up); ``"running"`` maps each
    input by running statistics of what the layer sees in training (its
    ``mean ± 2 std`` onto the domain's ends, then clips), so a hidden layer
    fed by ReLU activations evaluates its bases where the formula means
    something; ``None`` uses ``u`` as it is. ``"auto"`` (the default) is
    ``"clip"`` with an input map and ``"running"`` without one. In a layer
    holding the map with ``"clip"``, ``x`` too sees ``z`` clipped to the
    search's domain (in ``z``'s units; the search's rows pass unchanged), so
    the network is bounded on rows far outside the range the search saw; elsewhere
    ``x`` is never clipped, so a hidden layer extrapolates like ``Dense``.

    With ``parameterization="constants"`` (the paper's Fig. 1, general form),
    every constant inside a basis function also becomes a trainable
    ``(input_dim, units)`` tensor, so unit ``j`` computes
    ``sum_k sum_i W_k[i, j] g_k(x_i; θ_k[i, j]) + b_j``. The ``θ`` start at the
    formula's values for every unit; the symmetry between units is broken by
    the downstream weights' gradients (the outer weights ``W_k`` start from
    ``basis_initializer``). Basis functions without inner constants still go
    through the single matmul. This costs ``batch * input_dim * units`` basis
    evaluations per parametrised basis function, against
    ``batch * K * input_dim`` for ``"terms"``; the layer evaluates them on
    slices of the input axis (``CHUNK_ELEMENTS``): in training ONE
    ``ops.scan`` over the slices, each recomputed in the backward pass with
    Keras >= 3.9 (``keras.remat``), so its memory stays about
    ``batch * CHUNK_ELEMENTS`` values per slice instead of
    ``batch * input_dim * units``; in inference the same slices unrolled (an
    exported graph without a loop, as TFLite needs).

    With ``parameterization="input_constants"`` the constants inside basis
    ``k`` are one trainable vector over the inputs, ``θ_k[i]``, shared by all
    units: ``g_k(x_i; θ_k[i])`` is a feature like any other, so the layer is
    again ONE matmul and costs about as much as ``"terms"`` (plus one
    vector of ``input_dim`` values per constant, in ``input_constants``).

    Under the ``mixed_float16`` and ``mixed_bfloat16`` policies the layer
    computes in float32 (the basis features, the matmul, the bias and the
    activation; the kernels are float32 variables, not autocast), and only
    its output is cast to the compute dtype: powers such as ``x**9`` leave
    float16's range (65504) already at ``|x| = 4``, so casting the features
    before the matmul would turn them into infinities.

    The config stores the formula's canonical string and, under ``"bases"``,
    the basis functions in kernel order. Loading derives the bases from the
    formula again and refuses a file whose stored bases differ, so weights
    never land in the wrong basis block (for example after a change in how
    sympy orders terms). The config's ``"format_version"`` says that this
    package wrote it: such a config without ``"bases"`` is refused; older
    configs (no version, no bases) still load.

    Args:
        parameterization (str): ``"terms"``, ``"constants"`` or
            ``"input_constants"``, see above.

    Input shape:
        N-D tensor with shape ``(batch_size, ..., input_dim)``, ``N >= 2``.

    Output shape:
        N-D tensor with shape ``(batch_size, ..., units)``.

    >>> import numpy as np
    >>> import keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronDense(
    ...     4, "0.3*x**2 - 0.7*x + 0.1", activation="relu")
    >>> tuple(layer(np.ones((2, 3), "float32")).shape)
    (2, 4)
    >>> tuple(layer.kernel.shape)  # two basis terms (x, x**2) times 3 inputs
    (6, 4)
    >>> [str(b) for b in layer.bases], layer.multipliers
    (['x', 'x**2'], (1.0, 0.1))
    """

    def __init__(
        self,
        units,
        formula,
        activation=None,
        use_bias=True,
        parameterization="terms",
        linear_basis=True,
        basis_scale=0.1,
        normalize_bases=True,
        input_map=None,
        basis_range="auto",
        basis_domain=None,
        kernel_initializer="glorot_uniform",
        basis_initializer="zeros",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        interaction_rank=0,
        lora_rank=None,
        lora_alpha=None,
        bases=None,
        **kwargs,
    ):
        units = check_positive_int("units", units)
        check_parameterization(parameterization)
        super().__init__(formula, bases=bases, parametric=parameterization == "constants",
                         **passed_on(locals()), **kwargs)
        self.units = units
        self.parameterization = parameterization
        self.activation = keras.activations.get(activation)
        self._init_lora(lora_rank, lora_alpha)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self.supports_masking = True

    def _initialize_kernel(self, shape, dtype=None):
        """One block per basis, each drawn with the block's own shape."""
        return self._initialize_blocks((self.input_dim, self.units), axis=0, dtype=dtype)

    def build(self, input_shape):
        self.input_dim = input_dim = known_size(self, input_shape)
        # Under mixed precision the variables stay float32 inside `call`
        # (autocast=False): the layer computes in float32, see the docstring.
        kernel_args = dict(regularizer=self.kernel_regularizer,
                           constraint=self.kernel_constraint, autocast=False)
        self.kernel = None
        if self._matmul_bases:
            self.kernel = self._add_kernel(
                (len(self._matmul_bases) * input_dim, self.units),
                self._initialize_kernel,
                **kernel_args,
            )
        # "input_constants": the constants inside basis k are one trainable
        # vector over the inputs, shared by all units.
        self.input_constants = [
            self._add_constants(f"basis{index}", basis, (input_dim,))
            if self.parameterization == "input_constants" and basis.constants else None
            for index, basis in enumerate(self._matmul_bases)
        ]
        # "constants": each term's kernel, then its constants per input and unit.
        self.term_kernels, self.term_constants = [], []
        for index, basis in enumerate(self._parametric_bases):
            self.term_kernels.append(self.add_weight(
                name=f"term{index}_kernel", shape=(input_dim, self.units),
                initializer=self.basis_initializer, **kernel_args))
            self.term_constants.append(
                self._add_constants(f"term{index}", basis, (input_dim, self.units)))
        self._constants_chunk = _rematerialized(self._constants_term)
        self._build_range(input_dim)
        self._build_interaction((input_dim, self.units), kernel_axis=1, output_axis=-1)
        self.bias = self._add_bias(self.units)
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        self._build_lora()
        self._build_float8()

    def _add_constants(self, prefix, basis, shape):
        """One weight of ``shape`` per constant inside ``basis``, starting at
        its value; float32 under mixed precision (they sit inside functions,
        where float16 rounding would move the formula)."""
        return [
            self.add_weight(name=f"{prefix}_constant{position}", shape=shape,
                            initializer=keras.initializers.Constant(value), autocast=False)
            for position, value in enumerate(basis.constants)
        ]

    def call(self, inputs, training=None):
        dtype = self._feature_dtype()
        u, bounded = self._inputs(ops.cast(inputs, dtype), training=training)
        outputs = None
        if self._matmul_bases:
            constants = [
                None if values is None else [ops.cast(c, dtype) for c in values]
                for values in self.input_constants
            ]
            features = self._matmul_features(u, bounded, constants=constants)
            if self._is_int8:
                outputs = self._int8_matmul(features, dtype)
            elif self._is_float8:
                outputs = self._float8_product(features, self._kernel_value(dtype), ops.matmul,
                                               training, dtype)
            else:
                outputs = ops.matmul(features, self._kernel_value(dtype))
        if self._parametric_bases:
            term = self._constants_sum(bounded, dtype, training)
            outputs = term if outputs is None else ops.add(outputs, term)
        interaction = self._interaction(u, bounded, ops.matmul, dtype)
        if interaction is not None:
            outputs = ops.add(outputs, interaction)
        return self._finish(outputs, dtype, (self.units,))

    def _int8_call(self, inputs, training=None):
        """The call of a layer quantized to int8 (``quantize("int8")``)."""
        return self.call(inputs, training=training)

    def _kernel_blocks(self):
        return len(self._matmul_bases), 0, (0,)

    def _constants_sum(self, x, dtype, training):
        """The parametric bases' terms, summed over the inputs in slices of
        ``step`` inputs. Training: ONE ``ops.scan`` over the slices (a loop,
        not an unrolled graph), each slice rematerialized in the backward
        pass, so at most ``batch * step * units`` values of a basis exist at
        once. Inference (and so export: TFLite does not lower the scan's
        loop): the same slices in the same order, unrolled."""
        step = max(1, min(self.input_dim, CHUNK_ELEMENTS // self.units))
        count = -(-self.input_dim // step)
        weights = [
            ops.cast(w, dtype)
            for kernel, constants in zip(self.term_kernels, self.term_constants)
            for w in (kernel, *constants)
        ]
        if not training or count == 1:
            total = ops.zeros(tuple(ops.shape(x)[:-1]) + (self.units,), dtype=dtype)
            for start in range(0, self.input_dim, step):
                stop = min(start + step, self.input_dim)
                term = self._constants_chunk(
                    x[..., start:stop], *[w[start:stop] for w in weights])
                total = ops.add(total, term)
            return total
        padding = count * step - self.input_dim  # zero inputs with zero weights
        if padding:
            x = ops.pad(x, [(0, 0)] * (len(x.shape) - 1) + [(0, padding)])
            weights = [ops.pad(w, [(0, padding), (0, 0)]) for w in weights]
        # (..., count * step) -> (count, ..., step); (count * step, units) -> (count, step, units)
        slices = ops.moveaxis(
            ops.reshape(x, tuple(ops.shape(x)[:-1]) + (count, step)), -2, 0
        )
        weights = [ops.reshape(w, (count, step, self.units)) for w in weights]

        def add_slice(total, inputs):
            return ops.add(total, self._constants_chunk(*inputs)), None

        start = ops.zeros(tuple(ops.shape(x)[:-1]) + (self.units,), dtype=dtype)
        total, _ = ops.scan(add_slice, start, [slices, *weights])
        return total

    def _constants_term(self, x, *weights):
        """``sum_k sum_i W_k[i, :] m_k g_k(x_i; θ_k[i, :])`` over a slice of
        the inputs; ``weights`` holds each basis's kernel then constants."""
        expanded = ops.expand_dims(x, -1)
        multipliers = self._multipliers[len(self._matmul_bases):]
        total, position = None, 0
        for basis, multiplier in zip(self._parametric_bases, multipliers):
            kernel = weights[position]
            constants = weights[position + 1:position + 1 + len(basis.constants)]
            position += 1 + len(basis.constants)
            values = scaled(basis.evaluate_keras(expanded, constants), multiplier, axis=-2)
            term = ops.sum(ops.multiply(values, kernel), axis=-2)
            total = term if total is None else ops.add(total, term)
        return total

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def count_formula_parameters(self):
        """Trainable parameters per unit and input: ``K`` (terms) or more."""
        return len(self._matmul_bases) + sum(
            1 + len(b.constants) for b in self._parametric_bases
        )

    def learned_functions(self):
        """What each trained unit applies to each input: ``[unit][input]``
        [Formula][keras_taskneurons.Formula] objects of the value the layer
        receives there (``Σ_k W_k[i, j] m_k g_k`` with the input map, the
        running statistics and trained constants folded in; ``None`` where
        every weight is zero). Unit ``j``'s output before its activation is
        ``Σ_i f[j][i](x_i)`` plus its bias (and any interaction term),
        exactly where the bases' values lie inside the basis domain (the
        layer clips beyond it).

        Examples:
            >>> import numpy as np
            >>> layer = TaskNeuronDense(2, formula="x**2", kernel_initializer="ones",
            ...                         basis_initializer="ones", basis_range="clip")
            >>> _ = layer(np.zeros((1, 3)))
            >>> layer.learned_functions()[0][1]  # m = 0.1 for x**2 (basis_scale)
            Formula('x + 0.1*x**2')
        """
        return readout.learned_functions(self)

    def average_functions(self):
        """Per input, the function the units apply to it on average
        (``mean_j learned_functions()[j][i]``, one [Formula][keras_taskneurons.Formula]
        of the value the layer receives; ``None`` where it is zero). Not
        defined for ``parameterization="constants"`` (a ``ValueError``)."""
        return readout.average_functions(self)

    def basis_contributions(self, x):
        """``{part: share}``: how much of the layer's output variation on
        ``x`` (what the layer receives, ``(n, input_dim)``) each basis (and
        each interaction rank, ``"interaction rank k"``) carries, summing to
        1 (what [prune][keras_taskneurons.prune] removes first)."""
        return readout.output_shares(self, x)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                **self._basis_config(),
                "activation": keras.activations.serialize(self.activation),
                "parameterization": self.parameterization,
                **self._lora_config(),
            }
        )
        return config

    def __repr__(self):
        return (
            f"<TaskNeuronDense name={self.name}, units={self.units}, "
            f"formula='{self.formula}', "
            f"parameterization='{self.parameterization}'>"
        )
