"""The saturation check: a layer whose bases see mostly values outside their
domain says so once, naming itself and the fraction."""

import warnings

import keras
import numpy as np
import pytest

from keras_taskneurons import BasisRangeMonitor, InputMap, TaskNeuronDense, basis_range_report


def _saturation_warnings(record):
    return [w for w in record if "fall outside basis_domain" in str(w.message)]


def test_first_eager_training_batch_warns_once_with_name_and_fraction():
    layer = TaskNeuronDense(3, "sin(x)", basis_range="clip", name="raw_features")
    x = np.full((8, 4), 50.0, "float32")
    x[:2] = 0.5  # 25 % inside
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        layer(x, training=True)
        layer(x, training=True)
    found = _saturation_warnings(record)
    assert len(found) == 1
    assert "'raw_features'" in str(found[0].message)
    assert "75.0 %" in str(found[0].message)
    assert "or use basis_range='running'" in str(found[0].message)


def test_a_running_layer_is_not_told_to_use_running_statistics():
    from keras_taskneurons.layers.ranges import MOMENT_ROWS

    x = np.random.default_rng(0).normal(size=(2 * MOMENT_ROWS, 3)).astype("float32")
    x[MOMENT_ROWS:] += 10.0  # past the rows the statistics read: an unshuffled batch
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        TaskNeuronDense(2, "x**2", basis_range="running")(x, training=True)
    (found,) = _saturation_warnings(record)
    assert "basis_range='running'" in str(found.message)  # what it has
    assert "use basis_range='running'" not in str(found.message)
    assert "shuffle the rows" in str(found.message)


def test_inputs_inside_the_domain_or_inference_do_not_warn():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        TaskNeuronDense(3, "sin(x)", basis_range="clip")(
            np.full((8, 4), 0.5, "float32"), training=True)
        TaskNeuronDense(3, "sin(x)", basis_range="clip")(np.full((8, 4), 50.0, "float32"))
        TaskNeuronDense(3, "x", basis_range="clip")(  # no basis to saturate
            np.full((8, 4), 50.0, "float32"), training=True)
    assert not _saturation_warnings(record)


def test_the_search_map_brings_raw_features_inside():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 3)) * [1, 100, 1000] + [0, 50, -300]).astype("float32")
    layer = TaskNeuronDense(2, "sin(x)", input_map=InputMap.fit(x, "minmax"))
    assert basis_range_report(layer, x)[layer.name] == 0.0
    raw = TaskNeuronDense(2, "sin(x)", basis_range="clip", name="unmapped")
    assert basis_range_report(raw, x)["unmapped"] > 0.6


def test_report_fraction_and_validation():
    layer = TaskNeuronDense(2, "x**2", basis_range="clip", basis_domain=(-1, 1))
    x = np.array([[0.0, 2.0], [-3.0, 0.5]], "float32")
    np.testing.assert_allclose(basis_range_report(layer, x, batch_size=1)[layer.name], 0.5)
    with pytest.raises(ValueError, match="batch_size=0"):
        basis_range_report(layer, x, batch_size=0)
    with pytest.raises(ValueError, match="no task-neuron layer"):
        basis_range_report(keras.layers.Dense(2), x)
    with pytest.raises(ValueError, match="threshold=1.5"):
        BasisRangeMonitor(x, threshold=1.5)


def test_compiled_fit_warns_through_the_monitor():
    rng = np.random.default_rng(1)
    x = rng.uniform(20, 80, size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True) / 100
    model = keras.Sequential([
        keras.Input((3,)),
        TaskNeuronDense(4, "cos(x)", basis_range="clip", name="saturated"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    monitor = BasisRangeMonitor(x[:32])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[monitor])
    found = _saturation_warnings(record)
    assert len(found) == 1 and "'saturated'" in str(found[0].message)
    assert monitor.fractions == {"saturated": 1.0}


def test_running_statistics_keep_a_hidden_layer_inside():
    rng = np.random.default_rng(2)
    x = rng.uniform(20, 80, size=(256, 3)).astype("float32")
    layer = TaskNeuronDense(4, "cos(x)", basis_range="running")
    for start in range(0, 256, 32):
        layer(x[start:start + 32], training=True)
    assert basis_range_report(layer, x)[layer.name] < 0.1


@pytest.mark.parametrize("units", [1, 16])
def test_recurrent_layers_report_their_inputs_one_entry_each(units):
    from keras_taskneurons import TaskNeuronConv1D, TaskNeuronLSTM

    model = keras.Sequential([
        keras.Input((6, 3)),
        TaskNeuronLSTM(units, formula="x**2", return_sequences=True, name="first"),
        TaskNeuronLSTM(units, formula="x**2", return_sequences=True, name="second"),
        TaskNeuronConv1D(2, 2, formula="x**2", basis_range="clip", name="conv"),
    ])
    raw = np.full((4, 6, 3), 1000.0, "float32")  # every input value far outside [-1, 1]
    report = basis_range_report(model, raw)
    # The first layer's INPUT is all outside, whatever the state (the LSTMs'
    # outputs, inside (-1, 1), feed the second and the convolution).
    assert report == {"first": 1.0, "second": 0.0, "conv": 0.0}
    monitor = BasisRangeMonitor(raw)
    monitor.set_model(model)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        monitor.on_train_end()
    found = _saturation_warnings(record)
    assert len(found) == 1 and "100.0 %" in str(found[0].message)
    # A raw convolution input is seen too.
    conv = keras.Sequential([keras.Input((6, 3)), TaskNeuronConv1D(
        2, 2, formula="x**2", basis_range="clip", name="conv")])
    assert basis_range_report(conv, raw) == {"conv": 1.0}
