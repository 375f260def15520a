"""Task-based recurrent cells: each is Keras's cell with formula "x", and both
of its projections (input and state) are task-based."""

import keras
import numpy as np
import pytest

import keras_taskneurons as ktn
from tests.helpers import assert_keras_twin, sequences, to_numpy

CELLS = [(ktn.TaskNeuronSimpleRNNCell, keras.layers.SimpleRNNCell),
         (ktn.TaskNeuronLSTMCell, keras.layers.LSTMCell),
         (ktn.TaskNeuronGRUCell, keras.layers.GRUCell)]


@pytest.mark.parametrize("ours, theirs", CELLS, ids=lambda v: v.__name__)
def test_formula_x_cell_is_the_keras_cell_in_an_rnn(ours, theirs):
    assert_keras_twin(keras.layers.RNN(ours(4, formula="x")), keras.layers.RNN(theirs(4)),
                      sequences())


def test_both_projections_are_task_based_one_step_reference():
    """One LSTM step against numpy: each block of both kernels multiplies its
    basis of the input and of the previous state."""
    cell = ktn.TaskNeuronLSTMCell(3, formula="x**2 + sin(x)")
    x = sequences(n=2, steps=1, features=4)[:, 0] * 0.8
    h = np.random.default_rng(1).uniform(-0.9, 0.9, (2, 3)).astype("float32")
    c = np.random.default_rng(2).normal(size=(2, 3)).astype("float32")
    cell.build(x.shape)
    rng = np.random.default_rng(3)
    for variable in cell.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32") * 0.5)
    kernel, recurrent, bias = (to_numpy(v) for v in cell.weights)

    def features(v):
        return np.concatenate([m * b.evaluate(np.clip(v, -1, 1) if str(b) != "x" else v)
                               for b, m in zip(cell.bases, cell.multipliers)], axis=-1)

    z = features(x) @ kernel + features(h) @ recurrent + bias
    i, f, g, o = np.split(z, 4, axis=1)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h_new = sigmoid(o) * np.tanh(c_new)
    output, (h_out, c_out) = cell(x, [h, c])
    np.testing.assert_allclose(to_numpy(output), h_new, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(c_out), c_new, rtol=1e-5, atol=1e-5)
    # The recurrent blocks matter: swapping two of them changes the output.
    swapped = np.concatenate([recurrent[3:6], recurrent[:3], recurrent[6:]])
    cell.recurrent_kernel.assign(swapped)
    assert not np.allclose(to_numpy(cell(x, [h, c])[0]), h_new, atol=1e-4)
