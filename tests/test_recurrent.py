"""Task-based recurrent layers (their cells: tests/test_cells.py): exactness
against Keras's, Keras's RNN arguments, the shared layer checks,
saving (across processes and backends: tests/test_conv.py, one process per
backend for every layer kind)."""

import keras
import numpy as np
import pytest

import keras_taskneurons as ktn
from tests.helpers import (
    BACKEND, assert_keras_twin, run_layer_checks, sequences, to_numpy,
)

PAIRS = [
    (ktn.TaskNeuronSimpleRNN, keras.layers.SimpleRNN, {}),
    (ktn.TaskNeuronLSTM, keras.layers.LSTM, {}),
    (ktn.TaskNeuronLSTM, keras.layers.LSTM, dict(return_sequences=True, go_backwards=True,
                                                 unit_forget_bias=False)),
    (ktn.TaskNeuronGRU, keras.layers.GRU, {}),
    (ktn.TaskNeuronGRU, keras.layers.GRU, dict(reset_after=False, return_sequences=True)),
    (ktn.TaskNeuronSimpleRNN, keras.layers.SimpleRNN, dict(use_bias=False, unroll=True)),
]


@pytest.mark.parametrize("ours, theirs, kwargs", PAIRS,
                         ids=lambda v: getattr(v, "__name__", None) or ",".join(v) or "plain")
def test_formula_x_is_the_keras_layer(ours, theirs, kwargs):
    # Under PyTorch, Keras's LSTM and GRU layers run torch's fused kernels
    # (another summation order: a float32 ulp apart); elsewhere, and for
    # every cell in keras.layers.RNN (below), the same numbers.
    fused = BACKEND == "torch" and theirs in (keras.layers.LSTM, keras.layers.GRU)
    assert_keras_twin(ours(5, formula="x", **kwargs), theirs(5, **kwargs), sequences(),
                      rtol=1e-6 if fused else 0.0)


@pytest.mark.parametrize("ours, theirs, kwargs", PAIRS[:4:], ids=lambda v: getattr(
    v, "__name__", None) or ",".join(v) or "plain")
def test_a_new_layer_starts_as_the_keras_layer(ours, theirs, kwargs):
    seeded = dict(kernel_initializer=keras.initializers.GlorotUniform(seed=1),
                  recurrent_initializer=keras.initializers.Orthogonal(seed=2))
    x = sequences()
    layer = ours(5, formula="x**2 + sin(x)", **seeded, **kwargs)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(theirs(5, **seeded, **kwargs)(x)),
                               rtol=1e-6, atol=1e-6)
    assert tuple(layer.cell.kernel.shape)[0] == 3 * 4  # three bases times four features
    assert tuple(layer.cell.recurrent_kernel.shape)[0] == 3 * 5


@pytest.mark.parametrize("cls", [ktn.TaskNeuronSimpleRNN, ktn.TaskNeuronLSTM, ktn.TaskNeuronGRU],
                         ids=lambda v: v.__name__)
def test_layer_checks(cls, tmp_path):
    run_layer_checks(dict(formula="x**2 - sin(x)", return_sequences=True), tmp_path,
                     layer=(cls, (4,), (5, 3)))


def test_rnn_arguments_masking_bidirectional_and_state(tmp_path):
    x = sequences(n=8)
    x[:, -2:] = 0.0  # padded steps
    inputs = keras.Input((None, 4))
    masked = keras.layers.Masking()(inputs)
    both = keras.layers.Bidirectional(ktn.TaskNeuronGRU(3, formula="x**2 + x"))(masked)
    sequence, h, c = ktn.TaskNeuronLSTM(3, formula="sin(x) + x", return_sequences=True,
                                        return_state=True)(masked)
    outputs = keras.layers.Dense(1)(keras.layers.Concatenate()([both, h, c]))
    model = keras.Model(inputs, outputs)
    assert tuple(sequence.shape) == (None, None, 3)
    # Masking: the padded steps count as absent, in both directions.
    expected = to_numpy(model(x))
    np.testing.assert_allclose(to_numpy(model(x[:, :4])), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(to_numpy(model(x[:, :3])), expected, atol=1e-4)
    path = str(tmp_path / "bidirectional.keras")
    model.save(path)
    np.testing.assert_allclose(to_numpy(keras.models.load_model(path)(x)), expected,
                               rtol=1e-6, atol=1e-6)


def test_stateful_layers_carry_state_between_calls():
    layer = ktn.TaskNeuronSimpleRNN(3, formula="x**2 + x", stateful=True)
    x = sequences(n=2, steps=3)
    first = to_numpy(layer(x))
    second = to_numpy(layer(x))
    assert not np.allclose(first, second)
    layer.reset_states()
    np.testing.assert_allclose(to_numpy(layer(x)), first, rtol=1e-6)


def test_bad_arguments_and_the_factory():
    with pytest.raises(ValueError, match="basis_range='running'"):
        ktn.TaskNeuronLSTM(3, formula="x", basis_range="running")
    with pytest.raises(ValueError, match="units=0"):
        ktn.TaskNeuronGRU(0, formula="x")
    with pytest.raises(TypeError, match="reset_after='yes'"):
        ktn.TaskNeuronGRUCell(2, formula="x", reset_after="yes")
    layer = ktn.TaskNeuronLSTM(3, formula="x**2")
    edited = {**layer.get_config(), "formula": "x**3"}
    with pytest.raises(ValueError, match="bases given for TaskNeuronLSTMCell"):
        ktn.TaskNeuronLSTM.from_config(edited)
    make = ktn.layer_factory("x**2 + x", basis_range="running", activation="relu")
    assert make.lstm(4).cell.basis_range == "clip"  # cells clip; dense layers keep running
    assert make(4).basis_range == "running"
    assert make.gru(2, return_sequences=True).return_sequences
