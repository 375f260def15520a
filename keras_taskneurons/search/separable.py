"""The fitness that mirrors the layer: what ``f`` adds to a per-input linear neuron.

A unit of [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] holding the search's
map computes ``Σ_i w_i z_i + Σ_i Σ_k c_ik m_k g_k(u_i) + b``: every input its
own weight on ``x`` (``z``, each column standardized) and on every basis
``g_k`` of ``f`` (on ``u`` clipped to the column's domain). The paper's
fitness scores ``f`` by ``a·Σ_i f(u_i) + b``, ONE weight for every input: on
real data, whose inputs differ in sign and importance, it rewards the ``f``
that best repairs an equal-weights sum, not the basis that best complements
the per-input linear part every network already has. Here ``f`` is scored by
the model the layer's unit computes (``fitness="separable"``, the default):

- **In the evolution** (``SeparableFitness``), ``f`` enters as one
  column per input beside ``[z, 1]``: the fraction of the targets' variance
  that a ridge fit on ``[z, f(u), 1]`` leaves, computed through the
  residuals of the linear part (fitted once; each program then costs one
  ``(d, d)`` solve, about ``3·n·d²`` operations).
- **On the front** (``held_out_loss()``), a formula is expanded into its
  bases as the layer expands it, and the ridge fit on ``[z, g_1(u), …,
  g_K(u), 1]`` of the evolution rows is scored on the held-out rows.

The linear neuron itself (``f = x``, the design ``[z, 1]``) is scored the
same way, so a formula is kept only when it beats it
(``MIN_LINEAR_GAIN``). Losses are weighted mean squared errors of the
standardized targets over their variance (``1 − R²``), averaged over outputs.
"""

import math

import numpy as np

from keras_taskneurons.formula import Formula

RIDGE = 1e-3
"""Ridge penalty on columns scaled to unit root mean square."""

MIN_LINEAR_GAIN = 0.01
"""The chosen formula must cut the held-out loss of ``x`` alone by this
fraction of it, ..."""

MIN_LINEAR_T = 2.0
"""... and by this many standard errors of the rows' paired differences,
cross-validated over the search's rows (a one-sided test at about 2.3 %),
else the search keeps the linear neuron (and says so): on a linear target
with noise a basis cut the held-out loss of 100 rows by 3.6 % by chance."""

MIN_LINEAR_CUT = 1e-4
"""... and by this fraction of the targets' variance (held out): a basis
that explains less is not worth its weights (on an exactly linear target
``x`` leaves about 1e-6, the ridge's own bias, and a basis "cut" that by
70 % at a t of several standard errors)."""

CV_FOLDS = 5
"""Folds of the cross-validation that decides between ``f`` and ``x``."""

LINEAR = Formula("x")


def _sqrt_weights(weights):
    return np.sqrt(weights / weights.mean())


def ridge(design, targets, sqrt_weights, penalty=RIDGE):
    """Weighted ridge coefficients ``(columns, outputs)``: every column
    centred (weighted) and scaled to unit standard deviation, ``penalty``
    per row on each; a constant column is the intercept, never penalized (a
    column of zeros gets 0; without a constant column nothing is centred and
    the fit goes through zero).

    Centred, the fit depends on each column only up to an affine change
    ``a·g + c``, as the layer's unit does (its weights and bias absorb
    both): ``x**2`` and a near-copy shifted by a constant, such as
    ``cos(1.57 + 0.0006*x**2)``, score alike, so the shorter one wins on the
    front. Scaled around zero instead, a basis with a large mean (``x**2``
    on standardized inputs) was shrunk towards the constant and lost to
    look-alikes that had centred themselves."""
    w = sqrt_weights**2
    total = w.sum()
    constant = np.all(design == design[:1], axis=0) & np.any(design != 0, axis=0)
    # Without an intercept column the fit goes through zero: nothing centred.
    mean = (w @ design) / total if np.any(constant) else np.zeros(design.shape[1])
    t_mean = (w @ targets) / total if np.any(constant) else np.zeros(targets.shape[1])
    centred = (design - mean) * sqrt_weights[:, None]
    size = np.sqrt(np.sum(centred * centred, axis=0) / len(design))
    varying = size > 1e-12 * np.maximum(1.0, np.abs(mean))
    a = centred[:, varying] / size[varying]
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += penalty * len(a)
    right = a.T @ ((targets - t_mean) * sqrt_weights[:, None])
    try:
        solution = np.linalg.solve(gram, right)
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(gram, right, rcond=None)[0]
    coefficients = np.zeros((design.shape[1], targets.shape[1]))
    coefficients[varying] = solution / size[varying, None]
    offset = t_mean - mean @ coefficients
    if np.any(constant):  # the intercept: on the first constant column
        first = int(np.flatnonzero(constant)[0])
        coefficients[first] = offset / design[0, first]
    return coefficients


def fit_design(columns, targets, weights):
    """Ridge coefficients ``(columns, outputs)`` of ``targets`` on the
    ``design()`` ``columns`` (the last one the constant)."""
    with np.errstate(all="ignore"):
        return ridge(columns, targets, _sqrt_weights(weights))


def design(formula, U, Z):
    """The columns one unit of the first layer weighs: ``z`` (the linear
    basis), every other basis of ``formula`` on ``U`` (already bounded as
    the layer bounds it), and a constant."""
    columns = [Z]
    for _, basis in formula.terms()[1]:
        if basis == LINEAR:
            continue
        with np.errstate(all="ignore"):
            values = np.asarray(basis.evaluate(U), dtype=np.float64)
        columns.append(np.where(np.isfinite(values), values, 0.0))
    columns.append(np.ones((len(U), 1)))
    return np.hstack(columns)


def _row_losses(residual, targets, weights):
    """Each row's share of the loss ``Σ w r² / Σ w (t − mean)²`` (averaged
    over the outputs that vary): the loss is their sum; ``None`` when no
    output varies."""
    mean = (weights @ targets) / weights.sum()
    spread = weights @ ((targets - mean) ** 2)
    varying = spread > 0
    if not np.any(varying):
        return None
    shares = weights[:, None] * residual[:, varying] ** 2 / spread[varying]
    return shares.mean(axis=1)


def held_out_rows(formula, train, validation):
    """Each held-out row's share of the held-out loss of the unit's model
    for ``formula`` (see ``held_out_loss()``); ``None`` when it has none."""
    U, Z, targets, weights = train
    U_val, Z_val, t_val, w_val = validation
    fit = design(formula, U, Z)
    held = design(formula, U_val, Z_val)  # bounded by the map's domains, as the layer's
    coefficients = fit_design(fit, targets, weights)
    with np.errstate(all="ignore"):
        rows = _row_losses(t_val - held @ coefficients, t_val, w_val / w_val.mean())
    return rows if rows is not None and np.all(np.isfinite(rows)) else None


def held_out_loss(formula, train, validation):
    """The held-out loss of the unit's model for ``formula``: ridge on the
    ``design()`` of ``train`` = ``(U, Z, targets, weights)``, scored on
    ``validation`` (same layout), as ``1 − R²``; ``inf`` when it is not
    finite. The rows are bounded as the layer bounds them (each column to
    its domain), nothing more."""
    rows = held_out_rows(formula, train, validation)
    return math.inf if rows is None else float(rows.sum())


def cross_validated_rows(formula, rows, folds=None):
    """Each row's share of its fold's loss when the unit's model for
    ``formula`` is fitted on the other folds (``rows``: ``(U, Z, targets,
    weights)``; ``CV_FOLDS`` interleaved folds); ``None`` when a fold
    has no loss."""
    n = len(rows[0])
    folds = np.arange(n) % CV_FOLDS if folds is None else folds
    shares = np.empty(n)
    for fold in np.unique(folds):
        held = folds == fold
        part = held_out_rows(formula, tuple(p[~held] for p in rows),
                             tuple(p[held] for p in rows))
        if part is None:
            return None
        shares[held] = part
    return shares


def linear_gain(formula, train, validation):
    """``(gain, t)``: how much ``formula`` cuts the loss of ``x`` alone, as a
    fraction of it, and in standard errors of the rows' paired differences,
    cross-validated (``CV_FOLDS`` folds) over the search's rows (the
    evolution rows and the held-out ones together: four times the rows of
    the held-out split alone, so half its noise); ``(0, 0)`` when either
    has no loss."""
    rows = train if validation is train else tuple(
        np.concatenate([a, b]) for a, b in zip(train, validation))
    if len(rows[0]) < 2 * CV_FOLDS:
        linear, other = (held_out_rows(f, train, validation) for f in (LINEAR, formula))
    else:
        linear, other = (cross_validated_rows(f, rows) for f in (LINEAR, formula))
    if linear is None or other is None or len(linear) < 2:
        return 0.0, 0.0
    gain = linear - other
    error = gain.std(ddof=1) * np.sqrt(len(gain))
    t = gain.sum() / error if error > 0 else (math.inf if gain.sum() > 0 else 0.0)
    return float(gain.sum() / linear.sum()), float(t)


def beats_linear(formula, train, validation):
    """Whether ``formula`` cuts the cross-validated loss of ``x`` alone by
    ``MIN_LINEAR_GAIN`` of it, by ``MIN_LINEAR_T`` standard errors
    of the rows' paired differences (``linear_gain()``) and by
    ``MIN_LINEAR_CUT`` of the targets' variance (x's held-out loss on
    ``validation`` times the gain)."""
    gain, t = linear_gain(formula, train, validation)
    return clears_linear(gain, t, held_out_loss(LINEAR, train, validation))


def clears_linear(gain, t, linear_loss):
    """The decision of ``beats_linear()`` from its figures: ``gain`` and
    ``t`` from ``linear_gain()``, ``linear_loss`` x's held-out loss."""
    return gain > MIN_LINEAR_GAIN and t > MIN_LINEAR_T and gain * linear_loss > MIN_LINEAR_CUT


def in_sample_loss(formula, rows):
    """The loss of the unit's model for ``formula`` on the rows it is
    fitted to (``(U, Z, targets, weights)``)."""
    return held_out_loss(formula, rows, rows)


class SeparableFitness:
    """The evolution's fitness: ``1 − R²`` of a ridge fit on ``[z, f(u), 1]``.

    The linear part ``[z, 1]`` is fitted once (an orthonormal basis ``Q`` of
    its weighted columns and the targets' residuals); a program's values
    ``F`` (n, d) are projected off it and the residuals regressed on what
    is left. Called by gplearn as ``fitness(y, y_pred, w)`` on stacked
    vectors; the rows live in ``state``, which ``release()`` empties after
    the fit so that a pickled estimator does not carry the training data.
    """

    def __init__(self, Z, targets, weights):
        sqrt_w = _sqrt_weights(weights)
        linear = np.hstack([Z, np.ones((len(Z), 1))]) * sqrt_w[:, None]
        left, singular, _ = np.linalg.svd(linear, full_matrices=False)
        Q = left[:, singular > 1e-10 * singular[0]]
        t = targets * sqrt_w[:, None]
        residual = t - Q @ (Q.T @ t)
        w = sqrt_w**2
        spread = w @ ((targets - (w @ targets) / w.sum()) ** 2)
        self.state = {
            "Q": Q, "sqrt_w": sqrt_w, "residual": residual,
            "left": np.sum(residual**2, axis=0), "spread": spread,
            "n_features": Z.shape[1],
        }

    @property
    def linear_loss(self):
        """The in-sample loss of ``x`` alone."""
        state = self.state
        varying = state["spread"] > 0
        return float(np.mean(state["left"][varying] / state["spread"][varying]))

    def release(self):
        self.state.clear()

    def loss(self, F):
        """The loss with ``F`` (n, d), the program's values, beside ``[z, 1]``."""
        state = self.state
        if not np.all(np.isfinite(F)):
            return 1.0
        F = F * state["sqrt_w"][:, None]
        F = F - state["Q"] @ (state["Q"].T @ F)
        size = np.sqrt(np.sum(F * F, axis=0))
        keep = size > 1e-9 * max(1.0, float(size.max(initial=0.0)))
        varying = state["spread"] > 0
        left = state["left"]
        if np.any(keep):
            F = F[:, keep] / size[keep]
            gram = F.T @ F
            gram[np.diag_indices_from(gram)] += RIDGE
            right = F.T @ state["residual"]
            try:
                explained = np.sum(right * np.linalg.solve(gram, right), axis=0)
            except np.linalg.LinAlgError:
                explained = 0.0
            left = np.maximum(left - explained, 0.0)
        loss = float(np.mean(left[varying] / state["spread"][varying]))
        return loss if math.isfinite(loss) else 1.0

    def function(self):
        state = self.state

        def separable_error(y, y_pred, sample_weight):
            n_features = state["n_features"]
            if y_pred.size != state["residual"].shape[0] * n_features:
                # Only gplearn's own sanity check of the metric gets here.
                return float(np.average((y - y_pred) ** 2, weights=sample_weight))
            return self.loss(y_pred.reshape(-1, n_features))

        return separable_error
