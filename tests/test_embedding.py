"""TaskNeuronEmbedding: every input in copies at trainable inner constants."""

import math

import keras
import numpy as np
import pytest

import keras_taskneurons as ktn
from keras_taskneurons.layers.embedding import PRESETS
from tests.helpers import run_layer_checks, to_numpy

EMBEDDING = (ktn.TaskNeuronEmbedding, (4,), (3,))


@pytest.mark.parametrize("kwargs", [
    dict(formula="periodic", copies=5, seed=0),
    dict(formula="rbf", copies=4, lite=True),
    dict(formula="hinge", copies=3, activation=None),
    dict(formula="polynomial", copies=2),
    dict(formula="x**2 + sin(1.3*x)", copies=3, use_bias=False),
], ids=["periodic", "rbf-lite", "hinge", "polynomial", "formula"])
def test_the_shared_layer_checks(kwargs, tmp_path):
    run_layer_checks(kwargs, tmp_path, layer=EMBEDDING)


def test_the_periodic_preset_is_mlp_plr_given_the_same_weights():
    """Gorishniy et al.'s PLR, written out: ``v_i = [cos(2π c_i x_i),
    sin(2π c_i x_i)]``, a linear map per feature, ReLU, flattened."""
    rng = np.random.default_rng(1)
    n, d, k, dim = 7, 3, 4, 5
    x = rng.normal(size=(n, d)).astype("float32")
    c = rng.normal(size=(d, k))
    W = rng.normal(size=(d, 2 * k, dim))
    bias = rng.normal(size=(d, dim))
    layer = ktn.TaskNeuronEmbedding(dim, "periodic", copies=k)
    layer.build((None, d))
    layer.inner_scale.assign((2 * np.pi * c).astype("float32"))
    layer.inner_shift.assign(np.zeros((d, k), "float32"))
    layer.kernel.assign(W.astype("float32"))
    layer.bias.assign(bias.astype("float32"))
    v = np.concatenate([np.cos(2 * np.pi * c * x[:, :, None]),
                        np.sin(2 * np.pi * c * x[:, :, None])], axis=-1)
    expected = np.maximum(np.einsum("nfk,fkd->nfd", v, W) + bias, 0).reshape(n, d * dim)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4)


def test_formula_x_with_one_copy_is_a_linear_map_per_input():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3)).astype("float32")
    layer = ktn.TaskNeuronEmbedding(2, "x", copies=1, activation=None)
    out = to_numpy(layer(x)).reshape(6, 3, 2)
    a, b = to_numpy(layer.inner_scale)[:, 0], to_numpy(layer.inner_shift)[:, 0]
    W, bias = to_numpy(layer.kernel)[:, 0, :], to_numpy(layer.bias)
    np.testing.assert_allclose(out, x[:, :, None] * (a[:, None] * W) + (b[:, None] * W + bias),
                               rtol=1e-5, atol=1e-5)


def test_initial_inner_constants_follow_the_placement():
    layer = ktn.TaskNeuronEmbedding(4, "periodic", copies=2000, sigma=0.5, seed=3)
    layer.build((None, 2))
    scale = to_numpy(layer.inner_scale)
    assert np.all(to_numpy(layer.inner_shift) == 0)
    assert abs(scale.std() / (2 * math.pi * 0.5) - 1) < 0.05  # PLR: c ~ N(0, σ²)
    again = ktn.TaskNeuronEmbedding(4, "periodic", copies=2000, sigma=0.5, seed=3)
    again.build((None, 2))
    np.testing.assert_array_equal(to_numpy(again.inner_scale), scale)
    rbf = ktn.TaskNeuronEmbedding(4, "rbf", copies=8, domain=(-2.0, 2.0))
    rbf.build((None, 1))
    centres = -to_numpy(rbf.inner_shift)[0] / to_numpy(rbf.inner_scale)[0]
    np.testing.assert_allclose(centres, np.linspace(-1.75, 1.75, 8), atol=1e-6)
    shifted = ktn.TaskNeuronEmbedding(4, "sin(3*x)", copies=4, sigma=1.0, domain=(-2.0, 2.0))
    assert shifted.placement == "shifts"  # a formula keeps its own scale
    shifted.build((None, 1))
    np.testing.assert_allclose(to_numpy(shifted.inner_scale), np.ones((1, 4)))
    np.testing.assert_allclose(-to_numpy(shifted.inner_shift)[0], [-1.5, -0.5, 0.5, 1.5],
                               atol=1e-6)


def test_with_an_input_map_the_centres_cover_each_column_s_domain():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.normal(size=500), rng.exponential(size=500)])
    mapped = ktn.InputMap.fit(X, "standard")
    low, high = mapped.column_domains()
    assert not np.allclose(low[0], low[1])  # a skewed column's domain is its own
    layer = ktn.TaskNeuronEmbedding(2, "rbf", copies=4, input_map=mapped)
    layer.build((None, 2))
    centres = -to_numpy(layer.inner_shift) / to_numpy(layer.inner_scale)
    for i in range(2):
        step = (high[i] - low[i]) / 4
        np.testing.assert_allclose(centres[i], low[i] + step * (np.arange(4) + 0.5), rtol=1e-5)
    assert layer.get_config()["domain"] is None  # the rebuilt layer places them alike
    given = ktn.TaskNeuronEmbedding(2, "rbf", copies=4, input_map=mapped, domain=(-1.0, 1.0))
    given.build((None, 2))
    np.testing.assert_allclose(-to_numpy(given.inner_shift) / to_numpy(given.inner_scale),
                               np.tile([-0.75, -0.25, 0.25, 0.75], (2, 1)), atol=1e-6)


def test_with_the_search_map_the_copies_see_the_searched_values():
    rng = np.random.default_rng(4)
    X = (rng.normal(size=(300, 2)) * [1.0, 100.0] + [0.0, 500.0]).astype("float32")
    mapped = ktn.InputMap.fit(X, "minmax")
    layer = ktn.TaskNeuronEmbedding(3, "x", copies=1, activation=None, input_map=mapped)
    plain = ktn.TaskNeuronEmbedding(3, "x", copies=1, activation=None)
    u = mapped.transform(X).astype("float32")
    plain.build((None, 2))
    layer.build((None, 2))
    for weight in ("inner_scale", "inner_shift", "kernel", "bias"):
        getattr(plain, weight).assign(getattr(layer, weight))
    np.testing.assert_allclose(to_numpy(layer(X)), to_numpy(plain(u)), rtol=1e-4, atol=1e-4)
    reloaded = ktn.TaskNeuronEmbedding.from_config(layer.get_config())
    assert reloaded.input_map == mapped


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(dim=0), ValueError, "dim=0"),
    (dict(copies=0), ValueError, "copies=0"),
    (dict(sigma=-1.0), ValueError, "sigma=-1.0"),
    (dict(placement="grid"), ValueError, "placement='grid'"),
    (dict(lite=1), TypeError, "lite=1"),
    (dict(formula="y**2"), ValueError, "unknown name 'y'"),
    (dict(domain=(1, -1)), ValueError, "domain="),
    (dict(seed=1.5), TypeError, "seed=1.5"),
])
def test_bad_arguments_name_the_value(kwargs, error, message):
    arguments = dict(dim=4, formula="periodic")
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        ktn.TaskNeuronEmbedding(**arguments)


def test_every_preset_is_a_formula_and_a_placement():
    for name, (formula, placement) in PRESETS.items():
        layer = ktn.TaskNeuronEmbedding(2, name, copies=3)
        assert layer.formula == ktn.Formula(formula) and layer.placement == placement
        assert layer.get_config()["formula"] == name
    model = keras.Sequential([keras.Input((5,)), ktn.TaskNeuronEmbedding(8, "periodic"),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    assert model.output_shape == (None, 1)  # MLP-PLR in one line


def test_the_factory_builds_an_embedding_of_its_formula_holding_the_map():
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(100, 2)) * [1.0, 50.0]).astype("float32")
    mapped = ktn.InputMap.fit(X, "minmax")
    make = ktn.layer_factory("sin(x) + x**2", input_map=mapped, activation="relu",
                             parameterization="terms")
    first = make.embedding(4, first=True, copies=3)
    assert isinstance(first, ktn.TaskNeuronEmbedding) and first.input_map == mapped
    assert first.formula == ktn.Formula("sin(x) + x**2") and first.copies == 3
    assert first.domain == mapped.domain
    hidden = make.embedding(4)
    assert hidden.input_map is None
    assert tuple(to_numpy(first(X)).shape) == (100, 8)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_in_float32_and_casts_the_output(policy):
    x = np.random.default_rng(6).normal(size=(8, 3)).astype("float32")
    reference = ktn.TaskNeuronEmbedding(4, "periodic", copies=5, seed=0)
    # Keras hands the layer its inputs in the 16-bit compute dtype; from there on it is float32.
    arrived = keras.ops.cast(keras.ops.cast(x, policy.split("_")[1]), "float32")
    expected = to_numpy(reference(arrived))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        layer = ktn.TaskNeuronEmbedding(4, "periodic", copies=5, seed=0)
        layer.build((None, 3))
        for weight in ("inner_scale", "inner_shift", "kernel", "bias"):
            getattr(layer, weight).assign(getattr(reference, weight))
        out = layer(x)
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(w.dtype == "float32" for w in layer.weights)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    np.testing.assert_allclose(to_numpy(out).astype("float32"), expected, rtol=2e-2, atol=2e-2)


def test_function_grids_read_the_layer_s_own_values_and_plot_one_panel_per_input():
    rng = np.random.default_rng(7)
    X = (rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1]).astype("float32")
    mapped = ktn.InputMap.fit(X, "standard")
    keras.utils.set_random_seed(0)  # the maps' draw: the same curves in any test order
    layer = ktn.TaskNeuronEmbedding(4, "rbf", copies=5, input_map=mapped, seed=0)
    out = to_numpy(layer(X)).reshape(200, 3, 4)
    grids, values = layer.function_grids(points=400)  # fine enough to interpolate between
    assert grids.shape == (3, 400) and values.shape == (3, 400, 4)
    low, high = mapped.column_domains()
    np.testing.assert_allclose(grids[:, [0, -1]], np.column_stack([low, high]), rtol=1e-6)
    u = mapped.bounded(X)  # every row's values lie on its inputs' curves
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(np.interp(u[:, i], grids[i], values[i, :, j]), out[:, i, j],
                                       atol=0.05 * (np.ptp(values[i, :, j]) + 1e-3))
    figure = ktn.plot_learned_functions(layer, ["a", "b", "c"])
    assert [axes.get_title() for axes in figure.axes] == ["a", "b", "c"]
    assert "embedding" in figure._suptitle.get_text()
    with pytest.raises(ValueError, match="not built"):
        ktn.plot_learned_functions(ktn.TaskNeuronEmbedding(4))


def test_a_model_with_an_embedding_quantizes_its_dense_layers_and_reloads(tmp_path):
    """``model.quantize("int8")`` quantizes the MLP after an embedding and
    leaves the embedding in float (its weights are a small part of such a
    model: Keras warns that it has no ``quantize``); the model predicts
    close to the float one and reloads quantized."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), ktn.TaskNeuronEmbedding(8, "periodic", copies=8),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    before = to_numpy(model.predict(x, verbose=0))
    embedding = model.layers[0]
    weights = [to_numpy(w) for w in embedding.weights]
    with pytest.warns(UserWarning, match="TaskNeuronEmbedding.*quantize"):
        model.quantize("int8")
    assert [layer.dtype_policy.name for layer in model.layers[1:]] == ["int8_from_float32"] * 2
    assert all(np.array_equal(to_numpy(w), v) for w, v in zip(embedding.weights, weights))
    after = to_numpy(model.predict(x, verbose=0))
    assert np.max(np.abs(after - before)) < 0.05 * np.max(np.abs(before))
    path = str(tmp_path / "int8.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[1].dtype_policy.name == "int8_from_float32"
    np.testing.assert_allclose(to_numpy(loaded.predict(x, verbose=0)), after, atol=1e-5)
