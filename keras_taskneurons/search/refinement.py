"""Refinement of an evolved formula for ``y ≈ a·Σ_i f(x_i) + b``.

Expansion into terms, pruning of terms that do not help, and least-squares
tuning of the real constants (numpy and scipy). Every formula it returns
expands into terms, so a layer can be built on it.
"""

import numpy as np
from scipy import optimize

from keras_taskneurons import primitives as prim
from keras_taskneurons.formula import Formula, apply_primitive
from keras_taskneurons.formula import tree as trees
from keras_taskneurons.search.fitness import (
    BAD_FITNESS,
    linear_scaling,
    scaled_error,
)


def expands(formula):
    """Whether ``formula`` expands into terms, which a layer needs.

    Formulas outside the limits never get here ([Formula][keras_taskneurons.Formula] refuses
    them); this catches the ones whose expansion is constant, has too many
    terms or a coefficient that overflows.
    """
    try:
        formula.terms()
    except ValueError:
        return False
    return True


def refine(formula, X, targets, weights, score, free_arguments=False):
    """The best of ``refine_variants()`` (the input when nothing beats it).

    A variant with freed arguments is taken only when it beats the plain
    refinement by more than ``PRUNE_TOLERANCE``.
    """
    variants = refine_variants(formula, X, targets, weights, free_arguments)
    best_formula, best_score = formula, score
    for index, (candidate, candidate_score) in enumerate(variants):
        margin = PRUNE_TOLERANCE if index else 1e-12
        if index == 0 and candidate_score <= best_score + margin:
            best_formula, best_score = candidate, candidate_score
        elif index and candidate_score < best_score - margin:
            best_formula, best_score = candidate, candidate_score
    return best_formula, float(best_score)


def refine_variants(formula, X, targets, weights, free_arguments=False):
    """Refined versions of ``formula``, each ``(formula, fitness)``.

    First: expanded into terms, pruned (``_prune_terms()``), every real
    constant tuned by least squares. The scaling ``a, b`` is eliminated
    inside the residual (variable projection), so only the formula's own
    constants are optimised. Second, with ``free_arguments``: the same with
    every function's argument ``u`` freed to ``a·u + b`` (``sin(x)`` can
    become ``sin(1.155*x)``), then each freed constant that does not earn its
    place (``PRUNE_TOLERANCE``) put back to its neutral value, so that
    it disappears from the formula. Only formulas that expand into terms
    (``expands()``) are returned.
    """
    try:
        constant, terms = formula.terms()
        expanded = Formula._from_tree(sum_tree(constant, terms))
    except ValueError:
        expanded = formula
    expanded = _prune_terms(expanded, X, targets, weights)
    variants = []
    tuned = _tune(expanded, X, targets, weights)
    if tuned is not None and expands(tuned[0]):
        variants.append(tuned)
    if free_arguments and variants:
        base = variants[0][0]
        freed = _freed(base)
        if freed is not None:
            tuned = _tune(freed, X, targets, weights)
            if tuned is not None and expands(tuned[0]):
                variants.append(tuned)
    return variants


MAX_TUNED_CONSTANTS = 12
"""Formulas with more constants are not tuned (least squares would cost
seconds each, and such formulas rarely make the front)."""

MAX_FREED_CONSTANTS = 8
"""Arguments are freed only when the freed formula has at most this many
constants: a readable form frees few (``sin(a*x + b)``), while freeing a sum
of three nested sines costs seconds and such formulas are not chosen."""

def _freed(formula):
    """``formula`` with its arguments and factors freed
    (``_free_arguments()``), or with its arguments only when that has too
    many constants (``MAX_FREED_CONSTANTS``); ``None`` when neither frees
    anything within the limit."""
    for factors in (True, False):
        try:
            freed = Formula._from_tree(_free_arguments(formula.tree, factors))
        except ValueError:
            continue
        if freed.size > formula.size and len(freed.constants) <= MAX_FREED_CONSTANTS:
            return freed
    return None


_FREEABLE = frozenset({"sin", "cos", "tanh", "exp", "log", "sqrt", "inv", "abs"})


def _free_arguments(tree, factors=True):
    """``tree`` with every freeable function's argument ``u`` written as
    ``1*u + 0`` and, with ``factors``, every bare ``x`` that a product or a
    power outside any function's argument takes as a factor written as
    ``x + 0``; the constants are marked
    (a third tuple item) so that ``_tune()`` can put them back; not
    canonical, only for tuning.

    A factor's shift is what scaling the inputs asks of ``x·g(x)`` and
    ``x**k``: the search sees ``u = (x − m)/s``, so ``x·exp(−x²)`` becomes
    ``(u + m/s)·exp(…)``, which no constant of ``u*exp(…)`` can express
    (a nested sine then fits it better and wins).
    """
    if trees.is_leaf(tree):
        return tree
    # Inside a function's argument a factor's shift would only repeat the
    # argument's own (``exp(a*(x + c)**2 + b)``): least squares then drifts
    # along the pair and ends where the fit is flat.
    inner = factors and tree[0] not in _FREEABLE
    arguments = [_free_arguments(arg, inner) for arg in tree[1:]]
    if factors and _takes_factors(tree):
        arguments = [("add", arg, ("const", 0.0, "free")) if arg == ("x",) else arg
                     for arg in arguments]
    if tree[0] in _FREEABLE:
        arguments = [
            ("add", ("mul", ("const", 1.0, "free"), arguments[0]), ("const", 0.0, "free"))
        ]
    return (tree[0], *arguments)


def _calls_a_function(tree):
    """Whether ``tree`` calls a non-polynomial function (``sin``, ``exp``…)."""
    return any(not trees.is_leaf(node) and prim.PRIMITIVES[node[0]].complexity > 1
               for node in trees.walk(tree))


def _takes_factors(tree):
    """Whether ``tree`` is a power of its argument or a product of two
    factors that both depend on ``x`` (a shift of ``c*x`` is only a
    constant, which the scaling absorbs)."""
    if prim.power_exponent(tree[0]) is not None:
        return True
    return tree[0] == "mul" and not any(trees.is_const(arg) for arg in tree[1:])


def _tune(formula, X, targets, weights):
    """Least-squares constants of ``formula``: ``(formula, fitness)``, or
    ``None`` when the result is not a valid formula.

    Freed arguments (``a·u + b``) start at ``a = 1`` and again at ``a = -1``:
    ``exp(x**2)`` and ``exp(-x**2)`` lie on either side of ``a = 0``, which
    least squares does not cross.
    """
    nodes = [node for node in trees.walk(formula.tree) if trees.is_const(node)]
    values, score = _least_squares(formula, nodes, X, targets, weights)
    # Constants that do not earn their place go: a freed one back to its
    # neutral value, any other to zero; expansion then drops them.
    values = np.array(values, dtype=np.float64)
    for index, node in enumerate(nodes):
        neutral = node[1] if len(node) == 3 else 0.0
        if values[index] == neutral:
            continue
        trial = values.copy()
        trial[index] = neutral
        trial_score = _fitness_with(formula, trial, X, targets, weights)
        if trial_score <= score + PRUNE_TOLERANCE:
            values, score = trial, min(score, trial_score)
    try:
        result = _canonical(formula.with_constants(values))
    except ValueError:
        return None
    return _without_rounding_rest(result, X, targets, weights)


def _least_squares(formula, nodes, X, targets, weights):
    """``(constants, fitness)``: the formula's own constants, or the least
    squares fit from them (and from the freed arguments flipped) where it
    scores better."""
    start = np.array(formula.constants, dtype=np.float64)
    score = _fitness_with(formula, start, X, targets, weights)
    values = start
    starts = [start]
    flipped = np.array([-v if len(n) == 3 and v == 1.0 else v for n, v in zip(nodes, start)])
    if np.any(flipped != start):
        starts.append(flipped)
    if not 0 < start.size <= MAX_TUNED_CONSTANTS:
        return values, score
    root_w = np.sqrt(weights / weights.sum())

    def residuals(values):
        sums = _sums_with(formula, values, X)
        if not np.all(np.isfinite(sums)):
            return np.full(targets.size, 1e3)
        a, b = linear_scaling(sums, targets, weights)
        return ((targets - (sums[:, None] * a + b)) * root_w[:, None]).ravel()

    for first in starts:
        try:
            with np.errstate(all="ignore"):
                result = optimize.least_squares(
                    residuals, first, method="trf", max_nfev=20 * (start.size + 1),
                )
            fitted = _fitness_with(formula, result.x, X, targets, weights)
            # The flipped start must do better than rounding (1e-12) to
            # win: sin(1.3*x) reads better than its twin sin(-1.3*x).
            if fitted < score - (1e-12 if first is not start else 0.0):
                values, score = result.x, fitted
        except (ValueError, np.linalg.LinAlgError):
            pass
    return values, score


def _without_rounding_rest(result, X, targets, weights):
    """``(formula, fitness)``: ``result``, or ``result`` less a constant of
    rounding size where dropping it costs nothing. Two constants that cancel
    (a freed shift against an inner one) leave such a rest after expansion
    (``sin(-1.3*x + 3.6e-14)``)."""
    score = float(_fitness_with(result, np.array(result.constants), X, targets, weights))
    for index, value in enumerate(result.constants):
        if 0 < abs(value) < NEGLIGIBLE_CONSTANT:
            trial = np.array(result.constants, dtype=np.float64)
            trial[index] = 0.0
            try:
                simpler = _canonical(result.with_constants(trial))
            except ValueError:
                continue
            trial_score = float(_fitness_with(
                simpler, np.array(simpler.constants), X, targets, weights))
            if trial_score <= score + PRUNE_TOLERANCE:
                return simpler, trial_score
    return result, score


NEGLIGIBLE_CONSTANT = 1e-9
"""A constant left this small after expansion is rounding, not a parameter."""


def _canonical(formula):
    """The formula in its shortest readable form with the same bases.

    The expansion's terms as one sum, scaled so that the last (most
    complex) term has coefficient 1 and without the constant term: the
    scaling ``a, b`` absorbs both, so they carry no information. Or, when it
    is simpler (``Formula.complexity``), the formula's own product form
    (``_compact()``): ``(x + 0.0089)*exp(-0.026*x - 1.32*x**2)`` rather
    than its expansion into two terms that repeat the exponential. The
    formula itself when it does not expand."""
    try:
        _, terms = formula.terms()
        last = terms[-1][0]
        expanded = Formula._from_tree(sum_tree(0.0, [(c / last, b) for c, b in terms]))
    except ValueError:
        return formula
    compact = _compact(formula)
    if compact is not None and compact.complexity < expanded.complexity:
        return compact
    return expanded


def _compact(formula):
    """``formula`` with every polynomial part and every function's argument
    expanded into its terms, and without an outer constant factor or
    summand (the scaling absorbs them); ``None`` when that is not a valid
    formula.

    Only a product with a function as a factor stays a product: a
    polynomial is as complex as its terms, so ``(x + 0.97)**3`` (three
    terms) does not pass for a formula of 4 nodes; it imitated
    ``sin(x) + x**2`` on 6 of 10 seeds when it did.
    """

    def expanded(tree):
        try:
            constant, terms = Formula._from_tree(tree).terms()
            return sum_tree(constant, terms)
        except ValueError:
            return tree

    def inside(tree):
        if trees.is_leaf(tree):
            return tree
        if not _calls_a_function(tree):
            return expanded(tree)
        arguments = tuple(inside(arg) for arg in tree[1:])
        if prim.PRIMITIVES[tree[0]].complexity > 1:  # a function's argument
            arguments = tuple(expanded(argument) for argument in arguments)
        return apply_primitive(tree[0], *arguments)

    try:
        tree = inside(formula.tree)
        while not trees.is_leaf(tree):
            if tree[0] in ("mul", "add", "sub") and trees.is_const(tree[1]):
                tree = tree[2]  # c*A, c + A, c - A: A
            elif tree[0] in ("add", "sub") and trees.is_const(tree[2]):
                tree = tree[1]  # A + c, A - c: A
            elif tree[0] == "neg":
                tree = tree[1]
            else:
                break
        return Formula._from_tree(tree)
    except ValueError:
        return None


PRUNE_TOLERANCE = 1e-6
"""A term is dropped when the fitness, with the other terms' coefficients
refitted by least squares, worsens by at most this."""


def term_fitness(columns, targets, weights):
    """1 − R² of the best linear combination of term columns (+ offset),
    and its least-squares coefficients (the offset last)."""
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


NEAR_CONSTANT = 0.01
"""A basis ``g`` is nearly constant on the data when the standard deviation
of its values is below this share of their size (``std / (|mean| + std)``):
``cos(0.112*x)`` on standardized data varies by 0.6 %. A layer built on it
would have nearly constant features."""

CANCELLATION_LIMIT = 100.0
"""Terms cancel when one of them, ``c_k Σ_i g_k(x_i)`` or ``c_k g_k(x)``
value by value, varies more than this many times as much as their sum: the
formula is then a small difference of
large numbers (``1.8e12*exp(sin(x)) - 1.5e12*exp(exp(...))``), meaningless
in float32 and fragile in any layer."""


CONCENTRATION_LIMIT = 0.99
"""A basis is concentrated when more than this share of its variation (sum of
squared deviations from the median) sits in the most extreme 1 % of its
values while ``x``'s own does not (at most ``PLAIN_CONCENTRATION``):
``exp(-236*x - 273)`` is 0 on nearly every value and huge on a few
outliers, an indicator of those rows rather than a function of x."""

PLAIN_CONCENTRATION = 0.9

MAX_TURNING_POINTS = 10
"""A basis may turn (change between rising and falling) at most this many
times between the 1st and 99th percentiles of the values it sees:
``sin(exp(exp(x)))`` turns dozens of times on standardized data, a basis no
layer can train on (``sin(2.5*x)`` on [-2.3, 2.3] turns 4 times)."""


def concentration(values):
    """Share of the variation of ``values`` in their most extreme 1 %."""
    values = np.asarray(values, dtype=np.float64).ravel()
    deviations = np.abs(values - np.median(values))
    largest = float(deviations.max()) if len(values) else 0.0
    if not np.isfinite(largest) or largest == 0:
        return 0.0  # constant, or not finite (the other checks say so)
    deviations = (deviations / largest) ** 2  # no overflow on squaring
    total = float(deviations.sum())
    top = max(1, int(np.ceil(0.01 * len(values))))
    return float(np.partition(deviations, len(values) - top)[-top:].sum()) / total


def turning_points(basis, values, points=1024):
    """How often ``basis`` changes between rising and falling on a grid
    across the 1st to 99th percentiles of ``values``."""
    low, high = np.percentile(np.asarray(values, dtype=np.float64).ravel(), [1, 99])
    if not high > low:
        return 0
    with np.errstate(all="ignore"):
        curve = np.asarray(basis.evaluate(np.linspace(low, high, points)[:, None]),
                           dtype=np.float64).ravel()
    if not np.all(np.isfinite(curve)):
        return 0  # the value checks say what is wrong with it
    steps = np.diff(curve)
    steps = steps[np.abs(steps) > 1e-9 * (np.ptp(curve) or 1.0)]
    return int(np.count_nonzero(np.diff(np.sign(steps))))


def variation(values):
    """``std / (|mean| + std)`` of an array: 0 for a constant, 1 when centred."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        return 0.0
    spread = float(values.std())
    size = abs(float(values.mean())) + spread
    return spread / size if size > 0 else 0.0


def cancellation(columns, coefficients):
    """How many times the largest term varies as much as the sum of terms."""
    parts = [c * column for c, column in zip(coefficients, columns)]
    total = float(np.std(np.sum(parts, axis=0)))
    largest = max(float(np.std(part)) for part in parts)
    if largest == 0:
        return 0.0
    return largest / total if total > 0 else np.inf


LINEAR_RANGE = 1e-4
"""A call of a non-polynomial function is used in its linear range when an
affine map of its argument reproduces it on the data to ``1 − R²`` below
this (``cos(1.57 + 0.0006*x**2)`` is ``-0.0006*x**2`` to first order,
``sin(0.02*x - 0.06*x**2)`` is its argument): the formula is then a
look-alike of a simpler one, with more nodes and no more expressive power."""


def linear_range_call(formula, X):
    """The first call of ``formula`` used in its linear range on ``X``
    (``LINEAR_RANGE``), as a string, or ``None``."""
    x = np.asarray(X, dtype=np.float64).ravel()
    for node in trees.walk(formula.tree):
        if (trees.is_leaf(node) or len(node) != 2
                or prim.PRIMITIVES[node[0]].complexity <= 1):
            continue
        with np.errstate(all="ignore"):
            argument = np.broadcast_to(trees.evaluate(node[1], x, "numpy"), x.shape)
            value = np.broadcast_to(trees.evaluate(node, x, "numpy"), x.shape)
            if not (np.all(np.isfinite(argument)) and np.all(np.isfinite(value))):
                continue
            spread = value.var()
            if spread <= 0 or argument.var() <= 0:
                continue
            slope = np.cov(argument, value, bias=True)[0, 1] / argument.var()
            residual = value - value.mean() - slope * (argument - argument.mean())
        # Any function of two values is affine in them: not a look-alike (the
        # distinct values are counted only for a call that looks linear).
        if residual.var() < LINEAR_RANGE * spread and np.unique(argument).size >= 3:
            return trees.to_string(trees.round_constants(node, 4))
    return None


def meaningless(formula, X):
    """Why ``formula`` is numerically meaningless on ``X``, or ``None``.

    Meaningless: a basis function nearly constant on the data
    (``NEAR_CONSTANT``), a call used in its linear range
    (``LINEAR_RANGE``), or terms that cancel (``CANCELLATION_LIMIT``).
    Such formulas are kept off the front.
    """
    try:
        _, terms = formula.terms()
    except ValueError as error:
        return str(error)
    with np.errstate(all="ignore"):
        values = [basis.evaluate(X) for _, basis in terms]
    for (_, basis), value in zip(terms, values):
        if variation(value) < NEAR_CONSTANT:
            return f"the basis {basis} is nearly constant on the data"
    plain = concentration(X) <= PLAIN_CONCENTRATION
    for (_, basis), value in zip(terms, values):
        if plain and concentration(value) > CONCENTRATION_LIMIT:
            return (f"the basis {basis} varies on fewer than 1 % of the values "
                    "(an indicator of outliers)")
        turns = turning_points(basis, X)
        if turns > MAX_TURNING_POINTS:
            return (f"the basis {basis} turns {turns} times on the data's range "
                    f"(at most {MAX_TURNING_POINTS})")
    coefficients = [c for c, _ in terms]
    # On the sums the model adds up, and value by value (what a layer's
    # basis sees): column sums can hide terms that cancel in every value.
    ratio = max(cancellation([v.sum(axis=1) for v in values], coefficients),
                cancellation([v.ravel() for v in values], coefficients))
    if ratio > CANCELLATION_LIMIT:
        return f"its terms cancel (the largest varies {ratio:.3g} times as much as the sum)"
    call = linear_range_call(formula, X)
    if call is not None:
        return f"{call} is used in its linear range on the data (its argument would do)"
    return None


def _prune_terms(formula, X, targets, weights):
    """Drop terms that do not help or do not make sense, refitting the rest.

    Works on the expansion ``c_0 + Σ_k c_k g_k``: the columns ``Σ_i g_k(x_i)``
    enter a weighted least squares. Bases nearly constant on the data go
    first. Then, greedily, the term whose removal costs least goes, while
    that costs at most ``PRUNE_TOLERANCE``, and whatever it costs while
    the least-squares terms cancel (``CANCELLATION_LIMIT``). The
    coefficients of the result are the least-squares ones.
    """
    try:
        _, terms = formula.terms()
    except ValueError:
        return formula
    bases = [basis for _, basis in terms]
    with np.errstate(all="ignore"):
        values = [basis.evaluate(X) for basis in bases]
    columns = [value.sum(axis=1) for value in values]
    if not all(np.all(np.isfinite(c)) for c in columns):
        return formula
    keep = [k for k, value in enumerate(values) if variation(value) >= NEAR_CONSTANT]
    if not keep:
        return formula
    baseline, coefficients = term_fitness([columns[j] for j in keep], targets, weights)
    while len(keep) > 1:
        trials = [
            (term_fitness([columns[j] for j in keep if j != k], targets, weights)[0], k)
            for k in keep
        ]
        trial_score, drop = min(trials)
        cancelling = cancellation(
            [columns[j] for j in keep], coefficients[:-1, 0]
        ) > CANCELLATION_LIMIT
        if trial_score > baseline + PRUNE_TOLERANCE and not cancelling:
            break
        keep.remove(drop)
        score, coefficients = term_fitness([columns[j] for j in keep], targets, weights)
        if cancelling:  # a forced drop: tolerance counts from here on
            baseline = score
    # One output's coefficients define f (the others differ by a·, b).
    leading = coefficients[:-1, 0]
    if not np.any(leading):
        return formula
    terms = [(float(c), bases[j]) for c, j in zip(leading, keep)]
    try:
        return Formula._from_tree(sum_tree(0.0, terms))
    except ValueError:
        return formula


def sum_tree(constant, terms):
    """The tree of ``constant + Σ c_k g_k`` for ``terms`` ``(c_k, g_k)``."""
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
