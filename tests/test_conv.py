"""TaskNeuronConv1D/2D/3D: exactness against Keras's convolutions, the basis
layout, the shared layer checks, saving across processes and backends."""

import keras
import numpy as np
import pytest

import keras_taskneurons
from keras_taskneurons import Formula, TaskNeuronConv1D, TaskNeuronConv2D, TaskNeuronConv3D
from tests.helpers import (
    INSTALLED_BACKENDS, assert_keras_twin, load_in_subprocess, run_layer_checks, to_numpy,
)

CONVS = {1: (TaskNeuronConv1D, keras.layers.Conv1D),
         2: (TaskNeuronConv2D, keras.layers.Conv2D),
         3: (TaskNeuronConv3D, keras.layers.Conv3D)}
FORMATS = ("channels_last", "channels_first")
VARIANTS = [dict(), dict(strides=2, padding="same"), dict(dilation_rate=2, padding="same"),
            dict(groups=2), dict(kernel_size=1, use_bias=False)]


def inputs(rank, data_format, channels=4, size=7, batch=2, seed=0):
    spatial = (size,) * rank
    shape = (batch, *spatial, channels) if data_format == "channels_last" else (
        batch, channels, *spatial)
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(
    "variant", VARIANTS, ids=lambda v: ",".join(f"{k}={v}" for k, v in v.items()) or "plain")
def test_formula_x_is_the_keras_convolution(rank, data_format, variant):
    ours, theirs = CONVS[rank]
    kwargs = {"kernel_size": 3, "data_format": data_format, "activation": "relu", **variant}
    x = inputs(rank, data_format)
    layer = ours(6, formula="x", **kwargs)
    conv = theirs(6, **kwargs)
    conv(x)
    layer.build(x.shape)
    assert [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in conv.weights]
    layer.set_weights(conv.get_weights())
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(conv(x)))
    assert layer.compute_output_shape(x.shape) == conv.compute_output_shape(x.shape)


def test_causal_padding_is_the_keras_one():
    x = inputs(1, "channels_last")
    layer = TaskNeuronConv1D(3, 3, padding="causal", dilation_rate=2, formula="x")
    conv = keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2)
    conv(x)
    layer.build(x.shape)
    layer.set_weights(conv.get_weights())
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(conv(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_new_layer_starts_as_the_plain_convolution(rank):
    ours, theirs = CONVS[rank]
    seeded = keras.initializers.GlorotUniform(seed=5)
    x = inputs(rank, "channels_last")
    layer = ours(4, 3, formula="x**2 + sin(x)", kernel_initializer=seeded)
    conv = theirs(4, 3, kernel_initializer=seeded)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(conv(x)), rtol=1e-5, atol=1e-5)
    assert sorted(str(b) for b in layer.bases) == ["sin(x)", "x", "x**2"]
    kernel = to_numpy(layer.kernel)
    assert kernel.shape == (3,) * rank + (3 * 4, 4)
    assert np.all(kernel[..., 4:, :] == 0)  # the other basis blocks start at zero


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("groups", [1, 2])
def test_one_convolution_over_the_basis_features_group_by_group(data_format, groups):
    """The layer equals a plain convolution of the features laid out
    [g_1(group 1), g_2(group 1), g_1(group 2), g_2(group 2)], with the
    layer's kernel: each basis of a channel stays in its channel's group."""
    x = inputs(2, data_format, channels=4)
    layer = TaskNeuronConv2D(6, 3, groups=groups, data_format=data_format,
                             formula="0.5*x**2 + x", basis_initializer="glorot_uniform",
                             basis_range="clip")
    out = to_numpy(layer(x))
    axis = -1 if data_format == "channels_last" else 1
    m = layer.multipliers[1]
    bases = [x, m * np.clip(x, -1, 1) ** 2]
    per_group = [np.split(b, groups, axis=axis) for b in bases]
    features = np.concatenate([per_group[k][g] for g in range(groups) for k in range(2)], axis=axis)
    plain = keras.layers.Conv2D(6, 3, groups=groups, data_format=data_format)
    plain(features)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(out, to_numpy(plain(features)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layer",
    [(TaskNeuronConv1D, (4, 3), (9, 2)), (TaskNeuronConv2D, (3, 3), (6, 6, 2)),
     (TaskNeuronConv2D, (4, 2), (2, 6, 6)), (TaskNeuronConv3D, (2, 2), (4, 4, 4, 2))],
    ids=["conv1d", "conv2d", "conv2d-channels_first", "conv3d"],
)
@pytest.mark.parametrize("formula", ["x**2 - 0.5*x", "sin(1.3*x + 0.2) + exp(-x**2)"])
def test_layer_configuration(layer, formula, tmp_path):
    kwargs = dict(formula=formula, activation="tanh", padding="same")
    if layer[2][0] == 2:  # the channels_first case
        kwargs["data_format"] = "channels_first"
    run_layer_checks(kwargs, tmp_path, layer=layer)


@pytest.mark.once  # starts every backend itself: the TensorFlow pass runs it
def test_saved_layers_load_in_new_processes_and_other_backends(tmp_path):
    """Convolutions, transposed convolutions, einsum and recurrent layers: one
    new process per backend loads them all (a process per layer kind would
    cost a minute of CI per backend)."""
    cases = []
    for index, (first, shape) in enumerate([
        (TaskNeuronConv2D(4, 3, formula="x**2 + x", activation="relu", strides=2,
                          padding="same"), (6, 6, 3)),
        (TaskNeuronConv1D(3, 2, formula="sin(1.3*x) + x", padding="causal"), (9, 2)),
        (TaskNeuronConv3D(2, 2, formula="x**3", data_format="channels_first"), (2, 4, 4, 4)),
        (keras_taskneurons.TaskNeuronConv2DTranspose(2, 3, strides=2, formula="x**2 - x"),
         (3, 3, 2)),
        (keras_taskneurons.TaskNeuronEinsumDense("abc,cd->abd", (None, 3), bias_axes="d",
                                                 formula="cos(x) + x", interaction_rank=1),
         (4, 5)),
        (keras_taskneurons.TaskNeuronLSTM(3, formula="sin(x) + x", return_sequences=True,
                                          interaction_rank=2), (5, 2)),
        (keras_taskneurons.TaskNeuronGRU(3, formula="x**2 + x"), (5, 2)),
    ]):
        keras.utils.set_random_seed(index)
        model = keras.Sequential(
            [keras.Input(shape), first, keras.layers.Flatten(), keras.layers.Dense(1)])
        rng = np.random.default_rng(index)
        for variable in first.trainable_variables:  # every basis block non-zero
            variable.assign(0.3 * rng.normal(size=variable.shape).astype("float32"))
        x = rng.uniform(-1.5, 1.5, size=(4, *shape)).astype("float32")
        path = str(tmp_path / f"conv{index}.keras")
        model.save(path)
        cases.append((path, x, to_numpy(model.predict(x, verbose=0))))
    for backend in INSTALLED_BACKENDS:
        assert load_in_subprocess(cases, tmp_path, backend=backend).startswith("OK 7")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(filters=0), ValueError, "filters=0"),
        (dict(filters=6, groups=4), ValueError, "groups=4, filters=6"),
        (dict(kernel_size=(3, 0)), ValueError, r"kernel_size=\(3, 0\)"),
        (dict(kernel_size=(3, 3, 3)), ValueError, r"kernel_size=\(3, 3, 3\)"),
        (dict(strides="2"), ValueError, "strides='2'"),
        (dict(padding="causal"), ValueError, "padding='causal'"),
        (dict(padding="full"), ValueError, "padding='full'"),
        (dict(data_format="NHWC"), ValueError, "data_format='NHWC'"),
        (dict(strides=2, dilation_rate=2), ValueError, "not compatible"),
        (dict(basis_range="clipped"), ValueError, "basis_range=.clipped."),
        (dict(use_bias="no"), TypeError, "use_bias='no'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, error, message):
    arguments = dict(filters=4, kernel_size=3, formula="x**2")
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        TaskNeuronConv2D(**arguments)


def test_a_formula_passed_positionally_is_named_in_the_error():
    from keras_taskneurons import TaskNeuronConv1DTranspose

    with pytest.raises(TypeError, match=r"strides='x\*\*2': pass it as formula='x\*\*2'"):
        TaskNeuronConv2D(16, 3, "x**2")
    with pytest.raises(TypeError, match="TaskNeuronConv1DTranspose takes its formula as a keyword"):
        TaskNeuronConv1DTranspose(16, 3)


def test_inputs_of_the_wrong_rank_or_channels_are_refused():
    layer = TaskNeuronConv2D(4, 3, formula="x**2")
    with pytest.raises(ValueError, match="ndim|rank"):
        layer(np.ones((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="must have rank 4"):
        TaskNeuronConv2D(4, 3, formula="x").build((2, 5, 5, 5, 3))
    with pytest.raises(ValueError, match="evenly divisible"):
        TaskNeuronConv2D(4, 3, groups=2, formula="x").build((2, 5, 5, 3))
    with pytest.raises(ValueError, match="channel dimension"):
        TaskNeuronConv2D(4, 3, formula="x").build((2, 5, 5, None))


def test_formula_is_keyword_only_and_required():
    with pytest.raises(TypeError):
        TaskNeuronConv2D(4, 3, "x**2")  # the third positional argument is strides
    with pytest.raises(TypeError):
        TaskNeuronConv2D(4, 3)


def _resnet_block(x, filters, strides, padding, formula):
    """Task-based convolution, batch normalization, shortcut. Returns the
    block's output and the two branches' shapes before they are added."""
    y = TaskNeuronConv2D(filters, 3, strides=strides, padding=padding, formula=formula)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = TaskNeuronConv2D(filters, 3, padding="same", formula=formula)(y)
    y = keras.layers.BatchNormalization()(y)
    # A valid 3x3 convolution drops a one-pixel border: the shortcut drops it too.
    shortcut = keras.layers.Cropping2D(1)(x) if padding == "valid" else x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = TaskNeuronConv2D(filters, 1, strides=strides, formula="x")(shortcut)
    shapes = (tuple(y.shape), tuple(shortcut.shape))
    return keras.layers.Activation("relu")(keras.layers.Add()([y, shortcut])), shapes


@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("size", [7, 8])
def test_resnet_block_output_matches_its_shortcut(strides, padding, size):
    x = keras.Input((size, size, 3))
    y, (main, shortcut) = _resnet_block(x, 6, strides, padding, "x**2 + x")
    assert main == shortcut
    model = keras.Model(x, y)
    data = inputs(2, "channels_last", channels=3, size=size, batch=3)
    out = to_numpy(model(data, training=True))
    assert out.shape == (3, *main[1:])
    assert np.all(np.isfinite(out))


def test_factory_builds_convolutions_with_the_shared_defaults():
    make = keras_taskneurons.layer_factory("x**2 + x", activation="relu", basis_scale=0.2)
    layer = make.conv2d(5, 3, padding="same")
    assert isinstance(layer, TaskNeuronConv2D)
    assert layer.formula == Formula("x**2 + x") and layer.basis_scale == 0.2
    assert layer.activation is keras.activations.relu and layer.padding == "same"
    assert isinstance(make.conv1d(2, 3), TaskNeuronConv1D)
    assert isinstance(make.conv3d(2, 3, activation=None), TaskNeuronConv3D)
    dense_only = keras_taskneurons.layer_factory("x**2", parameterization="constants")
    with pytest.raises(ValueError, match="parameterization"):
        dense_only.conv2d(2, 3)


TRANSPOSED = {1: (keras_taskneurons.TaskNeuronConv1DTranspose, keras.layers.Conv1DTranspose),
              2: (keras_taskneurons.TaskNeuronConv2DTranspose, keras.layers.Conv2DTranspose),
              3: (keras_taskneurons.TaskNeuronConv3DTranspose, keras.layers.Conv3DTranspose)}
TRANSPOSED_VARIANTS = [dict(), dict(strides=2, padding="same"), dict(strides=2, output_padding=1),
                       dict(dilation_rate=2, padding="SAME"), dict(strides=3, use_bias=False)]


@pytest.mark.parametrize(
    "rank, data_format, variant",
    # Every variant in both data formats, the ranks taking turns (all 30
    # combinations cost CI a minute per backend and find nothing more).
    [(1 + (i + j) % 3, data_format, variant) for i, variant in enumerate(TRANSPOSED_VARIANTS)
     for j, data_format in enumerate(FORMATS)],
    ids=lambda v: v if isinstance(v, (int, str)) else ",".join(f"{k}={x}" for k, x in v.items())
    or "plain")
def test_formula_x_is_the_keras_transposed_convolution(rank, data_format, variant):
    ours, theirs = TRANSPOSED[rank]
    kwargs = {"kernel_size": 3, "data_format": data_format, "activation": "relu", **variant}
    x = inputs(rank, data_format, size=5)
    assert_keras_twin(ours(6, formula="x", **kwargs), theirs(6, **kwargs), x)


def test_transposed_bases_are_blocks_along_the_last_kernel_axis(tmp_path):
    ours, theirs = TRANSPOSED[2]
    x = inputs(2, "channels_last", size=5)
    layer = ours(3, 3, strides=2, padding="same", formula="x**2 + sin(x)", basis_range="clip")
    layer.build(x.shape)
    assert tuple(layer.kernel.shape) == (3, 3, 3, 12)
    kernel = np.random.default_rng(3).normal(size=layer.kernel.shape).astype("float32")
    layer.kernel.assign(kernel)
    reference = 0
    for k, (basis, m) in enumerate(zip(layer.bases, layer.multipliers)):
        conv = theirs(3, 3, strides=2, padding="same", use_bias=False)
        conv.build(x.shape)
        conv.kernel.assign(kernel[..., 4 * k:4 * (k + 1)])
        values = x if str(basis) == "x" else np.clip(x, -1, 1)
        reference = reference + to_numpy(conv((m * basis.evaluate(values)).astype("float32")))
    np.testing.assert_allclose(to_numpy(layer(x)), reference, rtol=1e-5, atol=1e-5)
    run_layer_checks(dict(formula="x**2 - sin(x)", strides=2, padding="same"), tmp_path,
                     layer=(ours, (3, 3), (4, 4, 2)))


def test_keras_behaviours_padding_case_empty_outputs_and_output_padding():
    assert TaskNeuronConv2D(4, 3, padding="SAME", formula="x").padding == "same"
    with pytest.raises(ValueError, match=r"would give an empty output.*input_shape=\(1, 2, 2, 3\)"):
        TaskNeuronConv2D(4, 3, formula="x").build((1, 2, 2, 3))
    TaskNeuronConv2D(4, 3, padding="same", formula="x").build((1, 2, 2, 3))  # not empty
    with pytest.raises(ValueError, match="output_padding"):
        keras_taskneurons.TaskNeuronConv2DTranspose(4, 3, strides=2, output_padding=2, formula="x")
    with pytest.raises(ValueError, match="padding='causal'"):
        keras_taskneurons.TaskNeuronConv1DTranspose(4, 3, padding="causal", formula="x")


def test_factory_takes_each_kind_its_own_defaults():
    make = keras_taskneurons.layer_factory("x**2 + x", padding="same", activation="relu")
    assert make(3).activation is keras.activations.relu  # Dense takes no padding
    assert make.conv2d(4, 3).padding == "same"
    assert make.conv1d_transpose(4, 3, strides=2).padding == "same"
    with pytest.raises(TypeError, match="paddin"):
        keras_taskneurons.layer_factory("x", paddin="same")
    with pytest.raises(ValueError, match="padding='full'"):
        keras_taskneurons.layer_factory("x", padding="full")
