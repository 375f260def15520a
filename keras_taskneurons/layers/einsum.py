"""``TaskNeuronEinsumDense``: Keras's ``EinsumDense`` with a found formula as
its aggregation: the projections of attention and Transformer blocks."""

import re

import keras
import numpy as np
from keras import ops

from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.basis import BasisLayer
from keras_taskneurons.layers.lora import LoraMixin
from keras_taskneurons.layers.options import passed_on
from keras_taskneurons.layers.quantization import Int8Mixin

_EQUATION = re.compile(r"(\.\.\.)?([a-zA-Z]+),([a-zA-Z]+)->(\.\.\.)?([a-zA-Z]+)")


def _check_equation(equation):
    match = _EQUATION.fullmatch(equation.replace(" ", "")) if isinstance(equation, str) else None
    if match is None or bool(match.group(1)) != bool(match.group(4)):
        raise ValueError(
            "Received an invalid value for `equation`, expected '<input>,<kernel>-><output>' "
            "in letters, with '...' leading both the input and the output or neither "
            f"(for example 'abc,cd->abd' or '...b,bc->...c'). Received: equation={equation!r}"
        )
    return match


def _match_shared_axes(equation, input_sizes, output_sizes, input_shape, output_shape):
    """Give each output axis the input's size where it is the input's axis
    and has none; refuse sizes that disagree."""
    for c, size in list(output_sizes.items()):
        if c in input_sizes:
            if size is not None and input_sizes[c] is not None and size != input_sizes[c]:
                raise ValueError(
                    f"Input shape and output shape do not match at shared axis {c!r} of "
                    f"{equation!r}: {input_sizes[c]} against {size}. Received: "
                    f"input_shape={input_shape}, output_shape={output_shape!r}"
                )
            if size is None:
                output_sizes[c] = input_sizes[c]


def _bias_shape(bias_axes, output_spec, output_sizes):
    """The bias's shape: the output's sizes on ``bias_axes`` (letters of the
    output), 1 elsewhere from the first of them on; ``None`` without."""
    if not bias_axes:
        return None
    missing = [c for c in bias_axes if c not in output_spec]
    if missing or not isinstance(bias_axes, str):
        raise ValueError(
            f"Received an invalid value for `bias_axes`, expected letters of the output "
            f"{output_spec!r}. Received: bias_axes={bias_axes!r}"
        )
    first = min(output_spec.find(c) for c in bias_axes)
    return tuple(output_sizes[c] if c in bias_axes else 1 for c in output_spec[first:])


def analyze_equation(equation, bias_axes, input_shape, output_shape):
    """The shapes an einsum layer needs, from its equation.

    Returns ``(kernel_shape, bias_shape, full_output_shape, input_axis,
    kernel_axis)``: ``input_axis`` (negative) and ``kernel_axis`` are the
    first axis the equation contracts between the input and the kernel,
    along which the basis features and the kernel's basis blocks are
    concatenated. Equations are ``"<input>,<kernel>-><output>"`` in
    letters, the input and output optionally led by ``...`` (the elided
    leading axes, as Keras's ``EinsumDense``).
    """
    match = _check_equation(equation)
    elided_left, input_spec, kernel_spec, _, output_spec = match.groups()
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided and not elided_left):
        raise ValueError(
            f"The equation {equation!r} names {len(input_spec)} input axes, but the input "
            f"has {len(input_shape)}. Received: input_shape={input_shape}"
        )
    given = [output_shape] if isinstance(output_shape, (int, np.integer)) else list(output_shape)
    expected = len(output_spec) if elided_left else len(output_spec) - 1
    if len(given) != expected:
        raise ValueError(
            f"`output_shape` must give {expected} sizes for the output axes "
            f"{output_spec!r} of {equation!r} (without the batch axis"
            f"{' and the elided axes' if elided_left else ''}). Received: output_shape={output_shape!r}"
        )
    leading = list(input_shape[:elided]) if elided_left else [input_shape[0]]
    input_sizes = {c: input_shape[elided + i] for i, c in enumerate(input_spec)}
    output_sizes = dict(zip(output_spec[-len(given):] if given else "", given))
    if not elided_left:
        output_sizes[output_spec[0]] = input_shape[0]
    _match_shared_axes(equation, input_sizes, output_sizes, input_shape, output_shape)
    for c in output_spec:
        if c not in input_sizes and c not in kernel_spec:
            raise ValueError(
                f"Output axis {c!r} of {equation!r} is in neither the input nor the kernel.")
    kernel_shape = []
    for c in kernel_spec:
        size = output_sizes.get(c, input_sizes.get(c))
        if c not in output_sizes and c not in input_sizes or size is None:
            raise ValueError(
                f"Kernel axis {c!r} of {equation!r} has no known size: it must be an input "
                "axis of known size or an output axis of given size. Received: "
                f"input_shape={input_shape}, output_shape={output_shape!r}"
            )
        kernel_shape.append(size)
    full_output = (leading if elided_left else []) + [output_sizes[c] for c in output_spec]
    bias_shape = _bias_shape(bias_axes, output_spec, output_sizes)
    contracted = [c for c in kernel_spec if c in input_sizes and c not in output_spec]
    if not contracted:
        raise ValueError(
            f"The equation {equation!r} sums over no axis shared by the input and the kernel: "
            "a task-based einsum layer concatenates its basis features along such an axis."
        )
    axis = contracted[0]
    input_axis = input_spec.index(axis) - len(input_spec)
    return (tuple(kernel_shape), bias_shape, tuple(full_output), input_axis,
            kernel_spec.index(axis))


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronEinsumDense(Int8Mixin, LoraMixin, BasisLayer):
    """Keras's ``EinsumDense`` of task-based neurons.

    The arguments of ``keras.layers.EinsumDense``, with the same meaning and
    defaults, plus ``formula`` (keyword) and the basis options of
    [TaskNeuronDense][keras_taskneurons.TaskNeuronDense]. The formula is expanded
    into bases ``g_k``; the layer computes the features ``m_k g_k(x)`` of the
    input, concatenates them along the first axis the equation sums over
    between the input and the kernel (``c`` in ``"abc,cd->abd"``), and runs
    ONE einsum with a kernel whose blocks along that axis belong to the
    bases, in the order of ``bases``. With formula ``"x"`` it IS
    ``EinsumDense`` (same weights, same outputs); by default it starts as it
    (the ``x`` block from ``kernel_initializer``, the others zeros, trained
    gently). The input map and the running statistics apply along that
    summed axis. ``enable_lora(rank)`` works as ``EinsumDense``'s.

    Args:
        equation (str): ``"<input>,<kernel>-><output>"`` in letters, the input
            and output optionally led by ``...`` (``"abc,cde->abde"``,
            ``"...b,bc->...c"``).
        output_shape (int or tuple): The output's sizes without the batch axis (and
            without the elided axes); ``None`` for an axis shared with the
            input.
        bias_axes (str or None): Output letters that get a bias (``None``: no
            bias).
        interaction_rank (int): Rank of the interaction term, products of two
            projections of the input (this layer's einsum, split along the
            kernel's first output axis) added to every output; 0: none.

    Input shape:
        As the equation's input, e.g. ``(batch, sequence, features)``.

    Output shape:
        As the equation's output.

    >>> import numpy as np, keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronEinsumDense(
    ...     "abc,cde->abde", (None, 2, 8), bias_axes="de", formula="x**2 + x")
    >>> tuple(layer(np.ones((3, 5, 16), "float32")).shape)
    (3, 5, 2, 8)
    >>> tuple(layer.kernel.shape)  # two bases (x, x**2) times 16 features
    (32, 2, 8)
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None,
                 lora_alpha=None, *, formula, linear_basis=True, basis_scale=0.1,
                 normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, **kwargs):
        _check_equation(equation)
        super().__init__(formula, bases=bases, use_bias=bool(bias_axes),
                         **passed_on(locals()), **kwargs)
        self.equation = equation
        self.partial_output_shape = (
            (int(output_shape),) if isinstance(output_shape, (int, np.integer))
            else tuple(int(n) if isinstance(n, np.integer) else n for n in output_shape))
        self.bias_axes = bias_axes
        self.activation = keras.activations.get(activation)
        self._init_lora(lora_rank, lora_alpha)

    def build(self, input_shape):
        kernel_shape, bias_shape, full_output, axis, kernel_axis = analyze_equation(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        self.full_output_shape = full_output
        self._feature_axis = axis
        self._kernel_axis = kernel_axis
        self._block_shape = kernel_shape
        shape = list(kernel_shape)
        shape[kernel_axis] *= len(self._matmul_bases)
        initializers = tuple(
            self._with_axes(i) for i in (self.kernel_initializer, self.basis_initializer))
        self.kernel = self._add_kernel(
            tuple(shape),
            lambda s, dtype=None: self._initialize_blocks(
                self._block_shape, axis=self._kernel_axis, dtype=dtype,
                initializers=initializers),
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            autocast=False,
        )
        self._build_range(input_shape[axis])
        if self.interaction_rank:
            self._build_einsum_interaction(kernel_shape, initializers[0])
        else:
            self._build_interaction(kernel_shape, 0, 0)
        self.bias = None
        if bias_shape is not None:
            self.bias = self.add_weight(
                name="bias", shape=bias_shape, initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                autocast=False,
            )
        self._build_lora()
        self._build_float8()

    def _build_einsum_interaction(self, kernel_shape, initializer):
        """The interaction's blocks along the kernel's first output axis
        (``d`` in ``"abc,cd->abd"``), its offsets along that output axis."""
        match = _check_equation(self.equation)
        kernel_spec, output_spec = match.group(3), match.group(5)
        outputs = [c for c in kernel_spec if c in output_spec]
        if not outputs:
            raise ValueError(
                f"`interaction_rank` needs a kernel axis in the output of {self.equation!r} "
                "(its projections are split along it). Received: "
                f"interaction_rank={self.interaction_rank}"
            )
        self._build_interaction(kernel_shape, kernel_spec.index(outputs[0]),
                                output_spec.index(outputs[0]) - len(output_spec), initializer)

    def _with_axes(self, initializer):
        """A fan-based initializer told which kernel axes are inputs and
        which outputs, as Keras's ``EinsumDense`` tells it (Keras versions
        whose ``VarianceScaling`` has ``input_axes``), so the ``x`` block
        starts as that layer's kernel."""
        if not isinstance(initializer, keras.initializers.VarianceScaling) or getattr(
                initializer, "input_axes", "absent") is not None:
            return initializer
        match = _check_equation(self.equation)
        kernel_spec, output_spec = match.group(3), match.group(5)
        config = initializer.get_config()
        config["seed"] = initializer.seed
        config["input_axes"] = [i for i, c in enumerate(kernel_spec) if c not in output_spec]
        config["output_axes"] = [i for i, c in enumerate(kernel_spec) if c in output_spec]
        return type(initializer).from_config(config)

    def call(self, inputs, training=None):
        dtype = self._feature_dtype()
        z, bounded = self._inputs(ops.cast(inputs, dtype), self._feature_axis, training)
        features = self._matmul_features(z, bounded, axis=self._feature_axis)
        if self._is_float8:
            outputs = self._float8_product(
                features, self._kernel_value(dtype),
                lambda values, kernel: ops.einsum(self.equation, values, kernel), training, dtype)
        else:
            outputs = ops.einsum(self.equation, features, self._kernel_value(dtype))
        interaction = self._interaction(
            z, bounded, lambda values, kernel: ops.einsum(self.equation, values, kernel), dtype,
            self._feature_axis)
        if interaction is not None:
            outputs = ops.add(outputs, interaction)
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return ops.cast(outputs, self.compute_dtype)

    def _int8_call(self, inputs, training=None):
        """The call of a layer quantized to int8 (weight-only: the kernel
        is dequantized, see ``quantization``)."""
        return self.call(inputs, training=training)

    def _kernel_blocks(self):
        match = _check_equation(self.equation)
        kernel_spec, output_spec = match.group(3), match.group(5)
        summed = tuple(i for i, c in enumerate(kernel_spec) if c not in output_spec)
        return len(self._matmul_bases), self._kernel_axis, summed

    def compute_output_shape(self, input_shape):
        return analyze_equation(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)[2]

    def get_config(self):
        config = super().get_config()
        config.update({
            "equation": self.equation,
            "output_shape": self.partial_output_shape,
            "bias_axes": self.bias_axes,
            "activation": keras.activations.serialize(self.activation),
            **self._basis_config(),
            **self._lora_config(),
        })
        del config["use_bias"]
        return config

    def __repr__(self):
        return (f"<TaskNeuronEinsumDense name={self.name}, equation={self.equation!r}, "
                f"formula='{self.formula}'>")
