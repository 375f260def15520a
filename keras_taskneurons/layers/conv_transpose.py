"""Task-based transposed convolutions: ``TaskNeuronConv1DTranspose``,
``TaskNeuronConv2DTranspose``, ``TaskNeuronConv3DTranspose``: the basis
features of every input channel, then ONE transposed convolution."""

from keras import ops

from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.conv import (
    PADDINGS,
    TaskNeuronConv,
    _arguments,
    _docs,
    _tuple,
    register,
)


class TaskNeuronConvTranspose(TaskNeuronConv):
    """N-D transposed convolution of task-based neurons (the base of
    ``TaskNeuronConv1DTranspose``, ``TaskNeuronConv2DTranspose`` and
    ``TaskNeuronConv3DTranspose``)."""

    _block_axis = -1  # a transposed kernel is kernel_size + (out, in)
    _output_kernel_axis = -2

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, **kwargs):
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)
        if output_padding is not None:
            output_padding = _tuple("output_padding", output_padding, rank, minimum=0)
            for pad, stride, dilation in zip(output_padding, self.strides, self.dilation_rate):
                if pad >= max(stride, dilation):
                    raise ValueError(
                        "`output_padding` must be smaller than the strides or dilation rate. "
                        f"Received: output_padding={output_padding}, strides={self.strides}, "
                        f"dilation_rate={self.dilation_rate}"
                    )
        self.output_padding = output_padding

    @staticmethod
    def _paddings(rank):
        return PADDINGS[:2]

    def _kernel_shape(self, blocks):
        return self.kernel_size + (self.filters, blocks * self.input_channels)

    def _convolve(self, features, kernel):
        return ops.conv_transpose(
            features, kernel, strides=self.strides, padding=self.padding,
            output_padding=self.output_padding, data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        spatial = input_shape[1:-1] if self.data_format == "channels_last" else input_shape[2:]
        sizes = []
        for index, size in enumerate(spatial):
            kernel = (self.kernel_size[index] - 1) * self.dilation_rate[index] + 1
            stride = self.strides[index]
            pad = None if self.output_padding is None else self.output_padding[index]
            if size is None:
                sizes.append(None)
            elif self.padding == "valid":
                extra = max(kernel, stride) - kernel if pad is None else pad
                sizes.append((size - 1) * stride + kernel + extra)
            elif pad is None:
                sizes.append(size * stride)
            else:
                sizes.append((size - 1) * stride + kernel % 2 + pad)
        if self.data_format == "channels_last":
            return (input_shape[0], *sizes, self.filters)
        return (input_shape[0], self.filters, *sizes)

    def get_config(self):
        config = super().get_config()
        del config["groups"]
        config["output_padding"] = self.output_padding
        return config


_TRANSPOSE_DOC = """{rank}D transposed convolution of task-based neurons.

    The arguments of ``keras.layers.Conv{rank}DTranspose``, with the same
    meaning and defaults, plus ``formula`` (keyword) and the basis options
    of [TaskNeuronDense][keras_taskneurons.TaskNeuronDense]. The layer computes the
    basis features ``[m_1 g_1(x), ..., m_K g_K(x)]`` of every input channel
    and runs ONE transposed convolution over them, with a kernel of shape
    ``kernel_size + (filters, K * channels)`` (blocks along the last axis,
    in the order of ``bases``). With formula ``"x"`` it IS
    ``keras.layers.Conv{rank}DTranspose`` (same weights, same outputs); by
    default it starts as it.

    Args:
        filters (int): Positive integer, the number of output channels.
        kernel_size (int or tuple of int): An integer or {rank} integers, the window's size.
        strides (int or tuple of int): An integer or {rank} integers.
        padding (str): ``"valid"`` or ``"same"`` (case-insensitive).
        output_padding (int, tuple of int or None): ``None``, an integer or {rank} integers, each
            smaller than the stride (or dilation rate) along its axis.
        data_format (str or None): ``"channels_last"``, ``"channels_first"`` or ``None``.
        dilation_rate (int or tuple of int): An integer or {rank} integers.

    Input shape:
        ``(batch, *spatial, channels)`` or ``(batch, channels, *spatial)``.

    Output shape:
        ``(batch, *new_spatial, filters)`` or ``(batch, filters, *new_spatial)``.

    >>> import numpy as np, keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronConv{rank}DTranspose(
    ...     4, 3, strides=2, padding="same", formula="x**2 + x")
    >>> tuple(layer(np.ones((2,{ones} 5), "float32")).shape)
    (2,{up} 4)
    >>> tuple(layer.kernel.shape)  # two bases (x, x**2) times 5 channels
    ({kernel}4, 10)
    """


@register
@documented
class TaskNeuronConv1DTranspose(TaskNeuronConvTranspose):
    __doc__ = _docs(_TRANSPOSE_DOC, 1)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(1, **_arguments(locals()))


@register
@documented
class TaskNeuronConv2DTranspose(TaskNeuronConvTranspose):
    __doc__ = _docs(_TRANSPOSE_DOC, 2)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(2, **_arguments(locals()))


@register
@documented
class TaskNeuronConv3DTranspose(TaskNeuronConvTranspose):
    __doc__ = _docs(_TRANSPOSE_DOC, 3)

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, formula=None, linear_basis=True,
                 basis_scale=0.1, normalize_bases=True, input_map=None, basis_range="auto",
                 basis_domain=None, basis_initializer="zeros", interaction_rank=0,
                 bases=None, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(3, **_arguments(locals()))
