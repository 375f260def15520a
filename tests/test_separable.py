"""The fitness that mirrors the layer, the linear fallback, per-column domains."""

import warnings

import keras
import numpy as np
import pytest

import keras_taskneurons  # noqa: F401  (registers the layers for loading)
from keras_taskneurons import Formula, TaskNeuronDense, VectorizedSymbolicRegressor
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.search import separable
from keras_taskneurons.search.fitness import feature_sum, scaled_error

SMALL = dict(population_size=200, generations=4)


def signed_quadratic(n=600, d=6, seed=0):
    """``Σ s_i u_i² + 0.5 Σ u_i`` with signs ``s`` alternating: ``x**2`` helps
    a per-input model a lot, but cancels in an equal-weights sum."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n, d))
    signs = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
    y = (U**2 * signs).sum(axis=1) + 0.5 * U.sum(axis=1) + 0.05 * rng.normal(size=n)
    return U, (y - y.mean()) / y.std()


@pytest.mark.once  # the search and the map: numpy only
def test_the_unit_fitness_ranks_the_basis_a_per_input_model_needs_first():
    U, y = signed_quadratic()
    t, w = y[:, None], np.ones(len(y))
    rows = (U[:400], U[:400], t[:400], w[:400])
    held = (U[400:], U[400:], t[400:], w[400:])
    square, cube = Formula("x**2"), Formula("x**3")
    # The paper's equal-weights fitness prefers x**3 (it repairs the linear sum) ...
    shared = {f: scaled_error(feature_sum(f, U[:400]), t[:400], w[:400]) for f in (square, cube)}
    assert shared[cube] < shared[square]
    # ... the unit's model wants x**2, far ahead, in the evolution and held out.
    fitness = separable.SeparableFitness(U[:400], t[:400], w[:400])
    assert fitness.loss(square.evaluate(U[:400])) < 0.1 < fitness.loss(cube.evaluate(U[:400]))
    assert separable.held_out_loss(square, rows, held) < 0.1 < separable.held_out_loss(cube, rows, held)
    # The search, end to end: separable finds the square, shared does not.
    reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(U, y)
    assert "x**2" in {str(b) for _, b in reg.formula_.terms()[1]}, reg.equations_
    assert reg.score(U, y) > 0.95
    paper = VectorizedSymbolicRegressor(random_state=0, fitness="shared", **SMALL).fit(U, y)
    assert paper.score(U, y) < 0.5


@pytest.mark.once  # the search and the map: numpy only
def test_the_evolution_fitness_is_the_ridge_fit_it_claims():
    U, y = signed_quadratic(n=300, d=3)
    t, w = y[:, None], np.ones(len(y))
    fitness = separable.SeparableFitness(U, t, w)
    F = np.sin(2 * U)
    columns = np.hstack([U, F, np.ones((len(U), 1))])
    solution = np.linalg.lstsq(columns, y, rcond=None)[0]
    exact = np.mean((y - columns @ solution) ** 2) / y.var()
    assert fitness.loss(F) == pytest.approx(exact, rel=1e-2)
    assert fitness.loss(np.zeros_like(F)) == pytest.approx(fitness.linear_loss)
    assert fitness.loss(np.full_like(F, np.nan)) == 1.0


@pytest.mark.once  # the search and the map: numpy only
def test_no_formula_beats_linear_so_the_search_says_so_and_keeps_x():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(size=400)
    with pytest.warns(UserWarning, match="No formula beats the linear neuron.*x alone"):
        reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(X, y)
    assert reg.formula_ == Formula("x") and reg.equations_.best.formula == Formula("x")
    assert reg.linear_loss_ == pytest.approx(reg.equations_.best.loss)
    assert reg.score(X, y) > 0.9  # the linear model itself
    # The check can fail: where a basis helps, no warning and no fallback.
    U, t = signed_quadratic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(U, t)
    assert reg.formula_ != Formula("x") and reg.equations_.best.loss < 0.5 * reg.linear_loss_
    assert reg.equations_[0].formula == Formula("x")  # the linear neuron is on the front
    rows = (U, U, t[:, None], np.ones(len(t)))  # z = u here: standard normal columns
    gain, errors = separable.linear_gain(reg.formula_, tuple(p[:450] for p in rows),
                                         tuple(p[450:] for p in rows))
    assert gain > 0.5 and errors > 10  # cross-validated over all 600 rows


@pytest.mark.once  # the search and the map: numpy only
def test_an_exactly_linear_target_keeps_x_whatever_the_ridge_leaves():
    """x leaves about 1e-6 of an exactly linear target's variance (the
    ridge's bias); a basis that cuts that by 70 % explains nothing."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (200, 3))  # three values a column: any basis fits them
    with pytest.warns(UserWarning, match="No formula beats the linear neuron"):
        reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(X, X.sum(axis=1) * 1.0)
    assert reg.formula_ == Formula("x") and reg.linear_loss_ < 1e-4
    assert not separable.clears_linear(0.7, 50.0, 1e-6)
    assert separable.clears_linear(0.7, 50.0, 1e-2)  # the same cut of a real loss


@pytest.mark.once  # the search and the map: numpy only
def test_fitness_is_validated():
    with pytest.raises(ValueError, match="'fitness' parameter .* Got 'paper'"):
        VectorizedSymbolicRegressor(fitness="paper").fit(np.eye(3), [1.0, 2.0, 3.0])


# --- per-column domains --------------------------------------------------------------


def heavy_columns(n=500, seed=0):
    """A normal column, and one whose last rows lie 100 standard deviations out."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    X[-5:, 1] = 100.0
    return X


@pytest.mark.once  # the search and the map: numpy only
def test_each_column_gets_its_own_domain_cut_at_its_fences():
    X = heavy_columns()
    m = InputMap.fit(X, "standard")
    u = m.transform(X)
    low, high = m.column_domains()
    assert low[0] == u[:, 0].min() and high[0] == u[:, 0].max()  # normal: its range
    assert high[1] < 0.2 * u[:, 1].max()  # heavy: cut where its bulk ends
    assert m.domain == pytest.approx((np.median(low), np.median(high)))
    np.testing.assert_array_equal(m.bounded(X), np.clip(u, low, high))
    assert InputMap.from_config(m.get_config()) == m
    with pytest.raises(ValueError, match="low < high"):
        InputMap([0.0, 0.0], [1.0, 1.0], low=[0.0, 1.0], high=[1.0, 1.0])
    with pytest.raises(ValueError, match="come together"):
        InputMap([0.0], [1.0], low=[0.0])


@pytest.mark.once  # the search and the map: numpy only
def test_the_fences_never_cut_whole_values_of_a_discrete_column():
    """Yacht's first column: five values, the middle ones holding 70 % of
    the rows, so the interquartile range is 0.1 and the fences alone fall
    inside the column, cutting its two outer values (36 % of the rows)."""
    values = np.repeat([-5.0, -2.4, -2.3, -2.2, 0.0], [56, 42, 140, 14, 56])
    X = np.c_[values, np.random.default_rng(0).normal(size=len(values))]
    for scaling in ("standard", "quantile"):
        m = InputMap.fit(X, scaling)
        np.testing.assert_array_equal(m.standardized(X, bounded=True), m.standardized(X))
        if scaling == "standard":
            np.testing.assert_array_equal(m.bounded(X), m.transform(X))
    # A few far rows are still cut: at most FENCE_KEEP of a column a side.
    X[:5, 1] = 100.0
    low, high = InputMap.fit(X, "standard").column_domains()
    assert high[1] < 5.0


def test_a_layer_clips_each_input_to_its_own_domain_and_saves_it(tmp_path):
    X = heavy_columns()
    m = InputMap.fit(X, "standard")
    layer = TaskNeuronDense(1, "x**2", input_map=m, linear_basis=False, basis_scale=1.0,
                            normalize_bases=False, kernel_initializer="ones",
                            basis_initializer="ones")
    model = keras.Sequential([keras.Input((2,)), layer])
    expected = (m.bounded(X) ** 2).sum(axis=1)
    got = np.asarray(model.predict(X, verbose=0))[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # One domain for both columns would let the heavy column's square through.
    assert got[-1] < 0.1 * (m.transform(X)[-1] ** 2).sum()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded.predict(X, verbose=0))[:, 0], got)
    assert loaded.layers[0].input_map == m and loaded.layers[0].input_map.low is not None


@pytest.mark.once  # the search and the map: numpy only
def test_a_formula_worse_than_x_cross_validated_is_said_so_plainly(monkeypatch):
    """A cross-validated loss above x's reads as a multiple, not as a cut of
    -200 %."""
    U, t = signed_quadratic()
    monkeypatch.setattr(separable, "linear_gain", lambda formula, train, validation: (-2.0, -1.5))
    with pytest.warns(UserWarning, match=r"cross-validated it leaves 3 times x's loss "
                                         r"\(-1.50 standard errors\)"):
        reg = VectorizedSymbolicRegressor(random_state=0, **SMALL).fit(U, t)
    assert reg.formula_ == Formula("x")


def unit_rows(g, d=20, n=1000, seed=0):
    """The search's unit rows for ``y = Σ_i g(x_i)`` + 1 % noise, x ~ U[-2, 2]:
    ``(U, Z, targets, weights)`` for the first three quarters and the rest."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, d))
    y = g(X).sum(axis=1)
    y = y + 0.01 * y.std() * rng.normal(size=n)
    input_map = InputMap.fit(X)
    U, Z = input_map.bounded(X), input_map.standardized(X)
    t = ((y - y.mean()) / y.std())[:, None]
    rows = (U, Z, t, np.ones(n))
    cut = 3 * n // 4
    return tuple(r[:cut] for r in rows), tuple(r[cut:] for r in rows)


@pytest.mark.parametrize("g, exact, look_alike", [
    # a cosine of a tiny polynomial near π/2 IS the polynomial to first order
    (lambda x: x**2 - 0.5 * x, "x**2", "cos(-0.000247*x + 0.000577*x**2 + 1.57)"),
    (lambda x: x**2 - 0.5 * x, "x**2", "sin(0.02492*x - 0.05976*x**2 + 0.07211)"),
    # a cosine of a sine for a Gaussian (whose centre, in the map's u, sits
    # where the sample mean puts it: hence the small linear term)
    (lambda x: np.exp(-x**2), "exp(-0.02586*x - 1.326*x**2)", "cos(2.7*sin(0.838*x + 0.00205))"),
])
def test_the_exact_form_beats_its_look_alike_on_the_fronts_terms(g, exact, look_alike):
    """On the front's own terms, loss AND complexity: the unit's ridge fits
    each basis up to an affine change (centred columns, the intercept not
    penalized), so a look-alike that only shifts a basis's mean gains
    nothing; before, x**2 (mean 1 on standardized inputs) was shrunk towards
    the constant and lost."""
    train, validation = unit_rows(g)
    exact, look_alike = Formula(exact), Formula(look_alike)
    exact_loss = separable.held_out_loss(exact, train, validation)
    look_alike_loss = separable.held_out_loss(look_alike, train, validation)
    assert exact_loss <= look_alike_loss * 1.001, (exact_loss, look_alike_loss)
    assert exact.complexity < look_alike.complexity

