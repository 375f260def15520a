"""Task-based recurrent layers: the cells ``TaskNeuronSimpleRNNCell``,
``TaskNeuronLSTMCell``, ``TaskNeuronGRUCell`` and the layers
``TaskNeuronSimpleRNN``, ``TaskNeuronLSTM``, ``TaskNeuronGRU``.

Both projections of a cell are task-based, as in tnlearn's cells: the input
``x_t`` and the previous output ``h_{t-1}`` are each expanded into the
formula's basis features, and each goes through ONE matmul with a kernel of
one block per basis (``kernel``: ``(K * input_dim, gates * units)``,
``recurrent_kernel``: ``(K * units, gates * units)``). With formula ``"x"``
a cell is Keras's cell of the same arguments and weights (the same
operations in the same order: the same numbers); by default it starts as
it (the ``x`` blocks from ``kernel_initializer`` and
``recurrent_initializer``, the others zeros, trained gently).

What the bases see: the input as every task-neuron layer (``input_map``,
then the basis domain), the recurrent state ``h`` as it is, clipped to the
domain (``tanh`` keeps it in ``(-1, 1)``). The ranges are ``"clip"`` (the
default, ``"auto"``) or ``None``: running statistics would have to be
updated inside the time loop, so ``"running"`` is refused. Dropout is not
offered (Keras's per-sequence dropout masks live in a private class).
"""

import keras

from keras_taskneurons.layers.cells import (  # noqa: F401  (the cells are importable from here too)
    TaskNeuronGRUCell,
    TaskNeuronLSTMCell,
    TaskNeuronRNNCellBase,
    TaskNeuronSimpleRNNCell,
)
from keras_taskneurons.layers.arguments import documented
from keras_taskneurons.layers.handoff import HandOffMixin
from keras_taskneurons.layers.options import LAYER_OPTIONS

RNN_ARGUMENTS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")
"""The arguments of ``keras.layers.RNN`` the layers take."""


class TaskNeuronRNNBase(HandOffMixin, keras.layers.RNN):
    """A ``keras.layers.RNN`` over a task-based cell, built from the
    layer's own arguments (as Keras's ``LSTM`` over ``LSTMCell``)."""

    CELL = CELL_NAME = None

    def __init__(self, local):
        arguments = {k: v for k, v in local.items() if k not in ("self", "__class__", "kwargs")}
        kwargs = dict(local["kwargs"])
        kwargs.pop("zero_output_for_mask", None)  # RNN's config key; not an argument here
        if "format_version" in kwargs:  # the cell's config, merged into the layer's
            arguments["format_version"] = kwargs.pop("format_version")
        rnn = {name: arguments.pop(name) for name in RNN_ARGUMENTS}
        activity_regularizer = LAYER_OPTIONS["activity_regularizer"].check(
            arguments.pop("activity_regularizer"))
        units = arguments.pop("units")
        cell = self.CELL(
            units, **arguments, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=self.CELL_NAME,
        )
        super().__init__(cell, **rnn, activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        cell = self.cell
        if cell.range_probe is None:
            return super().call(sequences, mask=mask, training=training,
                                initial_state=initial_state)
        # basis_range_report: the input's values, every step at once (inside
        # the loop a backend may trace them: no value to read on JAX), not the state.
        cell.record_input_range(sequences)
        with cell.probing_range(None):
            return super().call(sequences, mask=mask, training=training,
                                initial_state=initial_state)

    @property
    def units(self):
        return self.cell.units

    @property
    def formula(self):
        return self.cell.formula

    @property
    def bases(self):
        return self.cell.bases

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.pop("zero_output_for_mask", None)
        cell = self.cell.get_config()
        for name in ("name", "dtype", "trainable"):
            cell.pop(name, None)
        config["activity_regularizer"] = keras.regularizers.serialize(self.activity_regularizer)
        return {**config, **cell}

    @classmethod
    def from_config(cls, config):
        """Rebuild from untrusted config data: the formula read by the
        allow-list parser, the stored bases checked against it."""
        config = dict(config)
        if not isinstance(config.get("formula"), str):
            raise TypeError(
                f"The config of a {cls.__name__} layer must hold its formula as a string "
                f"under 'formula'. Received: formula={type(config.get('formula')).__name__}"
            )
        deserialize = getattr(getattr(keras, "dtype_policies", None), "deserialize", None)
        if isinstance(config.get("dtype"), dict) and deserialize is not None:
            config["dtype"] = deserialize(config["dtype"])  # else the layer reads the dict
        return cls(**config)


_LAYER_DOC = """Keras's ``{keras}`` layer over a [{cell}][keras_taskneurons.{cell}]: the input and
    recurrent projections task-based, Keras's RNN arguments
    (``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``,
    ``unroll``, masking, ``keras.layers.Bidirectional``); Keras's ``dropout`` and
    ``recurrent_dropout`` are not offered. With formula
    ``"x"`` it computes Keras's ``{keras}`` given the same weights (same
    names and order); by default it starts as it.

    Args:
        basis_range (str or None): ``"auto"`` or ``"clip"`` (the same: clip to
            the basis domain) or ``None``; ``"running"`` is refused (running
            statistics would be updated inside the time loop).

    Input shape:
        ``(batch, timesteps, features)``.

    Output shape:
        ``(batch, units)``, or ``(batch, timesteps, units)`` with
        ``return_sequences``; with ``return_state`` also the final states.

    >>> import numpy as np, keras_taskneurons
    >>> layer = keras_taskneurons.{name}(4, formula="x**2 + x", return_sequences=True)
    >>> tuple(layer(np.ones((2, 5, 3), "float32")).shape)
    (2, 5, 4)
    """


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronSimpleRNN(TaskNeuronRNNBase):
    __doc__ = _LAYER_DOC.format(keras="SimpleRNN", cell="TaskNeuronSimpleRNNCell",
                                name="TaskNeuronSimpleRNN")
    CELL, CELL_NAME = TaskNeuronSimpleRNNCell, "task_neuron_simple_rnn_cell"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, *,
                 formula, linear_basis=True, basis_scale=0.1, normalize_bases=True,
                 input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        super().__init__(locals())


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronLSTM(TaskNeuronRNNBase):
    __doc__ = _LAYER_DOC.format(keras="LSTM", cell="TaskNeuronLSTMCell", name="TaskNeuronLSTM")
    CELL, CELL_NAME = TaskNeuronLSTMCell, "task_neuron_lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, *,
                 formula, linear_basis=True, basis_scale=0.1, normalize_bases=True,
                 input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        super().__init__(locals())


@keras.saving.register_keras_serializable(package="keras_taskneurons")
@documented
class TaskNeuronGRU(TaskNeuronRNNBase):
    __doc__ = _LAYER_DOC.format(keras="GRU", cell="TaskNeuronGRUCell", name="TaskNeuronGRU")
    CELL, CELL_NAME = TaskNeuronGRUCell, "task_neuron_gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True, *,
                 formula, linear_basis=True, basis_scale=0.1, normalize_bases=True,
                 input_map=None, basis_range="auto", basis_domain=None,
                 basis_initializer="zeros", interaction_rank=0, bases=None, **kwargs):
        super().__init__(locals())
