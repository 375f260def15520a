"""The search shared by both estimators: parameters, evolution, the front.

``_VectorizedSymbolicBase`` (its checks in ``checks``) runs
vectorized symbolic regression (see ``estimators``
for the model and the public classes): gplearn's evolution on the stacked
data one generation at a time, the hall of fame, and the Pareto front built
from it (``front``).
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from keras_taskneurons.formula import Formula, apply_primitive
from keras_taskneurons.columns import spread
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers import layer_factory
from keras_taskneurons.search.fitness import (
    BAD_FITNESS,
    MAX_STACKED_VALUES,
)
from keras_taskneurons.search import candidates as candidates_module
from keras_taskneurons.search import evolution
from keras_taskneurons.search import front as front_module
from keras_taskneurons.search import interactions as interaction_check
from keras_taskneurons.search import separable
from keras_taskneurons.search.checks import ParameterChecks
from keras_taskneurons.search.objectives import OBJECTIVES
from keras_taskneurons.search.refinement import (
    expands,
    meaningless,
    refine,
    refine_variants,
)

DEFAULT_FUNCTION_SET = ("add", "sub", "mul", "sin", "cos", "exp")
"""The paper's polynomial base functions (+, −, ×) plus sin, cos and exp,
which the paper names as further base functions: with them the search
recovers periodic and bell-shaped targets exactly instead of approximating
them by long polynomials."""

DEFAULT_MAX_COMPLEXITY = 30
"""Largest ``Formula.complexity`` on the front (PySR's ``maxsize`` is 30 too):
without a cap, nests of hundreds of nodes reach the front on raw tabular
data, and they make poor bases."""

def _program_to_formula(program):
    """Convert a gplearn program (prefix list) to a [Formula][keras_taskneurons.Formula]."""
    from gplearn.functions import _Function

    nodes = iter(program.program)

    def build():
        node = next(nodes)
        if isinstance(node, _Function):
            arguments = [build() for _ in range(node.arity)]
            return apply_primitive(node.name, *arguments)
        if isinstance(node, numbers.Integral):
            return ("x",)  # the stacked data has one feature
        return ("const", float(node))

    try:
        tree = build()
    except RecursionError:  # a bloated program nests deeper than any limit
        raise ValueError("the program nests too deeply") from None
    return Formula._from_tree(tree)


FIRST_LAYER_BASIS_SCALE = 1.0
"""``basis_scale`` of the first layer ``layer_factory()`` builds: the search
chose its bases for that layer, so they start at the scale of the
standardized ``x`` beside them; later layers keep the layers' gentle
default, 0.1 (the measurements behind both defaults: docs/benchmarks.md,
"Defaults and the figures behind them")."""

FIRST_LAYER_NORMALIZATION = "spread"
"""``normalize_bases`` of the first layer ``layer_factory()`` builds: each
basis divided by its spread on each column of the search's rows (the input
map's sketch), so that at ``basis_scale=1`` it varies as much as the
standardized ``x`` beside it; the layers' default divides by the basis's
largest magnitude on the typical column's domain, which leaves ``x**2``
about 9 times smaller than ``x`` on a column's bulk when the domain reaches
3 standard deviations."""


def first_layer_options(defaults):
    """The options of the first layer ``layer_factory()`` builds that
    ``defaults`` (options for every layer) leave open."""
    first = {"basis_scale": FIRST_LAYER_BASIS_SCALE, "normalize_bases": FIRST_LAYER_NORMALIZATION}
    return {key: value for key, value in first.items() if key not in defaults}


TUNING_VALUES = 5_000
"""Stacked values on which the front's constants are tuned at most."""


class _VectorizedSymbolicBase(ParameterChecks, BaseEstimator):
    """Parameters, validation and the search shared by both estimators."""

    def __init__(
        self,
        *,
        population_size=1000,
        generations=20,
        function_set=DEFAULT_FUNCTION_SET,
        const_range=(-1.0, 1.0),
        parsimony_coefficient=0.0005,
        init_depth=(2, 5),
        tournament_size=20,
        p_crossover=0.9,
        p_subtree_mutation=0.01,
        p_hoist_mutation=0.01,
        p_point_mutation=0.01,
        p_point_replace=0.05,
        stopping_criteria=0.0,
        max_samples="auto",
        validation_fraction=0.25,
        model_selection="best",
        max_complexity=DEFAULT_MAX_COMPLEXITY,
        refine=True,
        scaling="auto",
        fitness="separable",
        standardize="deprecated",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.population_size = population_size
        self.generations = generations
        self.function_set = function_set
        self.const_range = const_range
        self.parsimony_coefficient = parsimony_coefficient
        self.init_depth = init_depth
        self.tournament_size = tournament_size
        self.p_crossover = p_crossover
        self.p_subtree_mutation = p_subtree_mutation
        self.p_hoist_mutation = p_hoist_mutation
        self.p_point_mutation = p_point_mutation
        self.p_point_replace = p_point_replace
        self.stopping_criteria = stopping_criteria
        self.max_samples = max_samples
        self.validation_fraction = validation_fraction
        self.model_selection = model_selection
        self.max_complexity = max_complexity
        self.refine = refine
        self.scaling = scaling
        self.fitness = fitness
        self.standardize = standardize
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # -- the search ---------------------------------------------------------------
    def _search_rows(self, n_samples, n_features, rng):
        if self.max_samples == "auto":
            count = max(2, MAX_STACKED_VALUES // n_features)
        elif isinstance(self.max_samples, numbers.Integral):
            count = int(self.max_samples)
        else:
            count = max(2, int(round(self.max_samples * n_samples)))
        if count >= n_samples:
            return np.arange(n_samples)
        return np.sort(rng.choice(n_samples, size=count, replace=False))

    def _scaling(self):
        """The input scaling in force (``standardize``, deprecated, wins
        when given: ``True`` was ``"global"``, ``False`` ``"none"``)."""
        if isinstance(self.standardize, str):
            return self.scaling
        warnings.warn(
            "standardize is deprecated and will be removed; use scaling="
            f"{'global' if self.standardize else 'none'!r} (the default is "
            "scaling='auto', each column standardized unless they share a unit).",
            FutureWarning, stacklevel=4,
        )
        return "global" if self.standardize else "none"

    def _fit_input_map(self, X, targets):
        """Step 1: the input map (and the targets' standardization, which
        ``coef_`` and ``intercept_`` undo); returns what a first layer's
        bases see (``u`` clipped to each column's domain), what its linear
        basis sees (``z``, bounded alike) and the standardized targets."""
        self.input_map_ = InputMap.fit(X, self._scaling())
        self.x_mean_, self.x_scale_ = self.input_map_.center, self.input_map_.scale
        self.y_mean_ = targets.mean(axis=0)
        self.y_scale_ = spread(targets)
        return (self.input_map_.bounded(X), self.input_map_.standardized(X, bounded=True),
                (targets - self.y_mean_) / self.y_scale_)

    def _fit_targets(self, X, targets, weights):
        """``_search()`` with one BLAS thread: the search multiplies small
        matrices (rows × inputs) thousands of times, where BLAS threads
        cost more than they save (d = 100: 2.2 times as long with two)."""
        with threadpool_limits(limits=1, user_api="blas"):
            self._search(X, targets, weights)

    def _search(self, X, targets, weights):
        """Search ``f`` for a 2-D ``targets``; sets every learned attribute.

        The pipeline: input map → sample (search rows, evolution and
        held-out parts) → evolution → front → final scaling → the
        interaction check.
        """
        self._validate_parameters()
        rng = np.random.default_rng(
            self.random_state
            if not isinstance(self.random_state, np.random.RandomState)
            else self.random_state.randint(2**31)
        )
        seed = int(rng.integers(2**31 - 1))
        U, Z, t_std = self._fit_input_map(X, targets)
        rows = self._search_rows(*X.shape, rng)
        self.n_search_samples_ = len(rows)
        evolve, held_out = self._validation_split(rows, rng)
        train = (U[evolve], t_std[evolve], weights[evolve])
        objective = self._objective(U, Z, t_std, weights, evolve, held_out)
        hall, candidates = self._evolve(objective, train, seed)
        self.program_, self.evolved_formula_, self.evolved_fitness_ = (
            self._best_convertible(candidates)
        )
        self._choose(self._pareto_front(objective, hall, train), objective, train)
        self.equations_, self.linear_loss_ = objective.against_linear(
            self.equations_, self.model_selection)
        self.formula_, self.fitness_ = self.equations_.best.formula, self.equations_.best.fitness
        self._final_scaling(U, Z, t_std, weights)
        self._check_interactions(Z, U, t_std, weights, evolve, held_out, rng)
        if self.verbose:
            print("\n".join(["Pareto front (loss on held-out rows; > marks the chosen formula):"]
                            + self.equations_.table()), flush=True)
            if self.linear_loss_ is not None:
                scores = (f"held-out 1-R² {self.equations_.best.loss:.5f}, x alone "
                          f"{self.linear_loss_:.5f}")
            elif self.fitness_ > self.evolved_fitness_:  # say why the chosen one scores worse
                scores = (
                    f"1-R² on the evolution rows {self.fitness_:.5f}, the best evolved "
                    f"program's {self.evolved_fitness_:.5f}: the front chose this formula "
                    "on held-out rows, where it is as good and simpler or steadier")
            else:
                scores = f"1-R² {self.evolved_fitness_:.5f} evolved, {self.fitness_:.5f} refined"
            print(
                f"formula: {self.formula_.format(4)}  ({scores}; x = the input map's u)",
                flush=True,
            )

    def _objective(self, U, Z, t_std, weights, evolve, held_out):
        """The ``fitness`` parameter as an object holding the rows it scores
        on (``objectives``): the evolution rows and the held-out rows."""
        kind = OBJECTIVES[self.fitness]
        return kind(*(kind.rows(U, Z, t_std, weights, part) for part in (evolve, held_out)))

    def _evolve(self, objective, train, seed):
        """Step 3 (``evolve()``): the
        hall of fame and each generation's best; sets ``run_details_`` and
        ``n_generations_``."""
        hall, candidates, self.run_details_ = evolution.evolve(
            self, train, seed, objective.evolution_fitness())
        self.n_generations_ = len(self.run_details_["generation"])
        return hall, candidates

    def _choose(self, front, objective, train):
        """Step 4: ``equations_`` (``None``: nothing on the front makes
        sense, so the best ever, refined)."""
        if front is None:
            formula, score = self.evolved_formula_, self.evolved_fitness_
            if self.refine:
                formula, score = refine(formula, *train, score)
            loss, score = objective.losses(formula, score)
            front = front_module.ParetoFront(
                [front_module.Equation(formula.complexity, loss, 0.0, formula, score)],
                0, self.model_selection,
            )
        self.equations_ = front

    def _final_scaling(self, U, Z, t_std, weights):
        """Step 5: the fitness's model fitted on every sample, on the
        original target scale, for every equation of the front
        (``predict(X, index=...)``): ``(W, b)`` with ``W`` of shape
        ``(features, outputs)`` for ``_features()``; ``coef_`` and
        ``intercept_`` are the chosen equation's (``_public_coef()``)."""
        self._equation_scalings = []
        model = OBJECTIVES[self.fitness]
        for equation in self.equations_:
            W, b = model.fit_model(equation.formula, U, Z, t_std, weights)
            self._equation_scalings.append((W * self.y_scale_, b * self.y_scale_ + self.y_mean_))
        W, self.intercept_ = self._equation_scalings[self.equations_.chosen]
        self.coef_ = self._public_coef(W.T)

    def _public_coef(self, coef):
        """``coef_`` from per-output weights ``(outputs, features)``: the
        scale ``a`` per output ``(outputs,)`` for ``fitness="shared"``, the
        weights of the unit's columns ``(outputs, features)`` for
        ``"separable"``."""
        return OBJECTIVES[self.fitness].public_coef(coef)

    def _check_interactions(self, Z, U, t_std, weights, fit_rows, held_rows, rng):
        """Step 6 (``interactions``): the
        held-out losses without and with interaction terms
        (``interaction_losses_``), the suggested ``interaction_rank_`` and
        ``interaction_gain_`` (the loss without over the loss with it)."""
        self.interaction_losses_, self.interaction_rank_ = interaction_check.check_interactions(
            self.formula_, U, Z, t_std, weights, fit_rows, held_rows,
            self.input_map_.column_domains(), rng)
        rank = self.interaction_rank_
        self.interaction_gain_ = (
            self.interaction_losses_[0] / max(self.interaction_losses_[rank], 1e-300)
            if rank else 1.0)

    def _validation_split(self, rows, rng):
        """Rows for the evolution and rows held out to score the front.

        With fewer than two rows on either side, the front is scored on the
        evolution rows themselves.
        """
        count = int(round(self.validation_fraction * len(rows)))
        if count < 2 or len(rows) - count < 2:
            rows = rows[rng.permutation(len(rows))]
            return rows, rows
        order = rng.permutation(len(rows))  # a prefix of either is random
        return rows[order[count:]], rows[order[:count]]

    def _pareto_front(self, objective, hall, train):
        """Refine, check and score the candidates (see
        ``front``); ``None`` when none is left.

        Candidates: the hall of fame's front (for each program length, the
        most accurate program of all generations, kept when more accurate
        than every shorter one) and, with ``refine=True``, the seeds and
        sparse combinations of ``candidates``.
        """
        evolved, lowest = [separable.LINEAR], np.inf  # the linear neuron competes too
        for length in sorted(hall):  # the front on the evolution fitness
            value, program = hall[length]
            if value < lowest:
                lowest = value
                try:
                    formula = _program_to_formula(program)
                except ValueError:
                    continue
                if expands(formula) and self._within_complexity(formula):
                    evolved.append(formula)
        formulas = evolved
        if self.refine:
            seeds = candidates_module.seeds(self.function_set)
            formulas = evolved + seeds + candidates_module.sparse_combinations(
                evolved + seeds, *train
            )
        free = {"add", "mul"} <= set(self.function_set)
        # Constants are tuned on a subset (least squares evaluates a formula
        # hundreds of times); fitness and loss are measured on all rows.
        count = max(2, TUNING_VALUES // train[0].shape[1])
        tuning = tuple(part[:count] for part in train)
        scored, seen = [], set()
        for formula in formulas:
            if self.refine:
                variants = [v for v, _ in refine_variants(formula, *tuning, free_arguments=free)]
            else:
                variants = [formula]
            for variant in variants:
                if (str(variant) in seen or not self._within_complexity(variant)
                        or meaningless(variant, train[0]) is not None):
                    continue
                seen.add(str(variant))
                loss, score = objective.losses(variant)
                scored.append((variant, loss, score))
        return front_module.build(scored, self.model_selection)

    def _within_complexity(self, formula):
        return self.max_complexity is None or formula.complexity <= self.max_complexity

    @staticmethod
    def _best_convertible(candidates):
        """The best candidate that a layer can be built on.

        Best fitness first, shorter first on ties. A program is skipped when
        it does not depend on x, exceeds the formula limits, or does not
        expand into terms (``expands()``): the search never
        returns a formula that [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] refuses.
        """
        for raw, _, _, program in sorted(candidates, key=lambda c: (c[0], c[1])):
            try:
                formula = _program_to_formula(program)
            except ValueError:
                continue
            if expands(formula):
                return program, formula, float(raw)
        program = candidates[-1][3]
        return program, Formula("x"), BAD_FITNESS

    # -- use --------------------------------------------------------------------------
    def _equation_index(self, index):
        """The front position of ``index`` (see ``ParetoFront.index()``),
        checked before any work."""
        check_is_fitted(self, "formula_")
        return self.equations_.index(index)

    def _checked_features(self, X, position):
        """``_features()`` of the front's equation at ``position``
        (resolved by ``_equation_index()``) for new rows ``X``."""
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._features(X, self.equations_[position].formula)

    def _features(self, X, formula):
        """What the fitness's model weighs, for rows ``X`` (``(n, features)``):
        ``"separable"``: the columns of a first layer's unit, ``[z, g_1(u),
        …, g_K(u)]`` (``design()``
        without its constant); ``"shared"``: ``Σ_i f(u_i)``, one column."""
        return OBJECTIVES[self.fitness].columns(
            formula, self.input_map_.bounded(X), self.input_map_.standardized(X, bounded=True))

    def _scores(self, X, index=None):
        position = self._equation_index(index)  # checks that the estimator is fitted
        W, intercept = self._equation_scalings[position]
        return self._checked_features(X, position) @ W + intercept

    def layer_factory(self, interactions=False, index=None, **defaults):
        """A [layer_factory][keras_taskneurons.layer_factory] for ``formula_`` (or the
        front's equation ``index``) on the search's domain.

        ``index`` chooses another equation of ``equations_``: a position or
        one of ``equations_.choices`` (the strings a KerasTuner
        ``hp.Choice`` holds); ``None`` is the chosen ``formula_``.

        The layer built with ``first=True`` (``make(units, first=True)``)
        holds ``input_map_``, so it computes the searched bases of the raw
        features the search was given (feed it those, no ``Normalization``
        layer), and trains them
        at full scale: each basis sized by its spread on each column of the
        search's rows (``normalize_bases="spread"``,
        ``FIRST_LAYER_NORMALIZATION``) at ``basis_scale=1.0``
        (``FIRST_LAYER_BASIS_SCALE``); a ``basis_scale`` or
        ``normalize_bases`` given here serves every layer. Every layer
        normalizes and bounds its bases on the search's domain, later
        layers by running statistics of what they see.

        With ``interactions=True`` the first layer also gets the suggested
        ``interaction_rank_`` (the check measured products of ITS inputs).
        Off by default (why: the guide "Interaction terms").
        ``interaction_rank=r`` gives every layer rank ``r``.
        """
        position = self._equation_index(index)  # NotFittedError before fit
        formula = self.equations_[position].formula
        if not isinstance(interactions, bool):
            raise TypeError(
                "Received an invalid value for `interactions`, expected a bool. "
                f"Received: interactions={interactions!r}")
        first = first_layer_options(defaults)
        if interactions and "interaction_rank" not in defaults:
            first["interaction_rank"] = getattr(self, "interaction_rank_", 0)
        return layer_factory(formula, input_map=self.input_map_, first_layer=first,
                             **defaults)
