"""The input map: the one affine map from the user's features to the values
the formula is searched on, shared by the search, the factory and the layers.

The search fits ``f`` on ``u = (x - center) / scale`` (column by column); a
layer built from the search applies the same map to its inputs, so the
formula the search found is the function the layer computes on the user's
raw features. The map also records the *domain* the search saw, on which
the layers normalize and bound their bases: each column's own range of
``u`` (``low``, ``high``), robust to outliers (``column_domains()``: the
column's range, cut at Tukey's far-out fences ``Q1 - 3 IQR`` and ``Q3 + 3
IQR`` where it reaches beyond them), the values beyond it clipped alike in
the search and in every layer; ``domain``, one ``(low, high)`` pair, is the
typical column's (the median of the columns' ends), on which the bases are
normalized and later layers bring what they see; and each column's mean and standard
deviation of ``u`` there (``u_mean``, ``u_std``), with which the layer's
linear basis sees each input standardized: an affine change that ``x``'s
weights absorb, but the conditioning a ``Dense`` layer trains best with
(min-max scaled skewed columns train a Dense network 2x worse on airfoil).

Scalings (``SCALINGS``):

- ``"auto"`` (the estimators' default): ``"global"`` when the columns look
  like one unit (their standard deviations within a factor
  ``ALIKE_SPREAD`` of each other and their means within one overall
  standard deviation of each other), else ``"standard"``; the fitted map's
  ``scaling`` says which;
- ``"standard"``: each column to mean 0 and standard deviation 1 on the
  training rows;
- ``"minmax"`` (the paper's): each column to ``[-1, 1]``;
- ``"global"``: ONE mean and ONE standard deviation over all values (every
  column alike; only right when the columns share a unit);
- ``"none"``: the identity;
- ``"quantile"`` (the robust map for the bases): each column
  standardized as ``"standard"`` does, ``a = (x - center) / scale``, which
  the linear basis sees (as a ``Dense`` layer after ``Normalization``),
  then through its own piecewise-linear *warp* ``q`` (``quantile_warp()``:
  ``QUANTILE_KNOTS`` of the column's quantiles onto the standard
  normal's, held at the ends beyond the fitted rows' range), which every
  other basis sees: ``u = q(a)``, so a heavy tail or an outlier no longer
  stretches what ``f`` is evaluated on, and every column's bulk fills the
  same domain. The layers apply the same warp in ``keras.ops``.

Each column also keeps a sketch of its values (``quantiles``: its
``SKETCH_POINTS`` quantiles of ``u`` at the probabilities ``(k + 0.5) /
SKETCH_POINTS``, for maps of at most ``SKETCH_MAX_FEATURES`` columns), from
which a layer normalizes each basis by its spread on the search's rows
(``normalize_bases="spread"``, ``InputMap.column_sample()``).

A constant column gets scale 1 (it is only centred). ``"minmax"`` keeps the
paper's exact ``[-1, 1]`` for every column (no per-column domains).

>>> import numpy as np
>>> from keras_taskneurons.input_map import InputMap
>>> X = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
>>> m = InputMap.fit(X, "minmax")
>>> m.transform(X)
array([[-1., -1.],
       [ 0.,  1.],
       [ 1.,  0.]])
>>> m.domain
(-1.0, 1.0)
>>> InputMap.from_config(m.get_config()) == m
True
>>> heavy = np.r_[np.linspace(-1, 1, 99), 95.0][:, None]  # one row 95 std out
>>> s = InputMap.fit(heavy, "standard")
>>> bool(s.high[0] < 0.5 * s.transform(heavy).max())  # its domain stops short of it
True
"""

import math
import numbers
import statistics

import numpy as np

from keras_taskneurons.columns import (  # noqa: F401  (the map's helpers, importable here too)
    ALIKE_SPREAD,
    CONSTANT,
    FENCE,
    FENCE_KEEP,
    MAX_WARP_KNOTS,
    QUANTILE_KNOTS,
    SKETCH_MAX_FEATURES,
    SKETCH_POINTS,
    _safe_scale,
    alike,
    apply_warp,
    column_domains,
    domain_sample,
    fenced,
    invert_warp,
    normal_points,
    quantile_warp,
    sketch,
    spread,
)

SCALINGS = ("auto", "standard", "minmax", "global", "none", "quantile")

EDGE_ROOM = 1e-5
"""How far (a fraction of its width) ``InputMap.linear_domain()`` reaches
beyond the domain: the fitted rows' extremes are never clipped by round-off."""


MAX_FEATURES = 1_000_000
"""The most columns a stored map may describe (a saved model is untrusted
data: this bounds what loading one allocates)."""


def _float_vector(name, values):
    if isinstance(values, (str, bytes)):
        raise TypeError(f"The input map's {name} must be a list of numbers. Received: {values!r:.100}")
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):  # ragged
        array = None
    if (
        array is None or array.ndim != 1 or array.dtype.kind not in "biuf"
        or array.dtype.kind == "b"
    ):
        raise TypeError(
            f"The input map's {name} must be a flat list of numbers. "
            f"Received: {name}={values!r:.200}"
        )
    if not 1 <= array.size <= MAX_FEATURES:
        raise ValueError(
            f"The input map's {name} must hold 1 to {MAX_FEATURES} values. "
            f"Received: {array.size} values"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"The input map's {name} must be finite. Received: {name}={values!r:.200}"
        )
    return array


def _domain_pair(domain):
    if (
        not isinstance(domain, (tuple, list)) or len(domain) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in domain)
        or not all(math.isfinite(v) for v in domain) or not domain[0] < domain[1]
    ):
        raise ValueError(
            "A domain must be a (low, high) pair of finite numbers with low < high. "
            f"Received: domain={domain!r:.200}"
        )
    return float(domain[0]), float(domain[1])


class InputMap:
    """``u = q((x - center) / scale)`` per column (``q`` a warp, the identity
    for every scaling but ``"quantile"``), and the domain of ``u``.

    Args:
        center: One number per column.
        scale: One positive number per column.
        domain: ``(low, high)``: the range of ``u`` on the data the map was
            fitted to (the range the formula is searched on). Default
            ``(-1, 1)``.
        scaling: The name of the rule that produced the map (informative).
        u_mean: ``None`` or each column's mean of ``u`` on the fitted rows:
            a layer's linear basis then sees ``(u - u_mean) / u_std``.
        u_std: ``None`` or each column's (positive) standard deviation of
            ``u`` on the fitted rows.
        low: ``None`` or each column's lower end of its own domain of
            ``u`` (``low < high``): the search and the layers clip each
            column there; without ``low`` and ``high`` every column has
            ``domain``.
        high: ``None`` or each column's upper end of its own domain.
        quantiles: ``None`` or a ``(columns, points)`` sketch of each
            column's values of ``u`` (2 to 64 nondecreasing quantiles per
            column, at the probabilities ``(k + 0.5) / points``; at most
            ``SKETCH_MAX_FEATURES`` columns), from which layers size
            their bases (``column_sample()``).
        warp_knots: ``None`` or a ``(columns, K)`` array (2 to
            ``MAX_WARP_KNOTS`` nondecreasing values per column): the
            values of ``(x - center) / scale`` where the warp ``q`` bends;
            the linear basis then sees ``(x - center) / scale``, clipped
            to the knots' range in a layer that clips.
        warp_values: ``None`` or ``q`` at ``warp_knots`` (same shape,
            nondecreasing per column); ``q`` is linear between knots and
            held at its end values beyond them (``apply_warp()``).
    """

    def __init__(self, center, scale, domain=(-1.0, 1.0), scaling="custom",
                 u_mean=None, u_std=None, low=None, high=None, quantiles=None,
                 warp_knots=None, warp_values=None):
        self.center = _float_vector("center", center)
        self.scale = _float_vector("scale", scale)
        self.u_mean = None if u_mean is None else _float_vector("u_mean", u_mean)
        self.u_std = None if u_std is None else _float_vector("u_std", u_std)
        if (self.u_mean is None) != (self.u_std is None):
            raise ValueError("The input map's u_mean and u_std come together.")
        self.low = None if low is None else _float_vector("low", low)
        self.high = None if high is None else _float_vector("high", high)
        if (self.low is None) != (self.high is None):
            raise ValueError("The input map's low and high come together.")
        if self.low is not None and (self.low.shape != self.high.shape
                                     or not np.all(self.low < self.high)):
            raise ValueError(
                "The input map's per-column domains need low < high in every column. "
                f"Received: low={list(self.low)!r:.100}, high={list(self.high)!r:.100}")
        for name in ("scale", "u_mean", "u_std", "low"):
            values = getattr(self, name)
            if values is not None and values.shape != self.center.shape:
                raise ValueError(
                    "The input map's center, scale (and u_mean, u_std) must have one value "
                    f"per column each. Received: {self.center.size} centers, {values.size} "
                    f"values of {name}"
                )
        for name in ("scale", "u_std"):
            values = getattr(self, name)
            if values is not None and not np.all(values > 0):
                raise ValueError(
                    f"The input map's {name} values must be positive. Received: "
                    f"{name}={list(values)!r:.200}"
                )
        self.quantiles = None if quantiles is None else self._checked_sketch(quantiles)
        if (warp_knots is None) != (warp_values is None):
            raise ValueError("The input map's warp_knots and warp_values come together.")
        self.warp_knots = self.warp_values = None
        if warp_knots is not None:
            self.warp_knots = self._checked_sketch(warp_knots, "warp_knots", MAX_WARP_KNOTS)
            self.warp_values = self._checked_sketch(warp_values, "warp_values", MAX_WARP_KNOTS)
            if self.warp_knots.shape != self.warp_values.shape:
                raise ValueError(
                    "The input map's warp_knots and warp_values must have the same shape. "
                    f"Received: {self.warp_knots.shape} and {self.warp_values.shape}")
        self.domain = _domain_pair(domain)
        if not isinstance(scaling, str) or len(scaling) > 32:
            raise TypeError(f"scaling must be a short string. Received: scaling={scaling!r:.100}")
        self.scaling = scaling

    def _checked_sketch(self, quantiles, name="quantiles", most=64):
        """``quantiles`` (the sketch, or a warp's knots or values) as a
        ``(n_features, points)`` float64 array, or a ``ValueError``/
        ``TypeError`` naming what is wrong (untrusted data)."""
        if not isinstance(quantiles, (list, tuple, np.ndarray)) or len(quantiles) != self.center.size:
            raise ValueError(
                f"The input map's {name} must hold one row per column ({self.center.size}). "
                f"Received: {name}={quantiles!r:.100}")
        if self.center.size > SKETCH_MAX_FEATURES:
            raise ValueError(
                f"An input map of {self.center.size} columns keeps no {name} (at most "
                f"{SKETCH_MAX_FEATURES} columns do).")
        rows = [_float_vector(name, row) for row in quantiles]
        points = {row.size for row in rows}
        if len(points) != 1 or not 2 <= points.pop() <= most:
            raise ValueError(
                f"The input map's {name} must hold the same number (2 to {most}) of values "
                f"per column. Received: {sorted({row.size for row in rows})!r:.100}")
        array = np.stack(rows)
        if not np.all(np.diff(array, axis=1) >= 0):
            raise ValueError(f"The input map's {name} must be nondecreasing in every column.")
        return array

    @classmethod
    def fit(cls, X, scaling="auto"):
        """The map ``scaling`` gives for the rows of ``X`` (n, d)."""
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}. Received: scaling={scaling!r}")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must be a non-empty 2-D array. Received shape {X.shape}")
        d = X.shape[1]
        if scaling == "auto":
            scaling = "global" if alike(X) else "standard"
        if scaling == "quantile" and d > SKETCH_MAX_FEATURES:
            raise ValueError(
                f"scaling='quantile' keeps a warp per column, for at most "
                f"{SKETCH_MAX_FEATURES} columns. Received: {d} columns")
        if scaling == "minmax":
            low, high = X.min(axis=0), X.max(axis=0)
            center, scale = (low + high) / 2, _safe_scale((high - low) / 2)
        elif scaling in ("standard", "quantile"):
            center, scale = X.mean(axis=0), spread(X)
        elif scaling == "global":
            center, scale = np.full(d, X.mean()), np.full(d, float(spread(X.ravel())))
        else:
            center, scale = np.zeros(d), np.ones(d)
        mapped = (X - center) / scale
        warp = {}
        if scaling == "quantile":  # the bases' values: the standardized column, warped
            knots, values = quantile_warp(mapped)
            warp = dict(warp_knots=knots, warp_values=values)
            mapped = apply_warp(mapped, knots, values)
        u_mean, u_std = mapped.mean(axis=0), spread(mapped)
        quantiles = sketch(mapped) if d <= SKETCH_MAX_FEATURES else None
        if scaling == "minmax":  # exactly (-1, 1) unless every column is constant
            low, high = float(mapped.min()), float(mapped.max())
            low, high = (-1.0, 1.0) if high > low else (low - 1.0, high + 1.0)
            return cls(center, scale, (low, high), scaling, u_mean, u_std, quantiles=quantiles)
        lows, highs = column_domains(mapped)
        domain = (float(np.median(lows)), float(np.median(highs)))
        return cls(center, scale, domain, scaling, u_mean, u_std, lows, highs, quantiles, **warp)

    @property
    def n_features(self):
        return self.center.size

    @property
    def is_identity(self):
        return bool(np.all(self.center == 0) and np.all(self.scale == 1)
                    and self.warp_knots is None)

    @property
    def is_uniform(self):
        """Whether every column has the same map (so a convolution can apply
        it to every channel)."""
        same = np.all(self.center == self.center[0]) and np.all(self.scale == self.scale[0])
        if self.warp_knots is not None:
            same = same and np.all(self.warp_knots == self.warp_knots[0]) and np.all(
                self.warp_values == self.warp_values[0])
        return bool(same)

    def warp(self, A):
        """``q(A)``: standardized values ``A`` (``(x - center) / scale``)
        through each column's warp (``A`` itself, as float64, without a
        warp)."""
        A = self._checked(A)
        if self.warp_knots is None:
            return A
        return apply_warp(A, self.warp_knots, self.warp_values)

    def transform(self, X):
        """``u``: ``(X - center) / scale``, through the warp where the map
        has one (numpy, float64)."""
        return self.warp((self._checked(X) - self.center) / self.scale)

    def column_domains(self):
        """``(low, high)``: each column's domain of ``u`` (arrays of
        ``n_features``; ``domain`` for every column without per-column
        domains)."""
        if self.low is not None:
            return self.low, self.high
        return np.full(self.n_features, self.domain[0]), np.full(self.n_features, self.domain[1])

    def column_sample(self):
        """``(points, n_features)``: values of ``u`` that stand for each
        column's rows, clipped to its domain as the bases see them: the
        column's stored quantiles, else (a map without ``quantiles``) the
        normal law's quantiles with the column's mean and spread of ``u``
        (without those, centred in ``domain`` with a quarter of its width
        as spread). A layer normalizes its bases by their spread over these
        (``normalize_bases="spread"``)."""
        if self.quantiles is not None:
            sample = self.quantiles.T
        else:
            if self.u_mean is not None:
                sample = self.u_mean + self.u_std * normal_points(SKETCH_POINTS)[:, None]
            else:
                sample = np.repeat(domain_sample(*self.domain), self.n_features, axis=1)
        return np.clip(sample, *self.column_domains())

    def bounded(self, X):
        """``u`` clipped to each column's domain (numpy): what the bases of a
        layer holding the map see, and what the search evaluates ``f`` on."""
        return np.clip(self.transform(X), *self.column_domains())

    def _checked(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.shape[-1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[-1]} features, but the input map has {self.n_features}."
            )
        return X

    def uniform(self):
        """The same map for one channel (only for a uniform map)."""
        if not self.is_uniform:
            raise ValueError(
                "This input map differs between columns, so it cannot be applied to "
                "every channel of a convolution alike; search with scaling='global' "
                "or 'none' for images."
            )
        stats = {}
        if self.u_mean is not None:  # pooled over the columns
            mean = float(self.u_mean.mean())
            second = float(np.mean(self.u_std**2 + self.u_mean**2))
            stats = dict(u_mean=[mean], u_std=[max(second - mean**2, 0.0) ** 0.5 or 1.0])
        if self.low is not None:  # every column's domain in one
            stats.update(low=[float(self.low.min())], high=[float(self.high.max())])
        if self.quantiles is not None:  # the pooled columns' quantiles
            stats["quantiles"] = sketch(self.quantiles.reshape(-1, 1),
                                        self.quantiles.shape[1])
        if self.warp_knots is not None:
            stats.update(warp_knots=self.warp_knots[:1], warp_values=self.warp_values[:1])
        return InputMap(self.center[:1], self.scale[:1], self.domain, self.scaling, **stats)

    def get_config(self):
        config = {
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "domain": list(self.domain),
            "scaling": self.scaling,
        }
        for name in ("u_mean", "u_std", "low", "high"):
            if getattr(self, name) is not None:
                config[name] = [float(v) for v in getattr(self, name)]
        for name in ("quantiles", "warp_knots", "warp_values"):
            if getattr(self, name) is not None:
                config[name] = [[float(v) for v in row] for row in getattr(self, name)]
        return config

    def linear_map(self):
        """``(center, scale)`` of the ONE affine map from ``x`` to what the
        layer's linear basis sees: ``z = (x - center) / scale``, each column
        standardized on the fitted rows (``u`` itself without statistics;
        the map's own affine part, before the warp, with one)."""
        if self.u_mean is None or self.warp_knots is not None:
            return self.center, self.scale
        return self.center + self.scale * self.u_mean, self.scale * self.u_std

    def linear_domain(self):
        """``(low, high)`` per column: each column's domain in the units of
        what the linear basis sees (``z``; ``u``'s without statistics),
        widened by ``EDGE_ROOM`` of its width so that the fitted rows
        inside it, computed along another affine path, pass unchanged in
        float32."""
        low, high = self.column_domains()
        if self.warp_knots is not None:  # before the warp: the fitted range, fenced
            low, high = self._fenced_knots()
        elif self.u_mean is not None:
            low, high = (low - self.u_mean) / self.u_std, (high - self.u_mean) / self.u_std
        room = EDGE_ROOM * np.maximum(high - low, 1.0 if self.warp_knots is not None else 0.0)
        return low - room, high + room

    def _fenced_knots(self):
        """Each column's range of ``(x - center) / scale`` on the fitted
        rows (its warp's end knots), cut at Tukey's far-out fences
        (``FENCE``, never inside the ``FENCE_KEEP`` quantiles) as
        ``column_domains()`` cuts, the quantiles read back through the
        warp (where the normal law's quantiles fall)."""
        knots, values = self.warp_knots, self.warp_values
        law = statistics.NormalDist()
        first, third, inner_low, inner_high = (
            invert_warp(np.full(self.n_features, law.inv_cdf(p)), knots, values)
            for p in (0.25, 0.75, FENCE_KEEP, 1 - FENCE_KEEP))
        return fenced(knots[:, 0], knots[:, -1], first, third, inner_low, inner_high)

    def standardized(self, X, bounded=False):
        """What the layer's linear basis sees for ``X`` (numpy); with
        ``bounded``, clipped to ``linear_domain()`` as in a layer holding
        the map with ``basis_range="clip"``."""
        center, scale = self.linear_map()
        z = (self._checked(X) - center) / scale
        return np.clip(z, *self.linear_domain()) if bounded else z

    @classmethod
    def from_config(cls, config):
        """Read a stored map (untrusted data: only numbers are accepted)."""
        if isinstance(config, InputMap):
            return config
        if not isinstance(config, dict) or not {"center", "scale"} <= set(config) or not set(
            config
        ) <= {"center", "scale", "domain", "scaling", "u_mean", "u_std", "low", "high",
              "quantiles", "warp_knots", "warp_values"}:
            raise TypeError(
                "An input map must be an InputMap or a dict with keys 'center', 'scale' "
                f"(and 'domain', 'scaling'). Received: {config!r:.200}"
            )
        return cls(
            config["center"], config["scale"], config.get("domain", (-1.0, 1.0)),
            config.get("scaling", "custom"), config.get("u_mean"), config.get("u_std"),
            config.get("low"), config.get("high"), config.get("quantiles"),
            config.get("warp_knots"), config.get("warp_values"),
        )

    def __eq__(self, other):
        return (
            isinstance(other, InputMap) and self.domain == other.domain
            and np.array_equal(self.center, other.center)
            and np.array_equal(self.scale, other.scale)
            and self.get_config() == other.get_config()
        )

    def __repr__(self):
        return (
            f"InputMap(scaling={self.scaling!r}, n_features={self.n_features}, "
            f"domain=({self.domain[0]:.4g}, {self.domain[1]:.4g}))"
        )
