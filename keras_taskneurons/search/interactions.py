"""Do interaction terms pay? A fast check after the search has found ``f``.

The found neuron is separable: ``a·Σ_i f(u_i) + b``. A network of its
layers gives every input its own weights on the bases of ``f``; what it
cannot form is a product of two directions of the input, which a layer's
``interaction_rank`` adds (``keras_taskneurons.layers.interaction``).
The check asks, on held-out rows, whether such products explain what the
separable part leaves:

1. **The separable part**, as a layer's first unit sees it: a ridge fit of
   each (standardized) target on every input's bases ``m_k g_k(u_i)``
   (``u`` clipped to the map's domain, as the layer's bases see it), every
   ``z_i`` (what the linear basis sees) and a constant, on the fitting
   rows. Its held-out loss is the loss WITHOUT interactions; measuring it
   against this per-input baseline (not against ``a·Σ f + b`` with ONE
   weight for every input) keeps per-input weights, which any network has,
   from passing for interactions.
2. **Products**: the separable residual is fitted by
   ``Σ_{k<r} (z̃ᵀ p_k)(z̃ᵀ q_k)``, ``z̃ = [z, 1]`` (the layer's term with its
   offsets), by alternating least squares (with ``q`` fixed the model is
   linear in ``p``, and the other way round), for each rank ``r`` of
   ``RANKS``; its held-out loss is the loss WITH rank ``r``.

Held-out values beyond the range of the fitting rows are clipped to it (a
pixel that is nonzero in one fitting row would otherwise extrapolate
wildly). Losses are mean squared errors of the standardized targets on the held-out
rows (the fraction of variance left, averaged over the outputs). The
suggested rank is the smallest that gets ``RANK_SHARE`` of the best
rank's improvement, if the best beats the separable loss by the factor
``MIN_GAIN`` and by ``MIN_IMPROVEMENT`` of the variance; 0
otherwise. Deterministic for a given ``rng``.
"""

import numpy as np

from keras_taskneurons.search import separable

RANKS = (1, 2, 4)
"""The interaction ranks tried."""

ITERATIONS = 8
"""Alternating least-squares sweeps per rank (each solves ``p`` then ``q``)."""

RIDGE = 1e-3
"""Ridge penalty, relative to the mean diagonal of the normal equations."""

MIN_GAIN = 1.1
"""A rank is suggested only if it cuts the held-out loss by this factor..."""

MIN_IMPROVEMENT = 0.01
"""... and by at least this fraction of the targets' variance."""

RANK_SHARE = 0.9
"""The suggested rank is the smallest that gets this share of the best
rank's improvement over the separable loss."""

MAX_ROWS = 4000
"""Fitting rows used at most (a random subset of them)."""

MAX_COLUMNS = 2000
"""Checks whose least-squares problems would be wider are skipped."""


def _solve(design, target, sqrt_weights):
    """Weighted ridge least squares on unit-scaled columns (a column of
    zeros gets coefficient 0), penalty ``RIDGE``: the coefficients,
    shape ``(columns,)`` (``ridge()``
    for one target)."""
    return separable.ridge(design, target[:, None], sqrt_weights, RIDGE)[:, 0]


def separable_design(formula, U, Z, domain):
    """Every input's bases ``g_k`` (on ``u`` clipped to ``domain``; ``x``
    itself as ``z``), then a constant: what one layer unit can weigh."""
    from keras_taskneurons.formula import Formula

    bounded = np.clip(U, *domain)
    columns = [Z]
    for _, basis in formula.terms()[1]:
        if basis == Formula("x"):
            continue
        values = np.asarray(basis.evaluate(bounded), dtype=np.float64)
        values = np.where(np.isfinite(values), values, 0.0)
        spread = values.std(axis=0)
        columns.append(values / np.where(spread > 0, spread, 1.0))
    columns.append(np.ones((len(U), 1)))
    return np.hstack(columns)


def fit_products(residual, Zt, rank, rng, sqrt_weights):
    """``(p, q)``, each ``(columns of Zt, rank)``: the alternating
    least-squares fit of ``residual ≈ Σ_k (Zt p_k)(Zt q_k)``."""
    width = Zt.shape[1]
    q = rng.normal(size=(width, rank)) / np.sqrt(width)
    p = np.zeros((width, rank))
    for _ in range(ITERATIONS):
        p = _solve(_products_design(Zt, Zt @ q), residual, sqrt_weights).reshape(rank, width).T
        q = _solve(_products_design(Zt, Zt @ p), residual, sqrt_weights).reshape(rank, width).T
    return p, q


def _products_design(Zt, other):
    """With one side fixed (``other = Zt @ q``), the model is linear in the
    other side's coefficients: the columns ``Zt * (Zt q_k)``, rank by rank."""
    return np.hstack([Zt * other[:, k:k + 1] for k in range(other.shape[1])])


def predict_products(Zt, p, q):
    return np.sum((Zt @ p) * (Zt @ q), axis=1)


def check_interactions(formula, U, Z, targets, weights, fit_rows, held_rows, domain, rng):
    """Held-out losses without and with interaction terms.

    Returns ``(losses, rank)``: ``losses`` maps each rank (0: separable
    only) to its held-out loss, ``{}`` when the check is skipped (too wide,
    or no held-out rows apart from the fitting rows); ``rank`` is the
    suggested interaction rank (module docstring).
    """
    n_features = Z.shape[1]
    separable_width = separable_design(formula, U[:1], Z[:1], domain).shape[1]
    if (separable_width > MAX_COLUMNS or (n_features + 1) * max(RANKS) > MAX_COLUMNS
            or len(held_rows) < 2 or np.array_equal(fit_rows, held_rows)):
        return {}, 0
    if len(fit_rows) > MAX_ROWS:
        fit_rows = np.sort(rng.choice(fit_rows, MAX_ROWS, replace=False))
    rows = {"fit": fit_rows, "held": held_rows}
    design = {k: separable_design(formula, U[r], Z[r], domain) for k, r in rows.items()}
    Zt = {k: np.hstack([Z[r], np.ones((len(r), 1))]) for k, r in rows.items()}
    for values in (design, Zt):  # held-out values beyond the fitted range stay at its ends
        values["held"] = np.clip(values["held"], values["fit"].min(axis=0),
                                 values["fit"].max(axis=0))
    sqrt_w = {k: np.sqrt(weights[r] / weights[r].mean()) for k, r in rows.items()}
    # Binary labels arrive as two complementary one-hot columns: one is enough.
    columns = targets[:, 1:] if targets.shape[1] == 2 and np.allclose(
        targets.sum(axis=1), targets[0].sum()) else targets
    losses = {0: 0.0, **{r: 0.0 for r in RANKS}}
    for column in columns.T:
        fit_target, held_target = column[fit_rows], column[held_rows]
        coefficients = _solve(design["fit"], fit_target, sqrt_w["fit"])
        fit_residual = fit_target - design["fit"] @ coefficients
        held_residual = held_target - design["held"] @ coefficients
        losses[0] += _loss(held_residual, sqrt_w["held"])
        for rank in RANKS:
            p, q = fit_products(fit_residual, Zt["fit"], rank, rng, sqrt_w["fit"])
            left = held_residual - predict_products(Zt["held"], p, q)
            losses[rank] += _loss(left, sqrt_w["held"])
    losses = {r: loss / columns.shape[1] for r, loss in losses.items()}
    return losses, suggested_rank(losses)


def _loss(residual, sqrt_weights):
    return float(np.mean((residual * sqrt_weights) ** 2))


def suggested_rank(losses):
    """The smallest rank with ``RANK_SHARE`` of the best rank's
    improvement, if that improvement counts (module docstring); else 0."""
    if not losses:
        return 0
    best = min(losses.values())
    if not (best * MIN_GAIN < losses[0] and losses[0] - best >= MIN_IMPROVEMENT):
        return 0
    enough = best + (1 - RANK_SHARE) * (losses[0] - best)
    return min(r for r, loss in losses.items() if r and loss <= enough)
