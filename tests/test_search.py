"""VectorizedSymbolicRegressor / Classifier: search, conventions, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from keras_taskneurons import (
    Formula,
    TaskNeuronDense,
    VectorizedSymbolicClassifier,
    VectorizedSymbolicRegressor,
)
from keras_taskneurons.search import fitness

pytestmark = pytest.mark.once  # backend-independent: the TensorFlow pass runs it

SMALL = dict(population_size=200, generations=4, function_set=("add", "sub", "mul"))


def shared_target(g, n=400, d=5, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, d))
    y = g(X).sum(axis=1) + noise * rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def quadratic_fit():
    """The paper's shared model (``fitness="shared"``): ``a·Σ f + b``."""
    X, y = shared_target(lambda x: x**2 - 0.5 * x)
    return VectorizedSymbolicRegressor(random_state=0, fitness="shared", **SMALL).fit(X, y), X, y


def test_recovers_a_shared_quadratic(quadratic_fit):
    reg, X, y = quadratic_fit
    X_test, y_test = shared_target(lambda x: x**2 - 0.5 * x, seed=1)
    assert reg.score(X_test, y_test) > 0.999
    _, terms = reg.formula_.terms()
    assert {str(b) for _, b in terms} == {"x", "x**2"}
    # The found f on the raw scale is proportional to x**2 - 0.5x.
    grid = np.linspace(-2, 2, 9)
    f = reg.formula_.evaluate((grid - reg.x_mean_[0]) / reg.x_scale_[0])
    g = grid**2 - 0.5 * grid
    assert abs(np.corrcoef(f, g)[0, 1]) > 0.9999


def test_learned_attributes(quadratic_fit):
    reg, X, y = quadratic_fit
    assert isinstance(reg.formula_, Formula)
    assert isinstance(reg.evolved_formula_, Formula)
    assert reg.coef_.shape == (1,) and reg.intercept_.shape == (1,)
    assert reg.n_features_in_ == 5
    assert reg.n_generations_ == len(reg.run_details_["generation"]) <= 4
    assert set(reg.run_details_) >= {
        "generation", "best_fitness", "mean_fitness", "best_length", "seconds"
    }
    best_ever = reg.run_details_["best_ever_fitness"]
    assert best_ever == sorted(best_ever, reverse=True)  # never gets worse
    assert reg.evolved_fitness_ == pytest.approx(min(reg.run_details_["best_fitness"]))
    assert reg.fitness_ <= reg.evolved_fitness_ + 1e-12
    # program_ and evolved_formula_ mean the same numbers.
    column = np.linspace(-2, 2, 11)[:, None]
    np.testing.assert_allclose(
        reg.evolved_formula_.evaluate(column[:, 0]),
        reg.program_.execute(column), rtol=1e-9, atol=1e-9,
    )


def test_predict_is_the_scaled_sum(quadratic_fit):
    reg, X, y = quadratic_fit
    standardized = (X - reg.x_mean_) / reg.x_scale_
    manual = reg.coef_[0] * reg.formula_.evaluate(standardized).sum(1) + reg.intercept_[0]
    np.testing.assert_allclose(reg.predict(X), manual, rtol=1e-10)


def test_best_program_ever_is_kept():
    # Random parents (tournament of one) and heavy mutation: with this seed
    # the best of generation 3 is lost by generation 6. The estimator must
    # still return it (gplearn itself keeps only the last generation).
    X, y = shared_target(lambda x: x**2, n=200)
    reg = VectorizedSymbolicRegressor(
        population_size=100, generations=6, random_state=1, refine=False,
        scaling="global", fitness="shared",  # the trajectory this seed was chosen for
        p_crossover=0.0, p_subtree_mutation=0.5, p_hoist_mutation=0.0,
        p_point_mutation=0.5, p_point_replace=1.0, tournament_size=1,
    ).fit(X, y)
    best = reg.run_details_["best_fitness"]
    assert best[-1] > 2 * min(best)  # the last generation really is worse
    assert reg.evolved_fitness_ == pytest.approx(min(best))
    # evolved_formula_ is that program (its fitness, on the evolution rows,
    # is close to its fitness on all rows).
    standardized = (X - reg.x_mean_) / reg.x_scale_
    sums = reg.evolved_formula_.evaluate(standardized).sum(axis=1)
    assert 1 - np.corrcoef(sums, y)[0, 1] ** 2 == pytest.approx(min(best), rel=0.1)


def test_the_best_program_that_a_layer_refuses_is_passed_over(monkeypatch):
    from keras_taskneurons.search import base

    # Three candidates, best first: one that expands into too many terms, one
    # whose expansion is constant, then a usable one.
    texts = {
        "too_many": "*".join(f"(x + sin({i / 10 + 0.05}*x))" for i in range(7)),
        "constant": "x - x",
        "usable": "x**2 + sin(x)",
    }
    monkeypatch.setattr(
        base, "_program_to_formula", lambda program: Formula(texts[program])
    )
    candidates = [(0.01, 10, 1, "too_many"), (0.02, 3, 2, "constant"), (0.5, 6, 3, "usable")]
    program, formula, fitness = base._VectorizedSymbolicBase._best_convertible(candidates)
    assert (program, str(formula), fitness) == ("usable", "x**2 + sin(x)", 0.5)
    TaskNeuronDense(2, formula)  # and a layer accepts it
    for refused in ("too_many", "constant"):
        with pytest.raises(ValueError):
            TaskNeuronDense(2, texts[refused])


def test_same_seed_same_formula_whatever_n_jobs():
    X, y = shared_target(lambda x: x**3 - x, n=200)
    one = VectorizedSymbolicRegressor(random_state=7, n_jobs=1, **SMALL).fit(X, y)
    again = VectorizedSymbolicRegressor(random_state=7, n_jobs=1, **SMALL).fit(X, y)
    two = VectorizedSymbolicRegressor(random_state=7, n_jobs=2, **SMALL).fit(X, y)
    assert one.formula_ == again.formula_ == two.formula_
    assert one.run_details_["best_fitness"] == two.run_details_["best_fitness"]


def test_the_search_runs_with_one_blas_thread(monkeypatch):
    """Small matrices thousands of times: BLAS threads cost more than they
    save, so the fit limits them to one (and restores them afterwards)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from keras_taskneurons.search import evolution

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen, evolve = [], evolution.evolve

    def recording(*args, **kwargs):
        seen.append(blas_threads())
        return evolve(*args, **kwargs)

    monkeypatch.setattr(evolution, "evolve", recording)
    X, y = shared_target(lambda x: x**2, n=100)
    with threadpool_limits(limits=2, user_api="blas"):
        VectorizedSymbolicRegressor(random_state=0, population_size=50, generations=2).fit(X, y)
        assert blas_threads() == {2}
    assert seen == [{1}]


def test_global_random_state_is_untouched():
    X, y = shared_target(lambda x: x**2, n=100)
    np.random.seed(12345)
    expected = np.random.random_sample(3)
    np.random.seed(12345)
    VectorizedSymbolicRegressor(random_state=0, population_size=50, generations=2).fit(X, y)
    np.testing.assert_array_equal(np.random.random_sample(3), expected)


def test_multi_output_shares_one_formula():
    X, y1 = shared_target(lambda x: x**2, n=300)
    Y = np.column_stack([y1, -3 * y1 + 10])
    reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(X, Y)
    assert reg.coef_.shape[0] == 2 and reg.predict(X).shape == (300, 2)
    assert reg.score(X, Y) > 0.999
    assert reg.coef_[1] == pytest.approx(-3 * reg.coef_[0], rel=1e-6)


def test_sample_weight_changes_the_fit():
    X, y = shared_target(lambda x: x**2, n=200)
    y[:100] = shared_target(lambda x: np.sin(3 * x), n=200)[1][:100]
    w = np.r_[np.zeros(100), np.ones(100)]
    reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(X, y, sample_weight=w)
    assert reg.score(X[100:], y[100:]) > 0.99


def test_classifier_on_a_shared_radial_boundary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = np.where((X**2).sum(axis=1) > 4, "far", "near")
    clf = VectorizedSymbolicClassifier(random_state=0, **SMALL).fit(X, y)
    assert list(clf.classes_) == ["far", "near"]
    assert clf.decision_function(X).shape == (400,)  # binary: one score
    proba = clf.predict_proba(X)
    assert proba.shape == (400, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.97


def test_multiclass_classifier():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    radius = (X**2).sum(axis=1)
    y = np.digitize(radius, [1.5, 4.0])
    # Columns of one unit: the global map keeps Σ x_i² exactly one shared f.
    clf = VectorizedSymbolicClassifier(random_state=0, scaling="global", **SMALL).fit(X, y)
    assert clf.decision_function(X).shape == (300, 3)
    assert clf.predict_proba(X).shape == (300, 3)
    assert clf.score(X, y) > 0.9


def test_verbose_prints_one_line_per_generation(capsys):
    X, y = shared_target(lambda x: x**2, n=100)
    VectorizedSymbolicRegressor(
        random_state=0, population_size=50, generations=3, verbose=1
    ).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    generations = [line for line in lines if line.startswith("generation")]
    assert len(generations) == 3
    assert "best 1-R²" in generations[0] and "left ~" in generations[0]
    assert lines[-1].startswith("formula:")


def test_silent_by_default(capsys):
    X, y = shared_target(lambda x: x**2, n=100)
    VectorizedSymbolicRegressor(random_state=0, population_size=50, generations=2).fit(X, y)
    assert capsys.readouterr().out == ""


def test_layer_factory_uses_the_found_formula(quadratic_fit):
    reg, _, _ = quadratic_fit
    make = reg.layer_factory(activation="relu")
    layer = make(8)
    assert isinstance(layer, TaskNeuronDense)
    assert layer.formula == reg.formula_ and layer.units == 8


def test_large_data_is_subsampled_for_the_search():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (3000, 100))  # 300k stacked values, over the cap
    y = (X**2).sum(axis=1)
    reg = VectorizedSymbolicRegressor(random_state=0, population_size=30, generations=1).fit(X, y)
    assert reg.n_search_samples_ == fitness.MAX_STACKED_VALUES // 100
    assert reg.predict(X).shape == (3000,)


def test_max_samples_sets_the_search_subset():
    X, y = shared_target(lambda x: x**2, n=200)
    small = dict(population_size=30, generations=1, random_state=0)
    assert VectorizedSymbolicRegressor(max_samples=50, **small).fit(X, y).n_search_samples_ == 50
    assert VectorizedSymbolicRegressor(max_samples=0.25, **small).fit(X, y).n_search_samples_ == 50


def test_pickle_clone_pipeline_and_grid_search(quadratic_fit):
    reg, X, y = quadratic_fit
    restored = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    assert restored.formula_ == reg.formula_
    cloned = clone(reg)
    assert not hasattr(cloned, "formula_")
    assert cloned.get_params() == reg.get_params()
    # Per-column scaling gives each column its own (noisy) affine map, so
    # the shared formula fits a little less well than on the raw columns.
    pipe = make_pipeline(StandardScaler(), VectorizedSymbolicRegressor(random_state=0, **SMALL))
    assert pipe.fit(X, y).score(X, y) > 0.98
    # sin alone builds odd functions, which cannot fit x**2 - 0.5x; the
    # polynomial set can: the grid must rank the two by their scores.
    grid = GridSearchCV(
        VectorizedSymbolicRegressor(random_state=0, **SMALL),
        {"function_set": [("sin",), ("add", "sub", "mul")]}, cv=2,
    ).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] > 0.99 and scores[0] < scores[1] - 0.1, scores
    assert grid.best_params_["function_set"] == ("add", "sub", "mul")


@pytest.mark.parametrize("fitness", ["separable", "shared"])
def test_pickled_estimator_does_not_carry_the_training_data(monkeypatch, fitness):
    from keras_taskneurons.search import fitness as fitness_module
    from keras_taskneurons.search import separable

    X, y = shared_target(lambda x: x**2, n=20_000, d=2)  # y alone is 160 kB
    params = dict(population_size=20, generations=1, random_state=0, fitness=fitness)
    size = len(pickle.dumps(VectorizedSymbolicRegressor(**params).fit(X, y)))
    assert size < y.nbytes / 4, size
    # The check can fail: when the fitness keeps its data, the pickle does too.
    kind = separable.SeparableFitness if fitness == "separable" else fitness_module.ScaledSumFitness
    monkeypatch.setattr(kind, "release", lambda self: None)
    leaky = len(pickle.dumps(VectorizedSymbolicRegressor(**params).fit(X, y)))
    assert leaky > 0.7 * y.nbytes, leaky  # the evolution rows: 75 % of them


def test_feature_names_from_dataframes():
    X, y = shared_target(lambda x: x**2, n=100, d=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    reg = VectorizedSymbolicRegressor(random_state=0, population_size=50, generations=2).fit(frame, y)
    assert list(reg.feature_names_in_) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names"):
        reg.predict(frame.rename(columns={"c": "z"}))


# --- bad input -------------------------------------------------------------------------

X_OK, Y_OK = shared_target(lambda x: x**2, n=20, d=3)


@pytest.mark.parametrize(
    "X, y, sample_weight, message",
    [
        (np.where(np.eye(20, 3) > 0, np.nan, X_OK), Y_OK, None, "NaN"),
        (np.where(np.eye(20, 3) > 0, np.inf, X_OK), Y_OK, None, "infinity"),
        (X_OK, np.r_[np.nan, Y_OK[1:]], None, "NaN"),
        (X_OK, Y_OK, np.r_[np.nan, np.ones(19)], "NaN"),
        (X_OK, Y_OK[:10], None, "inconsistent numbers of samples"),
        (X_OK[:1], Y_OK[:1], None, "minimum of 2"),
        (X_OK[:, :0], Y_OK, None, "0 feature"),
        (X_OK, np.full(20, 3.0), None, "y is constant"),
        (np.full((20, 3), 2.0), Y_OK, None, r"Every feature of X is constant \(columns 0, 1, 2\)"),
        (X_OK, np.array(["a", "b"] * 10), None, "holds text .for example 'a'"),
        (X_OK, Y_OK.astype(str), None, "holds text"),
        (X_OK, pd.Series(["a", "b"] * 10), None, "holds text"),
        (X_OK, Y_OK, -np.ones(20), "Negative values in data passed to `sample_weight`"),
        (X_OK, Y_OK, np.zeros(20), "at least one non-zero"),
    ],
)
def test_bad_data_is_refused(X, y, sample_weight, message):
    with pytest.raises(ValueError, match=message):
        VectorizedSymbolicRegressor(population_size=20, generations=1).fit(X, y, sample_weight)


def test_boolean_columns_are_numbers():
    X, y = shared_target(lambda x: x**2, n=200, d=2)
    frame = pd.DataFrame({
        "a": X[:, 0], "b": X[:, 1],
        "flag": X[:, 0] > 0,  # numpy bool
        "maybe": pd.array(X[:, 1] > 0, dtype="boolean"),  # pandas nullable bool
    })
    y = y + 0.5 * frame["flag"].to_numpy()
    for Estimator, target in ((VectorizedSymbolicRegressor, y),
                              (VectorizedSymbolicClassifier, y > np.median(y))):
        est = Estimator(random_state=0, **SMALL).fit(frame, target)
        assert est.n_features_in_ == 4
        numeric = frame.astype("float64")
        np.testing.assert_array_equal(est.predict(frame), est.predict(numeric))


def test_constant_features_among_varying_ones_are_named():
    X = X_OK.copy()
    X[:, 1] = 7.0
    with pytest.warns(UserWarning, match=r"constant features \(columns 1\)"):
        VectorizedSymbolicRegressor(population_size=20, generations=1).fit(X, Y_OK)
    many = np.hstack([X_OK[:, :1], np.ones((20, 12))])
    with pytest.warns(UserWarning, match="columns 1, 2, .*, 10 and 2 more"):
        VectorizedSymbolicRegressor(population_size=20, generations=1).fit(many, Y_OK)


def test_non_numeric_columns_are_named():
    frame = pd.DataFrame({"a": X_OK[:, 0], "city": ["x"] * 20, "b": X_OK[:, 1]})
    with pytest.raises(ValueError, match="non-numeric columns: city"):
        VectorizedSymbolicRegressor().fit(frame, Y_OK)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(function_set=["add", "gamma"]), "'gamma'"),
        (dict(function_set="add"), "'function_set' parameter .* Got 'add'"),
        (dict(function_set=[]), "'function_set' parameter .* Got \\[\\]"),
        (dict(population_size=1), "'population_size' parameter .* Got 1 "),
        (dict(generations=0), "'generations' parameter .* Got 0 "),
        (dict(tournament_size=5000), "'tournament_size' parameter .* Got 5000 "),
        (dict(const_range=(1, -1)), "'const_range' parameter .* Got \\(1, -1\\)"),
        (dict(parsimony_coefficient=-1), "'parsimony_coefficient' parameter .* Got -1 "),
        (dict(parsimony_coefficient="none"), "'parsimony_coefficient' parameter .* Got 'none'"),
        (dict(init_depth=(4, 2)), "'init_depth' parameter .* Got \\(4, 2\\)"),
        (dict(p_crossover=0.95, p_point_mutation=0.1), "sum to at most 1"),
        (dict(max_samples=0.0), "'max_samples' parameter .* Got 0.0 "),
        (dict(max_samples=1), "'max_samples' parameter .* Got 1 "),
        (dict(standardize="yes"), "'standardize' parameter .* Got 'yes'"),
        (dict(refine="yes"), "'refine' parameter .* Got 'yes'"),
        (dict(verbose=-1), "'verbose' parameter .* Got -1 "),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        VectorizedSymbolicRegressor(**{"population_size": 20, "generations": 1, **params}).fit(X_OK, Y_OK)


def test_classifier_needs_two_classes():
    with pytest.raises(ValueError, match="single class|one class"):
        VectorizedSymbolicClassifier(population_size=20, generations=1).fit(X_OK, np.zeros(20))


def test_predict_before_fit_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VectorizedSymbolicRegressor().predict(X_OK)
    with pytest.raises(NotFittedError):
        VectorizedSymbolicRegressor().layer_factory()


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        VectorizedSymbolicRegressor(100)


# --- scikit-learn's estimator checks -------------------------------------------------------

CHECK_PARAMS = dict(population_size=30, generations=2, random_state=0)

EXPECTED_FAILED_CHECKS = {
    # A sample weight of 2 is not the same as a duplicated sample for the
    # genetic search: the stacked data, and so gplearn's random draws, differ.
    "check_sample_weight_equivalence_on_dense_data": (
        "weights enter the fitness, duplicates change the evolved programs"
    ),
}


@parametrize_with_checks(
    [
        VectorizedSymbolicRegressor(**CHECK_PARAMS),
        VectorizedSymbolicClassifier(**CHECK_PARAMS),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
