"""int8 quantization of the dense and einsum layers (``quantize("int8")``)
and their float8 training mode (``quantize("float8")``)."""

import os
import warnings

import keras
import numpy as np
import pytest

import keras_taskneurons as ktn
from keras_taskneurons.layers.quantization import quantize_blocks
from tests.helpers import to_numpy


def data(n=256, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    return x, (np.sin(x) ** 2 - 0.3 * x).sum(1, keepdims=True).astype("float32")


def trained_model():
    keras.utils.set_random_seed(0)
    x, y = data()
    inputs = keras.Input((12,))
    hidden = ktn.TaskNeuronDense(32, "x**2 + sin(x)", activation="relu", basis_scale=1.0,
                                 basis_initializer="glorot_uniform")(inputs)
    sequence = keras.layers.Reshape((4, 8))(hidden)
    mixed = ktn.TaskNeuronEinsumDense("abc,cd->abd", (None, 6), formula="x**2",
                                      bias_axes="d", activation="relu",
                                      basis_initializer="glorot_uniform")(sequence)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(mixed))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return model, x, y


def quantized(model):
    with warnings.catch_warnings():  # Keras: InputLayer/Reshape have no quantize
        warnings.simplefilter("ignore")
        model.quantize("int8")
    return model


def test_int8_model_is_close_to_float_and_reloads_quantized(tmp_path):
    model, x, y = trained_model()
    reference = to_numpy(model.predict(x, verbose=0))
    float_path = str(tmp_path / "float.keras")
    model.save(float_path)
    quantized(model)
    for layer in model.layers:
        if isinstance(layer, (ktn.TaskNeuronDense, ktn.TaskNeuronEinsumDense)):
            assert layer.dtype_policy.name == "int8_from_float32"
            assert keras.backend.standardize_dtype(layer.kernel.dtype) == "int8"
            assert not layer.kernel.trainable
    out = to_numpy(model.predict(x, verbose=0))
    error = np.linalg.norm(out - reference) / np.linalg.norm(reference)
    assert 0 < error < 0.02, error  # quantized, and within 2 % of the float model
    path = str(tmp_path / "int8.keras")
    model.save(path)
    back = keras.models.load_model(path)
    assert back.layers[1].quantization_mode == "int8"
    np.testing.assert_allclose(to_numpy(back.predict(x, verbose=0)), out, rtol=1e-5, atol=1e-5)
    assert os.path.getsize(path) < os.path.getsize(float_path)
    # The other weights keep training; the int8 kernel stays.
    kernel = to_numpy(back.layers[1].kernel).copy()
    back.compile(keras.optimizers.Adam(0.01), "mse")
    history = back.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(to_numpy(back.layers[1].kernel), kernel)


def test_each_basis_block_gets_its_own_scale():
    """A block 100 times smaller than the other keeps its precision."""
    rng = np.random.default_rng(1)
    kernel = np.concatenate([rng.normal(size=(8, 5)), 0.01 * rng.normal(size=(8, 5))])
    q, scale = quantize_blocks(kernel, 2, 0, (0,))
    assert q.dtype == np.int8 and scale.shape == (2, 1, 5)
    back = (q.reshape(2, 8, 5) / scale).reshape(16, 5)
    small = np.abs(back[8:] - kernel[8:]).max() / np.abs(kernel[8:]).max()
    assert small <= 0.5 / 127 + 1e-6
    layer = ktn.TaskNeuronDense(5, "x**2", kernel_initializer="ones", basis_initializer="ones")
    layer.build((None, 8))
    layer.kernel.assign(kernel.astype("float32"))
    x = rng.normal(size=(64, 8)).astype("float32")
    reference = to_numpy(layer(x))
    layer.quantize("int8")
    assert tuple(layer.kernel_scale.shape) == (2, 1, 5)
    dequantized = to_numpy(layer.kernel_value("float32"))
    for rows in (slice(0, 8), slice(8, 16)):  # each block to half a step of its own scale
        step = np.abs(kernel[rows]).max() / 127
        np.testing.assert_allclose(dequantized[rows], kernel[rows], atol=0.5 * step + 1e-7)
    out = to_numpy(layer(x))  # the features are quantized per row too
    assert np.linalg.norm(out - reference) / np.linalg.norm(reference) < 0.02


def test_quantize_refuses_what_it_cannot_do():
    layer = ktn.TaskNeuronDense(3, "x**2")
    layer.build((None, 4))
    # Keras 3.5 itself refuses a mode it does not know; newer Keras asks us.
    with pytest.raises((NotImplementedError, ValueError), match="int4"):
        layer.quantize("int4")
    constants = ktn.TaskNeuronDense(3, "sin(1.3*x)", parameterization="constants")
    constants.build((None, 4))
    with pytest.raises(NotImplementedError, match="parameterization='constants'"):
        constants.quantize("int8")
    adapted = ktn.TaskNeuronDense(3, "x**2", lora_rank=2)
    adapted.build((None, 4))
    with pytest.raises(ValueError, match="LoRA enabled"):
        adapted.quantize("int8")
    layer.quantize("int8")
    with pytest.raises(ValueError, match="quantized to int8"):
        layer.enable_lora(2)
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="export goes through TensorFlow's engine: runs in the TensorFlow pass")
def test_an_int8_model_exports(tmp_path):
    import tensorflow as tf

    model, x, _ = trained_model()
    quantized(model)
    expected = to_numpy(model.predict(x[:8], verbose=0))
    path = str(tmp_path / "served")
    model.export(path, format="tf_saved_model")
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(served.serve(x[:8]).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_prune_leaves_an_int8_model_as_it_predicts():
    """Pruning zeroes float blocks; an int8 layer is left whole (prune the
    float model, then quantize), its weights copied in its own order."""
    model, x, _ = trained_model()
    quantized(model)
    expected = to_numpy(model.predict(x, verbose=0))
    pruned, removed = ktn.prune(model, x, tolerance=0.5)
    assert removed == {}
    np.testing.assert_allclose(to_numpy(pruned.predict(x, verbose=0)), expected,
                               rtol=1e-5, atol=1e-5)


# --- float8 (training mode) -------------------------------------------------------

FLOAT8_VARIABLES = ("inputs_scale", "inputs_amax_history", "kernel_scale",
                    "kernel_amax_history", "outputs_grad_scale", "outputs_grad_amax_history")


def float8_layers(model):
    return [layer for layer in model.layers
            if isinstance(layer, (ktn.TaskNeuronDense, ktn.TaskNeuronEinsumDense))]


def test_float8_trains_with_delayed_scaling_and_reloads(tmp_path):
    model, x, y = trained_model()
    reference = to_numpy(model.predict(x, verbose=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.quantize("float8")
    layers = float8_layers(model)
    assert len(layers) == 2
    for layer in layers:
        assert layer.dtype_policy.name == "float8_from_float32" and layer.kernel.trainable
        for name in FLOAT8_VARIABLES:
            assert getattr(layer, name).overwrite_with_gradient
    kernel = to_numpy(layers[0].kernel).copy()
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for layer in layers:  # the scales follow the amax histories; the kernel trains
        assert to_numpy(layer.inputs_scale) != 1.0 and to_numpy(layer.kernel_scale) != 1.0
        assert to_numpy(layer.inputs_amax_history).max() > 0
        assert to_numpy(layer.outputs_grad_amax_history).max() > 0
    assert np.abs(to_numpy(layers[0].kernel) - kernel).max() > 0
    out = to_numpy(model.predict(x, verbose=0))
    # The same weights without float8: a few percent apart.
    float_model, _, _ = trained_model()
    for source, target in zip(model.layers, float_model.layers):
        target.set_weights([w for v, w in zip(source.weights, source.get_weights())
                            if v.name not in FLOAT8_VARIABLES])
    float_out = to_numpy(float_model.predict(x, verbose=0))
    error = np.linalg.norm(out - float_out) / np.linalg.norm(float_out)
    assert 0 < error < 0.1, error
    assert np.linalg.norm(out - reference) > 0  # it trained on
    path = str(tmp_path / "float8.keras")
    model.save(path)
    # compile=False: Keras 3.5's own Dense head orders its float8 variables
    # differently when built quantized, so its optimizer state does not reload.
    back = keras.models.load_model(path, compile=False)
    assert [layer.quantization_mode for layer in float8_layers(back)] == ["float8", "float8"]
    np.testing.assert_allclose(to_numpy(back.predict(x, verbose=0)), out, rtol=1e-6, atol=1e-6)
    back.compile(keras.optimizers.Adam(1e-3), "mse")
    back.fit(x, y, epochs=1, batch_size=32, verbose=0)  # and trains on after reloading


def test_float8_x_layer_is_kerass_float8_dense():
    """With formula "x" the layer is Keras's Dense in float8: the same
    outputs, and the same scales after the same training steps."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.normal(size=(64, 3)).astype("float32")
    kernel = np.arange(18, dtype="float32").reshape(6, 3) / 9
    ours = ktn.TaskNeuronDense(3, "x")
    theirs = keras.layers.Dense(3)
    models = []
    for layer in (ours, theirs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((6,)), layer])
        layer.set_weights([kernel, np.zeros(3, "float32")])
        layer.quantize("float8")
        model.compile(keras.optimizers.SGD(0.0), "mse")  # the scales move, the weights not
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        models.append(model)
    for name in ("inputs_scale", "kernel_scale", "outputs_grad_scale"):
        np.testing.assert_allclose(to_numpy(getattr(ours, name)), to_numpy(getattr(theirs, name)),
                                   rtol=1e-6)
    np.testing.assert_allclose(to_numpy(models[0](x)), to_numpy(models[1](x)), rtol=1e-6,
                               atol=1e-6)
    float_out = x @ kernel
    assert np.abs(to_numpy(models[0](x)) - float_out).max() > 0  # float8 does round


def test_float8_refuses_lora_and_a_second_quantize():
    layer = ktn.TaskNeuronDense(3, "x**2")
    layer.build((None, 4))
    layer.quantize("float8")
    with pytest.raises(ValueError, match="quantized to float8"):
        layer.enable_lora(2)
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")
