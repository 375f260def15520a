"""Serving: a model holding every task-neuron layer, exported, gives the Keras
predictions.

Which backend each test needs: all three export from a TensorFlow-backend
model (``model.export`` writes a TF SavedModel from TensorFlow's engine, TFLite
converts that SavedModel, ONNX goes through ``tf2onnx``), so they run in the
TensorFlow pass of the suite; the other passes skip them saying so. ONNX needs
``tf2onnx`` and ``onnxruntime`` (both in the ``test`` extra).
"""

import keras
import numpy as np
import pytest

import keras_taskneurons as ktn
from keras_taskneurons.layers import dense as dense_module
from tests.helpers import to_numpy

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="export goes through TensorFlow's engine: runs in the TensorFlow pass",
)

SHAPES = {"sequence": (10, 2), "image": (6, 6, 2), "volume": (4, 4, 4, 1), "table": (2,)}


def every_layer_model():
    """Conv1D/2D/3D, Conv2DTranspose, EinsumDense and the dense layer in all
    three parameterizations,
    every basis block non-zero (the layers start as their plain kin); an
    input map (warped per channel) and bases sized by their spread per channel on the
    Conv1D, running ranges (statistics set) on the dense
    layers, interaction terms on a dense and the transposed convolution."""
    keras.utils.set_random_seed(0)
    grow = dict(basis_initializer="glorot_uniform", activation="tanh")
    inputs = {name: keras.Input(shape, name=name) for name, shape in SHAPES.items()}
    # Per-column domains: the second column's clips the sample inputs; each
    # basis sized by its spread on each column's sketch (a factor per channel).
    # A piecewise-linear warp per channel first (scaling="quantile"), held
    # beyond its knots, which the sample inputs reach past.
    mapped = ktn.InputMap([0.5, -0.2], [2.0, 0.7], (-1.5, 1.5), low=[-1.2, -1.5],
                          high=[1.5, 0.9], quantiles=[[-1.0, 0.0, 0.4, 1.2], [-0.1, 0.0, 0.1, 0.8]],
                          warp_knots=[[-1.0, 0.0, 1.0], [-0.5, 0.2, 0.6]],
                          warp_values=[[-1.0, 0.2, 1.4], [-1.0, 0.0, 1.0]])
    sequence = ktn.TaskNeuronConv1D(3, 3, formula="x**2 + sin(x)", padding="causal",
                                    input_map=mapped, normalize_bases="spread",
                                    **grow)(inputs["sequence"])
    image = ktn.TaskNeuronConv2D(3, 3, formula="x**3 + x", strides=2, padding="same", **grow)(
        inputs["image"])
    branches = [
        ktn.TaskNeuronEinsumDense("abc,cd->abd", (None, 4), bias_axes="d",
                                  formula="cos(x) + x", **grow)(sequence),
        ktn.TaskNeuronConv2DTranspose(2, 3, strides=2, padding="same", formula="x**2 + x",
                                      interaction_rank=1, **grow)(image),
        ktn.TaskNeuronConv3D(2, 2, formula="exp(-x**2) + x", **grow)(inputs["volume"]),
        # the same warped map on a table's two columns; the periodic preset
        ktn.TaskNeuronEmbedding(3, "periodic", copies=4, input_map=mapped, seed=0)(
            inputs["table"]),
    ]
    hidden = keras.layers.Concatenate()([keras.layers.Flatten()(b) for b in branches])
    # 172 inputs, 40 units: "constants" works through 4 slices of the inputs.
    hidden = ktn.TaskNeuronDense(40, "sin(1.3*x + 0.2) + x", parameterization="constants",
                                 **grow)(hidden)
    hidden = ktn.TaskNeuronDense(6, "x**2 - 0.5*x", interaction_rank=2, **grow)(hidden)
    outputs = ktn.TaskNeuronDense(2, "sin(0.7*x + 0.1) + x**2",
                                  parameterization="input_constants",
                                  basis_initializer="glorot_uniform")(hidden)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if getattr(layer, "range_mean", None) is not None:
            layer.range_count.assign(3.0)
            layer.range_mean.assign(rng.normal(size=layer.range_mean.shape).astype("float32"))
            layer.range_variance.assign(
                rng.uniform(0.1, 1, layer.range_variance.shape).astype("float32"))
        if getattr(layer, "interaction_kernel", None) is not None:  # the V blocks start at 0
            layer.interaction_kernel.assign(
                0.3 * rng.normal(size=layer.interaction_kernel.shape).astype("float32"))
    return model


def sample_inputs(n=4):
    rng = np.random.default_rng(0)
    return {name: rng.uniform(-1.5, 1.5, (n, *shape)).astype("float32")
            for name, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = every_layer_model()
    x = sample_inputs()
    path = str(tmp_path_factory.mktemp("export") / "saved_model")
    model.export(path, format="tf_saved_model")
    return model, x, to_numpy(model(x)), path


def test_the_model_holds_every_task_neuron_layer():
    model = every_layer_model()
    kinds = {type(layer).__name__ for layer in model.layers}
    (constants,) = [layer for layer in model.layers
                    if getattr(layer, "parameterization", None) == "constants"]
    assert constants.input_dim > dense_module.CHUNK_ELEMENTS // constants.units  # sliced
    assert {"TaskNeuronConv1D", "TaskNeuronConv2D", "TaskNeuronConv3D",
            "TaskNeuronDense", "TaskNeuronEmbedding"} <= kinds
    dense = [layer for layer in every_layer_model().layers
             if isinstance(layer, ktn.TaskNeuronDense)]
    assert {layer.parameterization for layer in dense} == {
        "terms", "constants", "input_constants"}
    assert {layer.basis_range for layer in dense} == {"running"}
    conv1d = model.layers[[type(la).__name__ for la in model.layers].index("TaskNeuronConv1D")]
    mapped = conv1d.input_map
    assert mapped is not None and mapped.low is not None
    factors = conv1d.input_multipliers(2)[1:]  # one per channel, and they differ
    assert np.shape(conv1d.multipliers[1]) == (2,) and np.all(factors[:, 0] != factors[:, 1])
    u = mapped.transform(sample_inputs()["sequence"])
    assert np.any(u > mapped.high) and np.any(u < mapped.high.max())  # clipping is exercised


def test_tf_saved_model_gives_the_keras_predictions(exported):
    import tensorflow as tf

    _, x, expected, path = exported
    loaded = tf.saved_model.load(path)  # keep it referenced: it owns the variables
    # The serving signature, as TensorFlow Serving calls it: inputs by name.
    outputs = loaded.signatures["serving_default"](
        **{name: tf.constant(value) for name, value in x.items()})
    (served,) = outputs.values()
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_tflite_gives_the_keras_predictions(exported):
    import tensorflow as tf

    _, x, expected, path = exported
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    (signature,) = interpreter.get_signature_list()  # the exported `serve` endpoint
    runner = interpreter.get_signature_runner(signature)
    # One example at a time: the converted model's batch size is fixed at 1.
    for row in range(len(expected)):
        outputs = runner(**{name: value[row:row + 1] for name, value in x.items()})
        (served,) = outputs.values()
        np.testing.assert_allclose(served, expected[row:row + 1], rtol=1e-5, atol=1e-5)


KERAS_VERSION = tuple(int(part) for part in keras.__version__.split(".")[:2])


@pytest.mark.skipif(KERAS_VERSION < (3, 8),
                    reason="model.export(format='onnx') exists from Keras 3.8 on")
def test_onnx_gives_the_keras_predictions(exported, tmp_path):
    pytest.importorskip("tf2onnx", reason="tf2onnx is part of the `test` extra")
    onnxruntime = pytest.importorskip("onnxruntime", reason="part of the `test` extra")

    model, x, expected, _ = exported
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx")
    session = onnxruntime.InferenceSession(path)
    feeds = {item.name: x[item.name] for item in session.get_inputs()}
    (served,) = session.run(None, feeds)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)
