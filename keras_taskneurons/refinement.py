"""Fitness and refinement of a shared formula ``y ≈ a·Σ_i f(x_i) + b``.

Plain numpy and scipy: the search's fitness (``1 − R²`` after the best
least-squares scaling), the least-squares scaling itself, and the refinement
of an evolved formula (expansion into terms, pruning of useless terms,
least-squares tuning of its real constants).
"""

import math

import numpy as np
from scipy import optimize

from keras_taskneurons import formula as formula_module
from keras_taskneurons.formula import Formula

BAD_FITNESS = 1.0
"""Fitness of a useless program: as bad as predicting the mean."""

MAX_STACKED_VALUES = 50_000
"""Stacked values (samples × features) evaluated at once at most."""


def scaled_error(sums, targets, weights):
    """1 − R² (weighted, mean over outputs) after the best ``a·sums + b``."""
    if not np.all(np.isfinite(sums)):
        return BAD_FITNESS
    total = weights.sum()
    if total <= 0:
        return BAD_FITNESS
    w = weights / total
    s_mean = w @ sums
    s_centered = sums - s_mean
    s_var = w @ (s_centered * s_centered)
    y_mean = w @ targets
    y_centered = targets - y_mean
    y_var = w @ (y_centered * y_centered)
    if not s_var > 1e-12 * max(1.0, s_mean * s_mean):
        return BAD_FITNESS
    # An output that is constant on these samples has nothing to explain.
    varying = y_var > 0
    if not np.any(varying):
        return BAD_FITNESS
    covariance = (w * s_centered) @ y_centered
    explained = covariance[varying] ** 2 / (s_var * y_var[varying])
    error = float(np.mean(1.0 - explained))
    return error if math.isfinite(error) else BAD_FITNESS


def linear_scaling(sums, targets, weights):
    """Least-squares ``a, b`` (one per output) for ``targets ≈ a·sums + b``."""
    w = weights / weights.sum()
    s_mean = w @ sums
    s_centered = sums - s_mean
    s_var = w @ (s_centered * s_centered)
    y_mean = w @ targets
    if s_var <= 0:
        return np.zeros(targets.shape[1]), y_mean
    a = ((w * s_centered) @ (targets - y_mean)) / s_var
    return a, y_mean - a * s_mean


def feature_sum(formula, X, chunk_values=MAX_STACKED_VALUES):
    """``Σ_i f(x_i)`` per row of ``X``, in chunks of bounded memory."""
    n_samples, n_features = X.shape
    rows = max(1, chunk_values // max(1, n_features))
    out = np.empty(n_samples)
    for start in range(0, n_samples, rows):
        block = formula.evaluate(X[start:start + rows])
        out[start:start + rows] = block.sum(axis=1)
    return out


def refine(formula, X, targets, weights, score):
    """Expand into terms, then tune every real constant by least squares.

    The scaling ``a, b`` is eliminated inside the residual (variable
    projection), so only the formula's own constants are optimised. Returns
    the refined formula and its fitness, or the input when that is better.
    """
    best_formula, best_score = formula, score
    try:
        constant, terms = formula.terms()
        expanded = Formula._from_tree(_sum_tree(constant, terms))
    except ValueError:
        expanded = formula
    expanded = _prune_terms(expanded, X, targets, weights)
    start = np.array(expanded.constants, dtype=np.float64)
    expanded_score = _fitness_with(expanded, start, X, targets, weights)
    if expanded_score <= best_score + 1e-12:
        best_formula, best_score = expanded, expanded_score
    if start.size:
        root_w = np.sqrt(weights / weights.sum())

        def residuals(values):
            sums = _sums_with(expanded, values, X)
            if not np.all(np.isfinite(sums)):
                return np.full(targets.size, 1e3)
            a, b = linear_scaling(sums, targets, weights)
            return ((targets - (sums[:, None] * a + b)) * root_w[:, None]).ravel()

        try:
            with np.errstate(all="ignore"):
                result = optimize.least_squares(
                    residuals, start, method="trf",
                    max_nfev=50 * (start.size + 1),
                )
            refined = expanded.with_constants(result.x)
            refined_score = _fitness_with(
                refined, np.array(refined.constants), X, targets, weights
            )
            if refined_score < best_score:
                best_formula, best_score = refined, refined_score
        except (ValueError, np.linalg.LinAlgError):
            pass
    return best_formula, float(best_score)


PRUNE_TOLERANCE = 1e-6
"""A term is dropped when the fitness, with the other terms' coefficients
refitted by least squares, worsens by at most this."""


def _term_fitness(columns, targets, weights):
    """1 − R² of the best linear combination of term columns (+ offset)."""
    if not columns:
        return BAD_FITNESS, None
    design = np.column_stack(columns + [np.ones(len(targets))])
    root_w = np.sqrt(weights / weights.sum())[:, None]
    coefficients, *_ = np.linalg.lstsq(design * root_w, targets * root_w, rcond=None)
    fitted = design @ coefficients
    residual = ((targets - fitted) ** 2 * root_w**2).sum(axis=0)
    centred = targets - (root_w[:, 0] ** 2) @ targets
    total = (centred**2 * root_w**2).sum(axis=0)
    varying = total > 0
    return float(np.mean(residual[varying] / total[varying])), coefficients


def _prune_terms(formula, X, targets, weights):
    """Drop terms that do not help, refitting the remaining coefficients.

    Works on the expansion ``c_0 + Σ_k c_k g_k``: the columns ``Σ_i g_k(x_i)``
    enter a weighted least squares, greedily without the term whose removal
    costs least, while that costs at most :data:`PRUNE_TOLERANCE`. The
    coefficients of the result are the least-squares ones.
    """
    try:
        _, terms = formula.terms()
    except ValueError:
        return formula
    bases = [basis for _, basis in terms]
    with np.errstate(all="ignore"):
        columns = [basis.evaluate(X).sum(axis=1) for basis in bases]
    if not all(np.all(np.isfinite(c)) for c in columns):
        return formula
    keep = list(range(len(bases)))
    score, _ = _term_fitness(columns, targets, weights)
    while len(keep) > 1:
        trials = [
            (_term_fitness([columns[j] for j in keep if j != k], targets, weights)[0], k)
            for k in keep
        ]
        trial_score, drop = min(trials)
        if trial_score > score + PRUNE_TOLERANCE:
            break
        keep.remove(drop)
    _, coefficients = _term_fitness([columns[j] for j in keep], targets, weights)
    # One output's coefficients define f (the others differ by a·, b).
    leading = coefficients[:-1, 0]
    if not np.any(leading):
        return formula
    terms = [(float(c), bases[j]) for c, j in zip(leading, keep)]
    try:
        return Formula._from_tree(_sum_tree(0.0, terms))
    except ValueError:
        return formula


def _sum_tree(constant, terms):
    apply = formula_module.apply_primitive
    tree = None
    for coefficient, basis in terms:
        magnitude = abs(coefficient) if tree is not None else coefficient
        term = basis.tree if magnitude == 1.0 else apply(
            "mul", ("const", magnitude), basis.tree
        )
        if tree is None:
            tree = term
        else:  # "a - 2*x" rather than "a + -2*x"
            tree = apply("sub" if coefficient < 0 else "add", tree, term)
    if constant != 0.0:
        tree = apply("add", tree, ("const", constant))
    return tree


def _sums_with(formula, values, X):
    return formula.evaluate_with_constants(X, values).sum(axis=1)


def _fitness_with(formula, values, X, targets, weights):
    return scaled_error(_sums_with(formula, values, X), targets, weights)
