"""Task-based convolutions: ``TaskNeuronConv1D``, ``TaskNeuronConv2D``,
``TaskNeuronConv3D`` (the transposed ones: ``conv_transpose``).

Each filter applies its kernel to the basis features of the input patch: the
layer computes the features ``[m_1 g_1(x), ..., m_K g_K(x)]`` of every input
channel (``basis``) and runs ONE convolution
over them, the convolutional form of ``TaskNeuronDense``'s fused matmul.
"""

import keras
import numpy as np
from keras import ops

from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.basis import BasisLayer, check_positive_int, known_size
from keras_taskneurons.layers.lora import LoraMixin
from keras_taskneurons.layers.options import invalid

PADDINGS = ("valid", "same", "causal")
DATA_FORMATS = ("channels_last", "channels_first")


def _tuple(name, value, rank, minimum=1):
    """``value`` (an int or ``rank`` ints) as a tuple of ints >= ``minimum``."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    values = (value,) * rank if is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if (
        values is None or len(values) != rank
        or not all(is_int(v) and v >= minimum for v in values)
    ):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(
            f"Received an invalid value for `{name}`, expected {kind} or a "
            f"tuple of {rank} such integers. Received: {name}={value!r}"
        )
    return tuple(int(v) for v in values)


def check_padding(value, allowed=PADDINGS):
    """``value`` in lower case, refused unless it is one of ``allowed``."""
    lowered = value.lower() if isinstance(value, str) else value
    if lowered not in allowed:
        raise invalid("padding", f"one of {allowed}", value)
    return lowered


def check_data_format(value):
    """``value``, Keras's ``image_data_format()`` for ``None``; refused
    unless it is one of ``DATA_FORMATS``."""
    value = keras.config.image_data_format() if value is None else value
    if value not in DATA_FORMATS:
        raise invalid("data_format", f"one of {DATA_FORMATS}", value)
    return value


class TaskNeuronConv(LoraMixin, BasisLayer):
    """N-D convolution of task-based neurons (the base of
    ``TaskNeuronConv1D``, ``TaskNeuronConv2D`` and ``TaskNeuronConv3D``; see
    [TaskNeuronConv2D][keras_taskneurons.TaskNeuronConv2D])."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, groups=1, activation=None, *, formula,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        """``kwargs``: the ``LAYER_OPTIONS`` and Keras's ``Layer`` arguments."""
        filters = check_positive_int("filters", filters)
        groups = check_positive_int("groups", groups)
        if filters % groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of "
                f"groups. Received: groups={groups}, filters={filters}"
            )
        kernel_size = _tuple("kernel_size", kernel_size, rank)
        strides = _tuple("strides", strides, rank)
        dilation_rate = _tuple("dilation_rate", dilation_rate, rank)
        lowered = check_padding(padding, self._paddings(rank))
        data_format = check_data_format(data_format)
        if max(strides) > 1 and max(dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` is not compatible with `dilation_rate > 1`. Received: "
                f"strides={strides}, dilation_rate={dilation_rate}"
            )
        super().__init__(formula, bases=bases, **kwargs)
        if self.interaction_rank and groups > 1:
            raise ValueError(
                "`interaction_rank` needs groups=1: its projections mix every input "
                f"channel. Received: interaction_rank={self.interaction_rank}, groups={groups}"
            )
        self._init_lora(lora_rank, lora_alpha)
        self.rank = rank
        self.filters = filters
        self.groups = groups
        self.kernel_size = kernel_size
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.padding = lowered
        self.data_format = data_format
        self.activation = keras.activations.get(activation)
        self.input_spec = keras.layers.InputSpec(min_ndim=rank + 2)

    @staticmethod
    def _paddings(rank):
        return PADDINGS if rank == 1 else PADDINGS[:2]

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    _block_axis = -2
    """The kernel axis along which the basis blocks are concatenated (the
    input channels: ``kernel_size + (in, out)``)."""

    _output_kernel_axis = -1
    """The kernel axis of the output channels (the interaction's blocks)."""

    def _kernel_shape(self, blocks):
        """The kernel's shape with ``blocks`` basis blocks."""
        return self.kernel_size + (blocks * (self.input_channels // self.groups), self.filters)

    def _initialize_kernel(self, shape, dtype=None):
        """One block per basis, each drawn with the plain convolution's
        kernel shape (so the ``x`` block starts as that kernel)."""
        return self._initialize_blocks(self._kernel_shape(1), axis=self._block_axis, dtype=dtype)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} ({type(self).__name__}) must have "
                f"rank {self.rank + 2} (batch, {self.rank} spatial dimensions and "
                f"channels). Received: input_shape={tuple(input_shape)}"
            )
        channels = known_size(self, input_shape, self._channel_axis, "channel")
        if channels % self.groups:
            raise ValueError(
                f"The number of input channels must be evenly divisible by the number "
                f"of groups. Received: groups={self.groups}, input_shape={tuple(input_shape)}"
            )
        self.input_channels = channels
        output_shape = self.compute_output_shape(input_shape)
        spatial = output_shape[1:-1] if self.data_format == "channels_last" else output_shape[2:]
        if any(size is not None and size <= 0 for size in spatial):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) would give an empty output: "
                f"input_shape={tuple(input_shape)}, kernel_size={self.kernel_size}, "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}, "
                f"padding={self.padding!r} give output_shape={output_shape}"
            )
        # Under mixed precision the variables stay float32 inside `call`
        # (autocast=False): the layer computes in float32, like the dense one.
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(len(self._matmul_bases)),
            initializer=self._initialize_kernel,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        self._build_range(channels)
        self._build_interaction(self._kernel_shape(1), self._output_kernel_axis,
                                self._channel_axis)
        self.bias = self._add_bias(self.filters)
        self.input_spec = keras.layers.InputSpec(
            ndim=self.rank + 2, axes={self._channel_axis: channels}
        )
        self._build_lora()

    def call(self, inputs, training=None):
        dtype = self._feature_dtype()
        u, bounded = self._inputs(ops.cast(inputs, dtype), self._channel_axis, training)
        features = self._matmul_features(
            u, bounded, axis=self._channel_axis, groups=self.groups)
        outputs = self._convolve(features, self._kernel_value(dtype))
        interaction = self._interaction(u, bounded, self._convolve, dtype, self._channel_axis)
        if interaction is not None:
            outputs = ops.add(outputs, interaction)
        shape = (1,) * (self.rank + 1) + (self.filters,)
        if self.data_format == "channels_first":
            shape = (1, self.filters) + (1,) * self.rank
        return self._finish(outputs, dtype, shape)

    def _convolve(self, features, kernel):
        """The one convolution over the concatenated basis features."""
        padding = self.padding
        if padding == "causal":  # 1D only: pad the start, then a valid convolution
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            width = [(0, 0), (left, 0), (0, 0)]
            if self.data_format == "channels_first":
                width = [(0, 0), (0, 0), (left, 0)]
            features = ops.pad(features, width)
            padding = "valid"
        return ops.conv(
            features, kernel, strides=self.strides, padding=padding,
            data_format=self.data_format, dilation_rate=self.dilation_rate,
        )

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        sizes = []
        for size, kernel, stride, dilation in zip(
            spatial, self.kernel_size, self.strides, self.dilation_rate
        ):
            if size is None:
                sizes.append(None)
            elif self.padding == "valid":
                sizes.append((size - dilation * (kernel - 1) - 1) // stride + 1)
            else:
                sizes.append((size + stride - 1) // stride)
        if self.data_format == "channels_last":
            return (input_shape[0], *sizes, self.filters)
        return (input_shape[0], self.filters, *sizes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "activation": keras.activations.serialize(self.activation),
                **self._basis_config(),
                **self._lora_config(),
            }
        )
        return config

    def __repr__(self):
        return (
            f"<{type(self).__name__} name={self.name}, filters={self.filters}, "
            f"kernel_size={self.kernel_size}, formula='{self.formula}'>"
        )


def _arguments(local):
    """A subclass constructor's arguments, to pass on to its base class;
    refused without a formula (say where it went when passed positionally)."""
    if local.get("formula") is None:
        kind = local["__class__"].__name__
        strides = local.get("strides")
        hint = (f" The third positional argument is `strides`; received strides={strides!r}: "
                f"pass it as formula={strides!r}." if isinstance(strides, str) else "")
        raise TypeError(
            f"{kind} takes its formula as a keyword argument: {kind}(filters, kernel_size, "
            f"formula='x**2 + x').{hint}")
    arguments = {k: v for k, v in local.items() if k not in ("self", "__class__", "kwargs")}
    return {**arguments, **local["kwargs"]}


_CONV_DOC = """{rank}D convolution of task-based neurons.

    The arguments of ``keras.layers.Conv{rank}D``, with the same meaning and
    defaults, plus ``formula`` (keyword) and the basis options of
    [TaskNeuronDense][keras_taskneurons.TaskNeuronDense]. The formula is expanded
    into bases ``g_k``; the layer computes the features
    ``[m_1 g_1(x), ..., m_K g_K(x)]`` of every input channel (``x`` itself
    after the ``input_map``, if any, the other bases on that value brought
    into the basis domain as ``basis_range`` says, the running statistics
    per channel) and runs ONE convolution over them, with a kernel of shape
    ``kernel_size + (K * channels // groups, filters)`` whose blocks along
    the input-channel axis belong to the bases in the order of
    ``bases``. With ``groups > 1`` the features are laid out group by
    group, so each basis of a channel stays in that channel's group.

    With formula ``"x"`` the layer IS ``keras.layers.Conv{rank}D`` of the
    same arguments (same weights, same order, same outputs). By default it
    also starts as that convolution: the ``x`` block from
    ``kernel_initializer``, the others from ``basis_initializer`` (zeros),
    trained gently (``basis_scale``). ``padding="causal"`` exists for 1D
    only, as in Keras; ``padding`` is case-insensitive.

    Args:
        filters (int): Positive integer, the number of output channels.
        kernel_size (int or tuple of int): An integer or {rank} integers, the window's size.
        strides (int or tuple of int): An integer or {rank} integers.
        padding (str): ``"valid"`` or ``"same"`` (1D: also ``"causal"``).
        data_format (str or None): ``"channels_last"``, ``"channels_first"`` or ``None``
            (Keras's ``image_data_format``).
        dilation_rate (int or tuple of int): An integer or {rank} integers.
        groups (int): Positive integer dividing the input channels and
            ``filters``.
        interaction_rank (int): Rank ``r`` of the interaction term, products
            of two projections of the input (this layer's convolution) added
            to every filter; ``groups=1`` only. 0: none.
        lora_rank (int or None): Build with LoRA enabled at this rank (the
            update is low-rank over the kernel's last axis, as Keras's
            ``Conv{rank}D.enable_lora``; merged into the kernel on save).

    Input shape:
        ``(batch, *spatial, channels)`` (``channels_last``) or
        ``(batch, channels, *spatial)`` (``channels_first``), ``{rank}``
        spatial dimensions.

    Output shape:
        ``(batch, *new_spatial, filters)`` or ``(batch, filters, *new_spatial)``.

    >>> import numpy as np, keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronConv{rank}D(4, 3, formula="x**2 + x")
    >>> tuple(layer(np.ones((2,{ones} 5), "float32")).shape)
    (2,{out} 4)
    >>> tuple(layer.kernel.shape)  # two bases (x, x**2) times 5 channels
    ({kernel}10, 4)
    """

def _docs(template, rank):
    return template.format(rank=rank, ones=" 7," * rank, out=" 5," * rank,
                           up=" 14," * rank, kernel="3, " * rank)


register = keras.saving.register_keras_serializable(package="keras_taskneurons")


@register
@documented
class TaskNeuronConv1D(TaskNeuronConv):
    __doc__ = _docs(_CONV_DOC, 1)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(1, **_arguments(locals()))


@register
@documented
class TaskNeuronConv2D(TaskNeuronConv):
    __doc__ = _docs(_CONV_DOC, 2)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(2, **_arguments(locals()))


@register
@documented
class TaskNeuronConv3D(TaskNeuronConv):
    __doc__ = _docs(_CONV_DOC, 3)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(3, **_arguments(locals()))
