"""Fitness of a shared formula: ``y ≈ a·Σ_i f(x_i) + b``.

Plain numpy: the search's fitness (``1 − R²`` after the best least-squares
scaling ``a, b``), that scaling itself, the sum ``Σ_i f(x_i)`` in chunks of
bounded memory, and the fitness object gplearn calls on the stacked data.
"""

import math

import numpy as np

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


class ScaledSumFitness:
    """Fitness: 1 − R² of ``a·Σ_i f(x_i) + b`` after least-squares ``a, b``.

    Averaged over the outputs. Called by gplearn as ``fitness(y, y_pred, w)``
    on stacked vectors; the real targets and the shape live in ``state``,
    which ``release()`` empties after the fit so that a pickled estimator
    does not carry the training data.
    """

    def __init__(self, targets, n_features):
        self.state = {"targets": targets, "n_features": n_features}

    def release(self):
        self.state.clear()

    def function(self):
        state = self.state

        def scaled_sum_error(y, y_pred, sample_weight):
            targets = state["targets"]
            if y_pred.size != targets.shape[0] * state["n_features"]:
                # Only gplearn's own sanity check of the metric gets here.
                return float(np.average((y - y_pred) ** 2, weights=sample_weight))
            sums = y_pred.reshape(-1, state["n_features"]).sum(axis=1)
            weights = sample_weight.reshape(-1, state["n_features"])[:, 0]
            return scaled_error(sums, targets, weights)

        return scaled_sum_error
