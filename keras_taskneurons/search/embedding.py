"""``EmbeddingSearch``: choose a [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding]'s
shape by scoring what the embedding computes.

Each candidate shape (every preset, ``x`` as the linear control, and each
formula on a [VectorizedSymbolicRegressor][keras_taskneurons.VectorizedSymbolicRegressor]'s
front under both placements, when its bases grow no faster than a polynomial:
``tame()``) is scored at each ``sigma`` the way the layer
would start: every input in ``copies`` copies at the layer's own initial
inner constants (``layers.embedding.initial_constants``, the same draw), all
inputs' features side by side (each basis's scaled to one spread), a ridge
readout fitted on the fitting rows (its penalty chosen by generalized
cross-validation) and ``1 − R²`` measured on held-out rows. Random
frequencies are drawn ``draws`` times and their losses averaged. The lowest
held-out loss wins, then the smallest ``sigma`` of that shape within
``SMOOTH`` (5 %) of it, so the choice is within 5 % of the best preset tried
on those rows; ``shapes_`` lists every candidate with its loss, the chosen
one and the best preset marked.
"""

import time
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.linear_model import RidgeCV
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from keras_taskneurons.formula import Formula, as_formula
from keras_taskneurons.input_map import SCALINGS, InputMap
from keras_taskneurons.layers.embedding import (
    PLACEMENTS,
    PRESETS,
    TaskNeuronEmbedding,
    embedding_features,
    formula_bases,
    initial_constants,
)

RIDGE_ALPHAS = np.logspace(-3, 4, 8)
"""Penalties the ridge readout chooses from (each basis's features scaled to unit spread)."""

MIN_ROWS = 4
"""Rows ``fit`` needs at least: some to fit the readouts, one held out."""

SMOOTH = 0.05
"""Within the winning shape, the smallest ``sigma`` (the smoothest copies:
lower frequencies, wider bumps) whose loss is within ``SMOOTH`` (relative)
of that shape's lowest is chosen. The ridge readout is additive; the network
after the embedding adds capacity of its own, and there the smoother
embedding trains better (the figures: docs/benchmarks.md, "Embeddings").
Ties (scaling ``|x|`` or a polynomial's argument leaves the span of shifted
copies unchanged) go the same way."""

GROWTH_DEGREE = 4
"""A front formula competes only when each of its bases grows no faster than
a polynomial of this degree (``tame()``): a copy evaluates its bases at
``a·u + b`` with ``a`` and ``b`` trained, and an exponential of that
overflows once training moves them (an evolved ``exp(1.8*x + …)`` sent a
benchmark network to NaN). The ridge readout that scores the shapes sees
only the initial constants, so it cannot tell."""

GROWTH_REACH = 8.0
"""``tame()`` compares the largest ``|g|`` on ``|z| ≤ 2·GROWTH_REACH`` with
that on ``|z| ≤ GROWTH_REACH``."""


def tame(formula):
    """Whether every basis of ``formula`` stays finite and grows at most like
    a polynomial of degree ``GROWTH_DEGREE``: doubling the reach of its
    argument from ``GROWTH_REACH`` multiplies its largest magnitude by at
    most ``2 ** GROWTH_DEGREE`` (``sin``, ``exp(-x**2)``, ``x**3``: yes;
    ``exp(x)``, ``exp(-0.4*x)``, ``x**5``: no)."""
    near = np.linspace(-GROWTH_REACH, GROWTH_REACH, 401)
    far = np.linspace(-2 * GROWTH_REACH, 2 * GROWTH_REACH, 801)
    for basis in formula_bases(formula):
        with np.errstate(all="ignore"):
            inner, outer = (np.abs(np.asarray(basis.evaluate(z), float)) for z in (near, far))
        if not (np.all(np.isfinite(outer)) and outer.max() <= 2**GROWTH_DEGREE * inner.max()
                + 1e-12):
            return False
    return True


LINEAR = "x"
"""The linear control's name and formula: copies of ``x`` add up to a linear map."""


class Shape(NamedTuple):
    """One scored candidate of ``EmbeddingSearch.shapes_``.

    Attributes:
        name: A preset's name, ``"x"`` (the linear control) or ``"front[i]"``
            (the ``i``-th equation of the search's front).
        formula: The [Formula][keras_taskneurons.Formula] evaluated at every copy.
        placement: ``"frequencies"`` or ``"centres"``.
        sigma: The spread of the inner scales.
        loss: Held-out ``1 − R²`` of the ridge readout (mean over draws);
            ``inf`` where the features overflow.
    """

    name: str
    formula: Formula
    placement: str
    sigma: float
    loss: float

    @property
    def preset(self):
        """Whether the shape is one of the fixed presets."""
        return self.name in PRESETS


class ShapeTable(Sequence):
    """The scored candidates in the order tried, ``chosen`` (the lowest
    loss) and ``best_preset`` (the lowest among the presets) as indices.
    Indexing, ``len`` and iteration give ``Shape`` records; printing gives a
    table with both marked."""

    def __init__(self, shapes):
        self.shapes = tuple(shapes)
        self.chosen = self._best(range(len(self.shapes)))
        self.best_preset = self._best([i for i, s in enumerate(self.shapes) if s.preset])

    def _best(self, indices):
        """The lowest finite loss among ``indices``, then the smallest
        ``sigma`` of the same shape and placement within ``SMOOTH`` of it."""
        indices = [i for i in indices if np.isfinite(self.shapes[i].loss)] or list(indices)
        if not indices:
            return None
        best = self.shapes[min(indices, key=lambda i: self.shapes[i].loss)]
        bound = best.loss + SMOOTH * abs(best.loss)
        same = [i for i in indices if (self.shapes[i].name, self.shapes[i].placement) == (
            best.name, best.placement) and self.shapes[i].loss <= bound]
        return min(same, key=lambda i: (self.shapes[i].sigma, self.shapes[i].loss))

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, index):
        return self.shapes[index]

    def table(self, digits=4):
        """The candidates as text: name, placement, sigma, loss, formula."""
        lines = [f"{'':3}{'shape':<11}{'placement':<13}{'sigma':>6}  {'loss':>{digits + 4}}  formula"]
        for i, s in enumerate(self.shapes):
            mark = (">" if i == self.chosen else " ") + ("*" if i == self.best_preset else " ")
            loss = f"{s.loss:.{digits}f}" if np.isfinite(s.loss) else "inf"
            lines.append(f"{mark} {s.name:<11}{s.placement:<13}{s.sigma:>6.3g}  "
                         f"{loss:>{digits + 4}}  {s.formula.format(3)}")
        return "\n".join(lines + ["(> chosen, * best preset; loss: held-out 1 - R²)"])

    def __repr__(self):
        return self.table()


def _block_scales(F, bases):
    """One scale per basis: the spread of all its features (every input and
    copy), so that no basis outweighs another in the readout's penalty while
    each copy keeps its size within the basis (a copy placed where the rows
    are not stays small instead of being blown up, as standardizing each
    column would)."""
    blocks = F.reshape(len(F), -1, bases, F.shape[-1] // bases)
    spread = blocks.std(axis=(0, 1, 3))
    return np.where(spread > 0, spread, 1.0)


def _scaled(F, scales):
    """``F`` (rows, inputs, K·copies) as a matrix, each basis divided by its scale."""
    rows, _, width = F.shape
    blocks = F.reshape(rows, -1, len(scales), width // len(scales)) / scales[:, None]
    return blocks.reshape(rows, -1)


class EmbeddingSearch(RegressorMixin, BaseEstimator):
    """Choose the shape of a [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding]
    by the held-out loss of what the embedding computes (module docstring).

    Args:
        copies (int): The copies per input, as the layer will have them.
        shapes (sequence or None): Presets (names of ``PRESETS``) and
            formulas to try besides the linear control ``x`` and the front;
            ``None``: every preset.
        evolve (bool): Run a ``VectorizedSymbolicRegressor`` on the fitting
            rows and try every formula on its front.
        sigmas (sequence of float): The ``sigma`` values tried for every shape.
        draws (int): Draws of random frequencies averaged per score.
        validation_fraction (float): Share of the rows held out for the scores.
        max_samples (int): Rows used at most (a random subset beyond).
        max_features (int): Features per score at most: with more inputs,
            fewer copies are scored (``scoring_copies_``).
        scaling (str): The input map's scaling (``InputMap.fit``).
        search_params (dict or None): Parameters of the
            ``VectorizedSymbolicRegressor`` (``random_state`` is this one's).
        random_state (int, RandomState or None): Seeds the split, the draws
            and the search.
        verbose (int): Print each score (1) and the table (any).

    Attributes:
        shapes_ (ShapeTable): Every candidate with its held-out loss.
        shape_ (Shape): The chosen candidate; ``formula_``, ``placement_``,
            ``sigma_`` and ``preset_`` (its name or ``None``) repeat it.
        best_preset_ (Shape or None): The best preset tried.
        input_map_ (InputMap): The map from ``X`` to ``u`` the scores and the
            embedding share.
        search_ (VectorizedSymbolicRegressor or None): The evolution.
        scoring_copies_ (int): The copies each score used.
        layer_seed_ (int): The seed of the first draw: ``embedding()``'s layer
            starts at the constants that were scored.
        search_seconds_, scoring_seconds_ (float): Time spent evolving and scoring.

    >>> import numpy as np, keras_taskneurons
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3))
    >>> y = np.sin(8 * X).sum(axis=1)  # a fast periodic effect of each input
    >>> search = keras_taskneurons.EmbeddingSearch(evolve=False, random_state=0).fit(X, y)
    >>> search.preset_, search.sigma_, round(search.shape_.loss, 3)
    ('periodic', 3.0, 0.032)
    >>> round(min(s.loss for s in search.shapes_ if s.name == "rbf"), 3)  # the next family
    0.454
    >>> tuple(search.embedding(8)(X[:2].astype("float32")).shape)
    (2, 24)
    """

    _parameter_constraints = {
        "copies": [Interval(Integral, 1, 1024, closed="both")],
        "shapes": ["array-like", None],
        "evolve": ["boolean"],
        "sigmas": ["array-like"],
        "draws": [Interval(Integral, 1, 100, closed="both")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "max_samples": [Interval(Integral, 4, None, closed="left")],
        "max_features": [Interval(Integral, 1, None, closed="left")],
        "scaling": [StrOptions(set(SCALINGS))],
        "search_params": [dict, None],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 100, closed="both")],
    }

    def __init__(self, copies=16, shapes=None, evolve=True, sigmas=(0.3, 1.0, 3.0), draws=2,
                 validation_fraction=0.25, max_samples=5000, max_features=1024,
                 scaling="auto", search_params=None, random_state=None, verbose=0):
        self.copies = copies
        self.shapes = shapes
        self.evolve = evolve
        self.sigmas = sigmas
        self.draws = draws
        self.validation_fraction = validation_fraction
        self.max_samples = max_samples
        self.max_features = max_features
        self.scaling = scaling
        self.search_params = search_params
        self.random_state = random_state
        self.verbose = verbose

    # -- checks ---------------------------------------------------------------------
    def _candidates(self):
        """``[(name, formula, placement)]`` of the given shapes (no front yet)."""
        sigmas = np.asarray(self.sigmas, dtype=object).ravel()
        if not len(sigmas) or not all(
                isinstance(s, Real) and not isinstance(s, bool) and np.isfinite(s) and s > 0
                for s in sigmas):
            raise ValueError(f"sigmas must be a non-empty sequence of positive numbers. "
                             f"Received: sigmas={self.sigmas!r}")
        shapes = list(PRESETS) if self.shapes is None else list(self.shapes)
        out = [(LINEAR, as_formula(LINEAR), "centres")]
        for i, shape in enumerate(shapes):
            if isinstance(shape, str) and shape in PRESETS:
                text, placement = PRESETS[shape]
                out.append((shape, as_formula(text), placement))
                continue
            try:
                formula = as_formula(shape)
            except (TypeError, ValueError) as error:
                raise ValueError(f"shapes[{i}] must be a preset ({', '.join(PRESETS)}) or a "
                                 f"formula. Received: {shape!r} ({error})") from None
            out += [(f"shapes[{i}]", formula, placement) for placement in PLACEMENTS]
        return out

    # -- fit ------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Score every candidate on ``X`` (n, d) and ``y`` (n,); choose the best."""
        candidates = self._candidates()
        sigmas = [float(s) for s in np.ravel(self.sigmas)]
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if len(y) < MIN_ROWS:
            raise ValueError(f"EmbeddingSearch needs at least {MIN_ROWS} rows (fitting and "
                             f"held-out). Received: n_samples={len(y)}")
        rng = check_random_state(self.random_state)
        order = rng.permutation(len(y))[:self.max_samples]
        held = max(1, int(round(self.validation_fraction * len(order))))
        fit_rows, val_rows = order[held:], order[:held]
        seeds = [int(s) for s in rng.randint(2**31 - 1, size=self.draws)]
        self.layer_seed_ = seeds[0]
        self.search_, self.search_seconds_ = None, 0.0
        if self.evolve:
            candidates += self._evolve(X[fit_rows], y[fit_rows], seeds[0])
        else:
            self.input_map_ = InputMap.fit(X, self.scaling)
        U = self.input_map_.bounded(X)
        low, high = (np.asarray(v, float) for v in self.input_map_.column_domains())
        started = time.perf_counter()
        shapes = []
        for name, formula, placement in candidates:
            bases = formula_bases(formula)
            copies = self._scored_copies(bases, X.shape[1])
            for sigma in (sigmas if name != LINEAR else sigmas[:1]):
                draws = seeds if placement == "frequencies" else seeds[:1]
                losses = [self._loss(bases, placement, sigma, U, y, fit_rows, val_rows,
                                     low, high, seed, copies) for seed in draws]
                shapes.append(Shape(name, formula, placement, float(sigma), float(np.mean(losses))))
                if self.verbose:
                    print(f"{name} ({placement}, sigma {float(sigma):g}): "
                          f"held-out 1-R² {shapes[-1].loss:.5f}", flush=True)
        self.scoring_seconds_ = time.perf_counter() - started
        self.shapes_ = ShapeTable(shapes)
        self.shape_ = self.shapes_[self.shapes_.chosen]
        self.best_preset_ = (None if self.shapes_.best_preset is None
                             else self.shapes_[self.shapes_.best_preset])
        self.formula_, self.placement_, self.sigma_ = (
            self.shape_.formula, self.shape_.placement, self.shape_.sigma)
        self.preset_ = self.shape_.name if self.shape_.preset else None
        self._fit_readout(U, y)
        if self.verbose:
            print(self.shapes_.table(), flush=True)
        return self

    def _evolve(self, X, y, seed):
        """Run the search on the fitting rows; its front's formulas under both placements."""
        from keras_taskneurons.search.estimators import VectorizedSymbolicRegressor

        params = dict(self.search_params or {})
        params.update(random_state=seed, scaling=self.scaling)
        started = time.perf_counter()
        with warnings.catch_warnings():  # its front competes whatever it chose itself
            warnings.filterwarnings("ignore", "No formula beats the linear neuron")
            self.search_ = VectorizedSymbolicRegressor(**params).fit(X, y)
        self.search_seconds_ = time.perf_counter() - started
        self.input_map_ = self.search_.input_map_
        seen, out = {LINEAR}, []
        for i, equation in enumerate(self.search_.equations_ or ()):
            text = str(equation.formula)
            if text in seen or not formula_bases(equation.formula) or not tame(
                    equation.formula):
                continue
            seen.add(text)
            out += [(f"front[{i}]", equation.formula, placement) for placement in PLACEMENTS]
        return out

    def _scored_copies(self, bases, inputs):
        """The copies a score uses: ``copies``, fewer beyond ``max_features``."""
        return max(1, min(self.copies, self.max_features // (inputs * max(1, len(bases)))))

    def _features(self, bases, placement, sigma, U, low, high, seed, copies):
        scale, shift = initial_constants(placement, sigma, low, high, copies, seed)
        with np.errstate(all="ignore"):
            return embedding_features(bases, U, scale, shift)

    def _loss(self, bases, placement, sigma, U, y, fit_rows, val_rows, low, high, seed, copies):
        F = self._features(bases, placement, sigma, U, low, high, seed, copies)
        if not np.all(np.isfinite(F)) or np.abs(F).max() > 1e150:
            return np.inf
        scales = _block_scales(F[fit_rows], len(bases))
        train, held = (_scaled(F[rows], scales) for rows in (fit_rows, val_rows))
        ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(train, y[fit_rows])
        residual = ridge.predict(held) - y[val_rows]
        variance = np.var(y[val_rows])
        return float(np.mean(residual ** 2) / variance) if variance > 0 else float(
            np.mean(residual ** 2))

    def _chosen_features(self, U):
        """The chosen shape's features of ``u`` (its first draw, scored copies)."""
        low, high = (np.asarray(v, float) for v in self.input_map_.column_domains())
        return self._features(formula_bases(self.formula_), self.placement_, self.sigma_, U,
                              low, high, self.layer_seed_, self.scoring_copies_)

    def _fit_readout(self, U, y):
        """The chosen shape's ridge readout on every row, for ``predict``."""
        bases = formula_bases(self.formula_)
        self.scoring_copies_ = self._scored_copies(bases, U.shape[1])
        F = self._chosen_features(U)
        self._scales = _block_scales(F, len(bases))
        self.ridge_ = RidgeCV(alphas=RIDGE_ALPHAS).fit(_scaled(F, self._scales), y)

    # -- use ------------------------------------------------------------------------
    def predict(self, X):
        """The chosen shape's ridge readout (an additive model of the inputs)."""
        check_is_fitted(self, "ridge_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        F = self._chosen_features(self.input_map_.bounded(X))
        return self.ridge_.predict(_scaled(F, self._scales))

    def embedding(self, dim, **overrides):
        """A [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding] of
        the chosen shape: ``copies``, placement, ``sigma``, the input map and
        the first draw's seed (it starts at the scored constants);
        ``overrides`` replace any of them or set the layer's other arguments."""
        check_is_fitted(self, "shape_")
        options = dict(formula=self.preset_ or self.formula_, copies=self.copies,
                       placement=self.placement_, sigma=self.sigma_, input_map=self.input_map_,
                       seed=self.layer_seed_)
        options.update(overrides)
        return TaskNeuronEmbedding(dim, **options)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
