"""Task-based recurrent cells: ``TaskNeuronSimpleRNNCell``,
``TaskNeuronLSTMCell`` and ``TaskNeuronGRUCell`` (the layers over them:
``keras_taskneurons.layers.recurrent``, whose docstring says what the
cells compute and what their bases see)."""

import keras
from keras import ops

from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.basis import BasisLayer, check_positive_int, known_size
from keras_taskneurons.layers.options import check_bool


class TaskNeuronRNNCellBase(BasisLayer):
    """What the three cells share: options, the two block kernels, features,
    initial state and config. ``GATES`` is the number of gate blocks."""

    GATES = 1

    def __init__(self, units, *, formula, activation="tanh", recurrent_activation=None,
                 recurrent_initializer="orthogonal", recurrent_regularizer=None,
                 recurrent_constraint=None, bases=None, **kwargs):
        """``kwargs``: the ``LAYER_OPTIONS`` and Keras's ``Layer`` arguments."""
        units = check_positive_int("units", units)
        basis_range = kwargs.get("basis_range", "auto")
        if basis_range == "running":
            raise ValueError(
                f"{type(self).__name__} takes basis_range 'clip' or None: running "
                "statistics would be updated inside the time loop. Give the first "
                "layer the search's input map instead. Received: basis_range='running'"
            )
        kwargs["basis_range"] = "clip" if basis_range == "auto" else basis_range
        super().__init__(formula, bases=bases, **kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.output_size = units

    @property
    def state_size(self):
        return self.units

    def _bias_shape(self):
        return (self.GATES * self.units,)

    def _initialize_bias(self, shape, dtype=None):
        return self.bias_initializer(shape, dtype=dtype)

    def build(self, input_shape):
        self.input_dim = input_dim = known_size(self, input_shape)
        blocks = len(self._matmul_bases)
        width = self.GATES * self.units
        self.kernel = self.add_weight(
            name="kernel", shape=(blocks * input_dim, width),
            initializer=lambda shape, dtype=None: self._initialize_blocks(
                (input_dim, width), axis=0, dtype=dtype),
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            autocast=False,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(blocks * self.units, width),
            initializer=lambda shape, dtype=None: self._initialize_blocks(
                (self.units, width), axis=0, dtype=dtype,
                initializers=(self.recurrent_initializer, self.basis_initializer)),
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
            autocast=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=self._bias_shape(), initializer=self._initialize_bias,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                autocast=False,
            )
        self._build_range(input_dim)
        self._build_interaction((input_dim, width), kernel_axis=1, output_axis=-1)

    def _project_input(self, inputs, training, dtype):
        """The input's projection onto the gates: ONE matmul of its basis
        features, plus the interaction term of the input (if any)."""
        z, bounded = self._inputs(inputs, -1, training)
        projection = ops.matmul(self._matmul_features(z, bounded), ops.cast(self.kernel, dtype))
        interaction = self._interaction(z, bounded, ops.matmul, dtype)
        return projection if interaction is None else ops.add(projection, interaction)

    def _recurrent_features(self, h):
        return self._matmul_features(h, self._basis_input(h, -1, None, state=True), state=True)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def _unpack(self, inputs, states):
        """The compute dtype (float32 under mixed precision) for the step."""
        dtype = self._feature_dtype()
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return dtype, ops.cast(inputs, dtype), [ops.cast(s, dtype) for s in states]

    def _pack(self, output, states, nested):
        output = ops.cast(output, self.compute_dtype)
        states = [ops.cast(s, self.compute_dtype) for s in states]
        return output, (states if nested else states[0])

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            **self._basis_config(),
            "activation": keras.activations.serialize(self.activation),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
        })
        del config["activity_regularizer"]  # the layer's, not the cell's
        if self.recurrent_activation is not None and type(self).GATES > 1:
            config["recurrent_activation"] = keras.activations.serialize(self.recurrent_activation)
        return config

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, units={self.units}, formula='{self.formula}'>"


_CELL_ARGS = """
    Args:
        basis_range (str or None): ``"auto"`` or ``"clip"`` (the same: clip to
            the basis domain) or ``None``; ``"running"`` is refused (running
            statistics would be updated inside the time loop).
        interaction_rank (int): Rank of the interaction term, products of two
            projections of the input ``x_t`` added to every gate's
            pre-activation; 0: none.
"""


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronSimpleRNNCell(TaskNeuronRNNCellBase):
    __doc__ = """Keras's ``SimpleRNNCell`` with task-based input and recurrent
    projections: ``h_t = activation(Σ_k m_k g_k(x_t) W_k + b + Σ_k m_k g_k(h_{t-1}) U_k)``.
    """ + _CELL_ARGS + """
    >>> import numpy as np, keras, keras_taskneurons
    >>> cell = keras_taskneurons.TaskNeuronSimpleRNNCell(4, formula="x**2 + x")
    >>> layer = keras.layers.RNN(cell)
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, *, formula, linear_basis=True, basis_scale=0.1,
                 normalize_bases=True, input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        super().__init__(units, **_cell_arguments(locals()))

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        dtype, inputs, (previous,) = self._unpack(inputs, states)
        h = self._project_input(inputs, training, dtype)
        h_features = self._recurrent_features(previous)
        if self.bias is not None:
            h = ops.add(h, ops.cast(self.bias, dtype))
        output = h + ops.matmul(h_features, ops.cast(self.recurrent_kernel, dtype))
        if self.activation is not None:
            output = self.activation(output)
        return self._pack(output, [output], nested)


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronLSTMCell(TaskNeuronRNNCellBase):
    __doc__ = """Keras's ``LSTMCell`` with task-based input and recurrent
    projections (the four gates' blocks side by side, as Keras's kernel:
    ``i, f, c, o``; implementation 2, the fused one).
    """ + _CELL_ARGS + """
    >>> import numpy as np, keras, keras_taskneurons
    >>> cell = keras_taskneurons.TaskNeuronLSTMCell(4, formula="x**2 + x")
    >>> tuple(keras.layers.RNN(cell)(np.ones((2, 5, 3), "float32")).shape)
    (2, 4)
    >>> tuple(cell.kernel.shape), tuple(cell.recurrent_kernel.shape)
    ((6, 16), (8, 16))
    """

    GATES = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, *, formula, linear_basis=True, basis_scale=0.1,
                 normalize_bases=True, input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        arguments = _cell_arguments(locals())
        forget = check_bool("unit_forget_bias", arguments.pop("unit_forget_bias"))
        super().__init__(units, **arguments)
        self.unit_forget_bias = forget

    @property
    def state_size(self):
        return [self.units, self.units]

    def _initialize_bias(self, shape, dtype=None):
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype=dtype)
        return ops.concatenate([
            self.bias_initializer((self.units,), dtype=dtype),
            keras.initializers.get("ones")((self.units,), dtype=dtype),
            self.bias_initializer((self.units * 2,), dtype=dtype),
        ])

    def call(self, inputs, states, training=False):
        dtype, inputs, (h_previous, c_previous) = self._unpack(inputs, states)
        z = self._project_input(inputs, training, dtype)
        h_features = self._recurrent_features(h_previous)
        z = ops.add(z, ops.matmul(h_features, ops.cast(self.recurrent_kernel, dtype)))
        if self.bias is not None:
            z = ops.add(z, ops.cast(self.bias, dtype))
        z0, z1, z2, z3 = ops.split(z, 4, axis=1)
        i = self.recurrent_activation(z0)
        f = self.recurrent_activation(z1)
        c = f * c_previous + i * self.activation(z2)
        o = self.recurrent_activation(z3)
        h = o * self.activation(c)
        output, states = self._pack(h, [h, c], True)
        return output, states

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronGRUCell(TaskNeuronRNNCellBase):
    __doc__ = """Keras's ``GRUCell`` with task-based input and recurrent
    projections (gate blocks ``z, r, h`` side by side, as Keras's kernel;
    ``reset_after=True`` by default, as Keras; implementation 2).
    """ + _CELL_ARGS + """
    >>> import numpy as np, keras, keras_taskneurons
    >>> cell = keras_taskneurons.TaskNeuronGRUCell(4, formula="sin(x) + x")
    >>> tuple(keras.layers.RNN(cell)(np.ones((2, 5, 3), "float32")).shape)
    (2, 4)
    """

    GATES = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 reset_after=True, *, formula, linear_basis=True, basis_scale=0.1,
                 normalize_bases=True, input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        arguments = _cell_arguments(locals())
        reset_after = arguments.pop("reset_after")
        if not isinstance(reset_after, bool):
            raise TypeError(
                "Received an invalid value for `reset_after`, expected a bool. "
                f"Received: reset_after={reset_after!r}"
            )
        super().__init__(units, **arguments)
        self.reset_after = reset_after

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        dtype, inputs, (h_previous,) = self._unpack(inputs, states)
        matrix_x = self._project_input(inputs, training, dtype)
        h_features = self._recurrent_features(h_previous)
        recurrent_kernel = ops.cast(self.recurrent_kernel, dtype)
        units = self.units
        input_bias = recurrent_bias = None
        if self.bias is not None:
            bias = ops.cast(self.bias, dtype)
            if self.reset_after:
                input_bias, recurrent_bias = (
                    ops.squeeze(b, axis=0) for b in ops.split(bias, 2, axis=0))
            else:
                input_bias = bias
        if input_bias is not None:
            matrix_x = ops.add(matrix_x, input_bias)
        x_z, x_r, x_h = ops.split(matrix_x, 3, axis=-1)
        if self.reset_after:
            matrix_inner = ops.matmul(h_features, recurrent_kernel)
            if recurrent_bias is not None:
                matrix_inner += recurrent_bias
        else:
            matrix_inner = ops.matmul(h_features, recurrent_kernel[:, :2 * units])
        recurrent_z = matrix_inner[:, :units]
        recurrent_r = matrix_inner[:, units:2 * units]
        z = self.recurrent_activation(x_z + recurrent_z)
        r = self.recurrent_activation(x_r + recurrent_r)
        if self.reset_after:
            recurrent_h = r * matrix_inner[:, 2 * units:]
        else:
            recurrent_h = ops.matmul(
                self._recurrent_features(r * h_previous), recurrent_kernel[:, 2 * units:])
        hh = self.activation(x_h + recurrent_h)
        h = z * h_previous + (1 - z) * hh
        return self._pack(h, [h], nested)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


def _cell_arguments(local):
    arguments = {k: v for k, v in local.items() if k not in ("self", "__class__", "kwargs", "units")}
    return {**arguments, **local["kwargs"]}
