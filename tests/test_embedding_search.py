"""EmbeddingSearch: an embedding's shape chosen by scoring what the embedding computes."""

import keras
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import keras_taskneurons as ktn
from keras_taskneurons.layers.embedding import (
    embedding_features, formula_bases, initial_constants,
)
from tests.helpers import to_numpy


def _data(shape, seed=0, n=1500, d=4, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, shape(X).sum(axis=1) + noise * rng.normal(size=n)


TARGETS = {
    "periodic": lambda X: np.sin(8 * X),        # sines of each input
    "hinge": lambda X: np.abs(X - 0.3),         # a kink
    "rbf": lambda X: np.exp(-4 * X ** 2),       # a bump
}


@pytest.mark.once
@pytest.mark.parametrize("preset", list(TARGETS))
def test_the_presets_compete_and_the_target_s_family_wins(preset):
    search = ktn.EmbeddingSearch(evolve=False, random_state=0).fit(*_data(TARGETS[preset]))
    assert search.preset_ == preset and search.best_preset_.name == preset
    losses = {}
    for shape in search.shapes_:  # each shape's best sigma
        losses[shape.name] = min(losses.get(shape.name, np.inf), shape.loss)
    assert losses[preset] < 0.8 * min(v for k, v in losses.items() if k != preset)
    assert losses["x"] > 0.5  # the linear control explains little of a sum of shapes
    assert ">* " + preset in str(search.shapes_)


@pytest.mark.once
def test_an_evolved_formula_competes_and_the_choice_is_never_worse_than_a_preset():
    X, y = _data(lambda X: np.sin(2.5 * X) + 0.5 * X ** 2, n=1200)
    search = ktn.EmbeddingSearch(
        random_state=1, search_params=dict(population_size=300, generations=5)).fit(X, y)
    names = [s.name for s in search.shapes_]
    assert any(name.startswith("front[") for name in names)
    assert {s.placement for s in search.shapes_ if s.name.startswith("front[")} == {
        "frequencies", "centres", "shifts"}
    assert search.shape_.loss <= 1.05 * search.best_preset_.loss
    assert search.shape_.loss <= 1.05 * min(s.loss for s in search.shapes_)
    assert search.input_map_ is search.search_.input_map_
    assert search.search_seconds_ > 0 and search.scoring_seconds_ > 0


@pytest.mark.once
def test_the_search_is_reproducible_and_predicts_as_an_additive_model():
    X, y = _data(TARGETS["hinge"], n=600)
    first = ktn.EmbeddingSearch(evolve=False, random_state=3).fit(X, y)
    again = ktn.EmbeddingSearch(evolve=False, random_state=3).fit(X, y)
    assert [s.loss for s in first.shapes_] == [s.loss for s in again.shapes_]
    np.testing.assert_array_equal(first.predict(X), again.predict(X))
    assert first.score(X, y) > 0.98


@pytest.mark.once
@pytest.mark.parametrize("kwargs, message", [
    (dict(shapes=["periodic", "y**2"]), r"shapes\[1\] must be a preset"),
    (dict(sigmas=(1.0, 0.0)), "sigmas must be"),
    (dict(sigmas=()), "sigmas must be"),
    (dict(copies=0), "'copies' parameter"),
    (dict(validation_fraction=1.0), "'validation_fraction' parameter"),
])
def test_bad_parameters_are_refused_naming_them(kwargs, message):
    X, y = _data(TARGETS["hinge"], n=100)
    with pytest.raises(ValueError, match=message):
        ktn.EmbeddingSearch(evolve=False, **kwargs).fit(X, y)


@pytest.mark.once
def test_too_few_rows_and_non_finite_values_are_refused():
    X, y = _data(TARGETS["hinge"], n=3)
    with pytest.raises(ValueError, match="at least 4 rows .*n_samples=3"):
        ktn.EmbeddingSearch(evolve=False).fit(X, y)
    X, y = _data(TARGETS["hinge"], n=100)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ktn.EmbeddingSearch(evolve=False).fit(X, y)


@pytest.mark.once
def test_a_formula_given_in_shapes_is_tried_under_every_placement():
    X, y = _data(TARGETS["periodic"], n=400)
    search = ktn.EmbeddingSearch(shapes=["hinge", "sin(8*x)"], evolve=False,
                                 random_state=0).fit(X, y)
    tried = {(s.name, s.placement) for s in search.shapes_}
    assert {("shapes[1]", p) for p in ("frequencies", "centres", "shifts")} <= tried
    assert search.shape_.name == "shapes[1]" and search.preset_ is None
    assert search.best_preset_.name == "hinge"


def test_the_layer_starts_at_the_scored_constants_and_computes_the_scored_features(tmp_path):
    """Search and layer agree: the numpy features the score used are the
    layer's features, on every backend, and after a save/load round trip."""
    X, y = _data(TARGETS["rbf"], n=300, d=3)
    X = X * [1.0, 10.0, 0.1] + [0.0, 50.0, -1.0]  # raw columns: the layer holds the map
    search = ktn.EmbeddingSearch(evolve=False, random_state=0).fit(X, y)
    layer = search.embedding(5)
    assert layer.copies == search.scoring_copies_ == 16
    X32 = X.astype("float32")
    layer.build((None, 3))
    low, high = search.input_map_.column_domains()
    scale, shift = initial_constants(search.placement_, search.sigma_, low, high,
                                     layer.copies, search.layer_seed_)
    np.testing.assert_allclose(to_numpy(layer.inner_scale), scale, rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.inner_shift), shift, rtol=1e-6, atol=1e-6)
    bases = formula_bases(search.formula_)
    expected = embedding_features(bases, search.input_map_.bounded(X32), scale, shift)
    np.testing.assert_allclose(to_numpy(layer.features(X32)), expected, rtol=2e-4, atol=2e-5)
    model = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(1)])
    path = str(tmp_path / "embedding.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(reloaded(X32)), to_numpy(model(X32)), rtol=1e-5,
                               atol=1e-6)
    assert reloaded.layers[0].input_map == search.input_map_


@pytest.mark.once
def test_embedding_overrides_replace_the_chosen_options():
    X, y = _data(TARGETS["hinge"], n=200)
    search = ktn.EmbeddingSearch(evolve=False, random_state=0).fit(X, y)
    layer = search.embedding(4, copies=3, lite=True, seed=7)
    assert (layer.copies, layer.lite, layer.seed, layer.preset) == (3, True, 7, "hinge")


@pytest.mark.once
@parametrize_with_checks([ktn.EmbeddingSearch(evolve=False, sigmas=(1.0,), random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.once
def test_the_smoothest_sigma_within_five_percent_wins_and_a_non_finite_loss_never_does():
    from keras_taskneurons import Formula
    from keras_taskneurons.search.embedding import Shape, ShapeTable

    hinge, periodic = Formula("abs(x)"), Formula("cos(x) + sin(x)")
    table = ShapeTable([Shape("hinge", hinge, "centres", 3.0, 0.25 * (1 + 1e-9)),
                        Shape("hinge", hinge, "centres", 0.3, 0.26),   # within 5 %
                        Shape("hinge", hinge, "centres", 1.0, 0.25),
                        Shape("front[0]", Formula("exp(exp(x))"), "shifts", 0.3, np.inf),
                        Shape("rbf", Formula("exp(-x**2)"), "centres", 0.3, 0.3)])
    assert table.chosen == table.best_preset == 1
    table = ShapeTable([Shape("periodic", periodic, "frequencies", 0.3, 0.30),  # 50 % worse
                        Shape("periodic", periodic, "frequencies", 1.0, 0.198),
                        Shape("periodic", periodic, "frequencies", 3.0, 0.19),
                        Shape("rbf", Formula("exp(-x**2)"), "centres", 0.3, 0.199)])
    assert table.chosen == 1  # 0.198 is within 5 % of 0.19; rbf is another shape
    assert ShapeTable([Shape("x", Formula("x"), "centres", 1.0, np.inf)]).chosen == 0


def test_front_formulas_that_grow_exponentially_do_not_compete():
    """``tame()``: a copy's bases are evaluated at trained ``a·u + b``, so a
    front formula competes only when its bases grow at most polynomially;
    the exponential an evolved front offered (and that sent a benchmark
    network to NaN) is refused, bounded and polynomial shapes are not."""
    from keras_taskneurons import Formula
    from keras_taskneurons.search.embedding import tame

    for text in ["sin(x)", "exp(-x**2)", "x**3 + x**2 + x", "abs(x)", "x*sin(x)", "tanh(x)",
                 "cos(0.571*x + x**2)", "x*exp(-x**2)"]:
        assert tame(Formula(text)), text
    for text in ["exp(x)", "exp(-0.4*x)", "x**5", "-26.17*exp(x) + x**3",
                 "exp(1.805*x + 1.805*cos(3.24*x))"]:
        assert not tame(Formula(text)), text
