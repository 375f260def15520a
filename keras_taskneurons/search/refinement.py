"""Refinement of an evolved formula for ``y ≈ a·Σ_i f(x_i) + b``.

Expansion into terms, pruning of terms that do not help, and least-squares
tuning of the real constants (numpy and scipy). Every formula it returns
expands into terms, so a layer can be built on it.
"""

import numpy as np
from scipy import optimize

from keras_taskneurons.formula import Formula, apply_primitive
from keras_taskneurons.search.fitness import (
    BAD_FITNESS,
    linear_scaling,
    scaled_error,
)


def expands(formula):
    """Whether ``formula`` expands into terms, which a layer needs.

    Formulas outside the limits never get here (:class:`Formula` refuses
    them); this catches the ones whose expansion is constant, has too many
    terms or a coefficient that overflows.
    """
    try:
        formula.terms()
    except ValueError:
        return False
    return True


def refine(formula, X, targets, weights, score):
    """Expand into terms, then tune every real constant by least squares.

    The scaling ``a, b`` is eliminated inside the residual (variable
    projection), so only the formula's own constants are optimised. Returns
    the refined formula and its fitness, or the input when that is better;
    a candidate that does not expand into terms (:func:`expands`) is never
    returned in place of the input.
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
    if expanded_score <= best_score + 1e-12 and expands(expanded):
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
            if refined_score < best_score and expands(refined):
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
    apply = apply_primitive
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
