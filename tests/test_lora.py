"""LoRA on the task-neuron layers (``layers/lora.py``): the kernel frozen, a
low-rank update trained, saved and reloaded, for every kind that has it."""

import keras
import numpy as np
import pytest

from keras_taskneurons import (
    TaskNeuronConv1DTranspose, TaskNeuronConv2D, TaskNeuronDense, TaskNeuronEinsumDense,
)
from tests.helpers import to_numpy


def _random(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("cls, args, shape", [
    (TaskNeuronDense, (4,), (5,)),
    (TaskNeuronEinsumDense, ("abc,cd->abd", (None, 4)), (3, 5)),
    (TaskNeuronConv2D, (4, 3), (5, 5, 2)),
    (TaskNeuronConv1DTranspose, (3, 2), (6, 2)),
])
def test_lora_freezes_the_kernel_keeps_the_output_and_reloads(cls, args, shape, tmp_path):
    extra = {"bias_axes": "d"} if cls is TaskNeuronEinsumDense else {}
    x = _random((16, *shape), 6)
    layer = cls(*args, formula="x**2 + sin(x)", activation="tanh", **extra)
    model = keras.Sequential([keras.Input(shape), layer, keras.layers.Flatten(), keras.layers.Dense(1)])
    y = np.sin(x).reshape(16, -1).sum(axis=1, keepdims=True)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    before = to_numpy(model.predict(x, verbose=0))
    kernel = to_numpy(layer.kernel)
    layer.enable_lora(2)
    np.testing.assert_allclose(to_numpy(model.predict(x, verbose=0)), before, rtol=1e-6, atol=1e-6)
    assert [v.name for v in layer.trainable_variables] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=3, verbose=0)
    np.testing.assert_array_equal(to_numpy(layer.kernel), kernel)  # frozen
    tuned = to_numpy(model.predict(x, verbose=0))
    assert np.abs(tuned - before).max() > 1e-3  # the update trained
    path = str(tmp_path / "lora.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    again = reloaded.layers[0]
    assert again.lora_enabled and again.get_config()["lora_rank"] == 2
    np.testing.assert_allclose(to_numpy(reloaded.predict(x, verbose=0)), tuned, rtol=1e-5, atol=1e-5)
    # The reloaded adapter still learns (Keras's Dense zeroes both factors).
    reloaded.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    reloaded.fit(x, y, epochs=2, verbose=0)
    assert np.abs(to_numpy(reloaded.predict(x, verbose=0)) - tuned).max() > 1e-4
    with pytest.raises(ValueError, match="already enabled"):
        again.enable_lora(2)
    with pytest.raises(ValueError, match="rank=0"):
        cls(*args, formula="x", **extra).enable_lora(0)
    with pytest.raises(ValueError, match="not built"):
        cls(*args, formula="x", **extra).enable_lora(2)
