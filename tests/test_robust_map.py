"""The robust input map for the bases (``scaling="quantile"``): each column
standardized (what ``x`` sees), then warped piecewise-linearly onto the
normal law's quantiles (what every other basis sees), alike in the search,
every backend's layer, the read-back and a saved model."""

import json

import keras
import numpy as np
import pytest

import keras_taskneurons
from keras_taskneurons import TaskNeuronDense, VectorizedSymbolicRegressor, networks
from keras_taskneurons.columns import QUANTILE_KNOTS, apply_warp, quantile_warp
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers import readout
from tests.helpers import run_layer_checks, to_numpy


def heavy_columns(n=1000, seed=0):
    """A log-normal, a binary, a normal column with one row 95 std out, a
    constant and a uniform column, in raw units."""
    rng = np.random.default_rng(seed)
    outlier = rng.normal(size=n)
    outlier[0] = 95.0
    return np.c_[rng.lognormal(0, 1.5, n) * 100, rng.integers(0, 2, n), outlier,
                 np.full(n, 7.3), rng.uniform(0, 50, n)]


def skewness(u):
    c = u - u.mean(axis=0)
    return np.mean(c**3, axis=0) / np.maximum(np.mean(c**2, axis=0), 1e-300) ** 1.5


def test_the_quantile_map_brings_every_column_onto_the_normal_law():
    X = heavy_columns()
    m = InputMap.fit(X, "quantile")
    u = m.transform(X)
    assert m.scaling == "quantile" and m.warp_knots.shape == (5, QUANTILE_KNOTS)
    log_normal, binary, outlier, constant, uniform = u.T
    # The affine map leaves the skew and the outlier; the warp removes both.
    affine = InputMap.fit(X, "standard").transform(X)
    assert skewness(affine[:, :1])[0] > 5 and abs(skewness(u[:, :1])[0]) < 0.2
    assert affine[0, 2] > 20 and outlier[0] < 3.5
    for column in (log_normal, outlier, uniform):
        assert abs(column.mean()) < 0.05 and column.std() == pytest.approx(1, abs=0.1)
        assert np.abs(column).max() < 3.5
    assert np.unique(binary).size == 2 and np.all(np.abs(constant) < 1e-12)
    # Monotone, and held at its ends beyond the fitted rows.
    order = np.argsort(X[:, 0])
    assert np.all(np.diff(u[order, 0]) >= 0)
    beyond = np.array([[X[:, 0].max() * 1e6, 5.0, -1e9, 7.3, -50.0]])
    np.testing.assert_allclose(m.transform(beyond)[0], u.max(axis=0) * [1, 1, 0, 1, 0]
                               + u.min(axis=0) * [0, 0, 1, 0, 1], atol=1e-12)
    # x sees the column standardized, as a Dense layer after Normalization.
    varying = [0, 1, 2, 4]
    np.testing.assert_allclose(m.standardized(X)[:, varying],
                               (X[:, varying] - X[:, varying].mean(axis=0))
                               / X[:, varying].std(axis=0), atol=1e-9)
    assert m.standardized(X)[0, 2] == pytest.approx(affine[0, 2])  # the outlier, not cut
    back = InputMap.from_config(json.loads(json.dumps(m.get_config())))
    assert back == m and np.array_equal(back.transform(X), u)


def test_tied_quantiles_merge_into_one_knot():
    X = np.r_[np.zeros(70), np.ones(30)][:, None]
    knots, values = quantile_warp(X)
    assert np.unique(knots).tolist() == [0.0, 1.0]
    q = apply_warp(X, knots, values)
    assert q[0, 0] < 0 < q[-1, 0]  # the rarer value sits further out
    assert abs(q[-1, 0]) > abs(q[0, 0])


@pytest.mark.parametrize(
    "update, message",
    [
        (dict(warp_knots=[[0.0, 1.0]]), "come together"),
        (dict(warp_knots=[[0.0, 1.0]], warp_values=[[0.0, 1.0, 2.0]]), "same shape"),
        (dict(warp_knots=[[1.0, 0.0]], warp_values=[[0.0, 1.0]]), "nondecreasing"),
        (dict(warp_knots=[[0.0, 1.0]], warp_values=[[1.0, 0.0]]), "nondecreasing"),
        (dict(warp_knots=[list(range(65))], warp_values=[list(range(65))]), "2 to 64"),
        (dict(warp_knots=[[0.0, float("nan")]], warp_values=[[0.0, 1.0]]), "finite"),
        (dict(warp_knots=[[0.0, 1.0], [0.0, 1.0]], warp_values=[[0.0, 1.0]] * 2), "one row"),
        (dict(warp_knots="0 1", warp_values=[[0.0, 1.0]]), "one row"),
    ],
)
def test_a_tampered_warp_is_refused(update, message):
    config = {"center": [0.0], "scale": [1.0], **update}
    with pytest.raises((ValueError, TypeError), match=message):
        InputMap.from_config(config)


def quantile_layer(X, units=4, **options):
    layer = TaskNeuronDense(units, "x**2 + sin(x)", input_map=InputMap.fit(X, "quantile"),
                            normalize_bases="spread", basis_scale=1.0,
                            basis_initializer="glorot_uniform", **options)
    layer(X[:2].astype("float32"))
    return layer


def test_a_layer_warps_its_inputs_as_the_search_does():
    X = heavy_columns(400)
    far = np.r_[X, [[1e7, 1.0, -1e6, 7.3, 1e3]]].astype("float32")
    layer = quantile_layer(X)
    m = layer.input_map
    z, u = layer._map_input(keras.ops.convert_to_tensor(far))
    np.testing.assert_allclose(to_numpy(u), m.transform(far), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(to_numpy(z), m.standardized(far), rtol=1e-4, atol=1e-4)
    output = to_numpy(layer(far))
    assert np.all(np.isfinite(output)) and np.abs(output).max() < 50
    total = sum(readout.contributions(layer, far)) + to_numpy(layer.bias)
    np.testing.assert_allclose(total, output, rtol=1e-4, atol=1e-4)
    # An affine map of the same columns gives another function.
    affine = TaskNeuronDense(4, "x**2 + sin(x)", input_map=InputMap.fit(X, "standard"),
                             normalize_bases="spread", basis_scale=1.0)
    affine.build(far.shape)
    affine.set_weights(layer.get_weights())
    assert np.abs(to_numpy(affine(far[:-1])) - output[:-1]).max() > 0.1


def test_the_read_back_speaks_of_the_values_the_layer_receives():
    X = heavy_columns(400)
    layer = quantile_layer(X)
    # The bases see every fitted row inside their domain (the warp holds only
    # beyond the fitted range), so the seen range is the columns' range.
    low, high = readout.seen_ranges(layer)
    np.testing.assert_allclose(low[[0, 2, 4]], X[:, [0, 2, 4]].min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(high[[0, 2, 4]], X[:, [0, 2, 4]].max(axis=0), rtol=1e-6)
    # x sees each column cut at its fences, as with the affine map: the
    # outlier row 95 std out is clipped for x, not for the bases.
    z_low, z_high = layer.input_map.linear_domain()
    z = layer.input_map.standardized(X)
    assert z[0, 2] > z_high[2] and np.all(z[1:, 2] <= z_high[2])
    inside = np.all((z >= z_low) & (z <= z_high), axis=1)
    rows = X[inside][:7]  # function_values, like the formulas, do not clip
    grids = rows.T.astype(np.float64)  # each input's values on seven rows
    values = readout.function_values(layer, grids)  # (inputs, points, units)
    total = sum(readout.contributions(layer, rows)) + to_numpy(layer.bias)
    np.testing.assert_allclose(values.sum(axis=0) + to_numpy(layer.bias), total,
                               rtol=1e-6, atol=1e-6)
    # The bases see a table of each input, not a formula: said so.
    with pytest.raises(ValueError, match="function_values"):
        layer.learned_functions()
    with pytest.raises(ValueError, match="warps its inputs"):
        readout.average_functions(layer)


def test_a_quantile_mapped_layer_passes_the_shared_layer_checks(tmp_path):
    X = heavy_columns(200)[:, [0, 2, 4]]
    m = InputMap.fit(X, "quantile")
    run_layer_checks(dict(formula="x**2 + sin(x)", input_map=m, normalize_bases="spread",
                          activation="tanh"), tmp_path)


def test_the_search_and_its_factory_use_the_warp():
    X = heavy_columns(300)[:, [0, 2, 4]]
    y = np.sin(2 * InputMap.fit(X, "quantile").transform(X)).sum(axis=1)
    found = VectorizedSymbolicRegressor(population_size=150, generations=3, scaling="quantile",
                                        random_state=0).fit(X, y)
    assert found.input_map_.scaling == "quantile" and found.score(X, y) > 0.9
    first = found.layer_factory()(3, first=True)
    assert first.input_map == found.input_map_
    model = keras.Sequential([keras.Input((3,)), first, keras.layers.Dense(1)])
    assert np.all(np.isfinite(to_numpy(model(X.astype("float32")))))
    # The Dense network's Normalization gives what the first layer's x sees.
    dense = networks.mlp("linear", [4], 3, 1, input_map=found.input_map_)
    normalized = to_numpy(dense.get_layer("input_map")(X.astype("float32")))
    np.testing.assert_allclose(normalized, found.input_map_.standardized(X), rtol=1e-4,
                               atol=1e-4)
    z, _ = first._map_input(keras.ops.convert_to_tensor(X.astype("float32")))
    np.testing.assert_allclose(to_numpy(z), normalized, rtol=1e-4, atol=1e-4)
    assert "quantile" in keras_taskneurons.input_map.SCALINGS


def test_a_uniform_warped_map_serves_a_convolution():
    rng = np.random.default_rng(0)
    images = rng.lognormal(size=(8, 5, 5, 2)).astype("float32")
    m = InputMap.fit(images.reshape(-1, 1), "quantile")
    one = InputMap(np.repeat(m.center, 2), np.repeat(m.scale, 2), m.domain, "quantile",
                   warp_knots=np.repeat(m.warp_knots, 2, 0), warp_values=np.repeat(m.warp_values, 2, 0))
    assert one.is_uniform and one.uniform().warp_knots.shape == (1, m.warp_knots.shape[1])
    layer = keras_taskneurons.TaskNeuronConv2D(3, 3, formula="x**2 + x", input_map=one.uniform())
    z, u = layer._map_input(keras.ops.convert_to_tensor(images))
    np.testing.assert_allclose(to_numpy(u), m.transform(images.reshape(-1, 1)).reshape(images.shape),
                               rtol=1e-4, atol=1e-4)
