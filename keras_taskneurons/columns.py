"""Per-column statistics of the search's rows, on which the input map
(``keras_taskneurons.input_map``) is built: each column's robust domain
(Tukey's far-out fences), its sketch (quantiles) and the normal law's points,
its warp onto the normal law's quantiles (``scaling="quantile"``), its spread
with constant columns kept at 1, and whether the columns share one unit.
Plain numpy on ``(rows, columns)`` arrays."""

import statistics

import numpy as np

ALIKE_SPREAD = 2.0
"""``"auto"`` keeps one map for all columns while their standard deviations
are within this factor of each other (and their means close): a per-column
map would then only add sampling noise (each column its own slightly
different affine map, so a target shared in the raw unit, ``Σ g(x_i)``, is
no longer exactly one ``f`` of the mapped values)."""


FENCE = 3.0
"""Each column's domain reaches at most this many interquartile ranges
beyond its quartiles (Tukey's far-out fences): a normal column is never cut
(its fences lie 4.7 standard deviations out), a column with rows 95
standard deviations out is cut where its bulk ends, so neither the bases'
normalization nor an oscillating basis spreads over the outliers' range."""

FENCE_KEEP = 0.025
"""... but the fences never cut more than this fraction of a column's rows
on either side: they stop at the column's ``FENCE_KEEP`` and
``1 - FENCE_KEEP`` quantiles. A discrete column whose middle value holds
most rows has a tiny interquartile range, and the fences alone cut whole
values of it (yacht's first column: its two outer values, 36 % of the
rows, clipped for ``x`` and for the bases)."""


def fenced(low, high, first, third, inner_low, inner_high):
    """Each column's range ``(low, high)`` cut at Tukey's far-out fences
    ``first - FENCE·IQR``, ``third + FENCE·IQR`` (quartiles ``first``,
    ``third``), never inside ``(inner_low, inner_high)`` (its
    ``FENCE_KEEP`` quantiles); a column whose interquartile range is 0
    keeps its range."""
    spread = third - first
    cut = spread > 0
    return (np.where(cut, np.maximum(low, np.minimum(first - FENCE * spread, inner_low)), low),
            np.where(cut, np.minimum(high, np.maximum(third + FENCE * spread, inner_high)), high))


def column_domains(U):
    """``(low, high)``, one value per column of ``U`` (n, d): the column's
    range, cut at the fences ``Q1 - FENCE·IQR``, ``Q3 + FENCE·IQR`` but
    never inside its ``FENCE_KEEP`` quantiles; a column whose
    interquartile range is 0 (mostly one value: binary, rare events) keeps
    its whole range; a constant column gets ``c ± 1``."""
    U = np.asarray(U, dtype=np.float64)
    first, third, inner_low, inner_high = np.percentile(
        U, [25, 75, 100 * FENCE_KEEP, 100 * (1 - FENCE_KEEP)], axis=0)
    low, high = fenced(U.min(axis=0), U.max(axis=0), first, third, inner_low, inner_high)
    flat = ~(high > low)
    return np.where(flat, low - 1.0, low), np.where(flat, high + 1.0, high)


SKETCH_POINTS = 16
"""How many quantiles of each column a fitted map keeps (``quantiles``)."""

SKETCH_MAX_FEATURES = 4096
"""A map of more columns keeps no sketch (a saved map stays small: at most
``SKETCH_MAX_FEATURES * SKETCH_POINTS`` numbers); ``InputMap.column_sample()``
then draws each column from a normal law with its mean and spread."""


def normal_points(count):
    """The standard normal's quantiles at ``(k + 0.5) / count``."""
    law = statistics.NormalDist()
    return np.array([law.inv_cdf((k + 0.5) / count) for k in range(count)])


def domain_sample(low, high, points=SKETCH_POINTS):
    """``(points, 1)``: the normal law centred in ``(low, high)`` with a
    quarter of its width as spread (its ``mean ± 2 std`` on the ends, as
    the ``"running"`` range maps what a layer sees), clipped there."""
    normal = normal_points(points)[:, None]
    return np.clip((low + high) / 2 + (high - low) / 4 * normal, low, high)


def sketch(U, points=SKETCH_POINTS):
    """Each column's ``points`` quantiles of ``U`` (n, d) at the
    probabilities ``(k + 0.5) / points``, as a ``(d, points)`` array."""
    probabilities = 100.0 * (np.arange(points) + 0.5) / points
    return np.percentile(np.asarray(U, dtype=np.float64), probabilities, axis=0).T


QUANTILE_KNOTS = 32
"""How many of a column's quantiles (at ``k / (QUANTILE_KNOTS - 1)``, its
smallest and largest value among them) the ``"quantile"`` warp keeps; tied
quantiles (a binary or discrete column) merge into one knot."""

MAX_WARP_KNOTS = 64
"""The most knots a stored warp may hold per column (untrusted data)."""


def quantile_warp(X, knots=QUANTILE_KNOTS):
    """``(knots_x, knots_q)``, two ``(d, K)`` arrays: for each column of
    ``X`` (n, d) its quantiles at ``k / (K - 1)`` and the standard normal's
    quantiles at the same probabilities (the ends at ``0.5 / n`` and ``1 -
    0.5 / n``, as the smallest and largest of ``n`` normal rows), tied
    quantiles merged into one knot with their mean value and the rows
    padded by repeating their last knot; ``K = min(knots, n)``, at least
    2."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    count = max(min(knots, n), 2)
    probabilities = np.linspace(0.0, 1.0, count)
    law = statistics.NormalDist()
    targets = np.array([law.inv_cdf(p) for p in np.clip(probabilities, 0.5 / n, 1 - 0.5 / n)]
                       ) if n > 1 else np.zeros(count)
    quantiles = np.quantile(X, probabilities, axis=0).T  # (d, count)
    knots_x, knots_q = np.empty((d, count)), np.empty((d, count))
    for column, row in enumerate(quantiles):
        unique, inverse = np.unique(row, return_inverse=True)
        merged = np.bincount(inverse, targets) / np.bincount(inverse)
        knots_x[column] = np.r_[unique, np.full(count - unique.size, unique[-1])]
        knots_q[column] = np.r_[merged, np.full(count - unique.size, merged[-1])]
    return knots_x, knots_q


def warp_segments(knots_x, knots_q):
    """``(low, high, slope)`` of each segment of the warp through
    ``(knots_x, knots_q)``, three ``(d, K - 1)`` arrays; a segment of zero
    width (padding, merged ties) has slope 0."""
    low, high = knots_x[:, :-1], knots_x[:, 1:]
    width = high - low
    slope = np.divide(np.diff(knots_q, axis=1), width, out=np.zeros_like(width),
                      where=width > 0)
    return low, high, slope


def invert_warp(Q, knots_x, knots_q):
    """The values (one per column, ``Q`` of shape ``(d,)``) whose warp
    through ``(knots_x, knots_q)`` is ``Q``, inside the knots' range."""
    return np.array([np.interp(q, values, knots)
                     for q, values, knots in zip(Q, knots_q, knots_x)])


def apply_warp(X, knots_x, knots_q):
    """The piecewise-linear warp through ``(knots_x, knots_q)`` (rows per
    column) of ``X`` (..., d), held at the end knots beyond them (numpy,
    float64; the layers compute the same sum of clipped segments)."""
    low, high, slope = warp_segments(knots_x, knots_q)
    X = np.asarray(X, dtype=np.float64)
    flat = X.reshape(-1, X.shape[-1]) if X.ndim else X.reshape(1, 1)
    out = np.empty(flat.shape)
    rows = max(1, (1 << 22) // max(1, low.size))  # a bounded temporary per chunk
    for start in range(0, len(flat), rows):
        part = flat[start:start + rows, :, None]
        out[start:start + rows] = knots_q[:, 0] + np.sum(
            slope * (np.clip(part, low, high) - low), axis=-1)
    return out.reshape(X.shape)


def alike(X):
    """Whether the columns of ``X`` look like one unit (see ``"auto"``)."""
    spread, means = X.std(axis=0), X.mean(axis=0)
    if X.shape[1] < 2 or not np.all(spread > 0):
        return X.shape[1] < 2
    overall = X.std()
    return bool(spread.max() <= ALIKE_SPREAD * spread.min()
                and np.ptp(means) <= overall)

def _safe_scale(scale):
    scale = np.asarray(scale, dtype=np.float64)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


CONSTANT = 1e-10
"""A column whose standard deviation is at most this fraction of its
largest magnitude is constant (the rest is rounding): it gets scale 1."""


def spread(values, axis=0):
    """The standard deviation of ``values`` along ``axis``, 1 where they are
    constant up to rounding (``CONSTANT``): a constant column's std is
    often 1e-17 rather than 0, and dividing by it would blow rounding noise
    up to values of 1e13."""
    values = np.asarray(values, dtype=np.float64)
    std = values.std(axis=axis)
    size = np.max(np.abs(values), axis=axis) if values.size else np.zeros_like(std)
    return np.where(np.isfinite(std) & (std > CONSTANT * size), std, 1.0)
