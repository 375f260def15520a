"""Where the front's candidates come from, besides the evolution's hall.

Genetic programming is good at discovering building blocks (``x*x*x``,
``sin(x + 0.3)``) and poor at combining them with exact coefficients or
tuning a frequency: left alone it returns look-alikes such as
``x*cos(x)`` for ``x**3 - x``. Two sources complete the hall of fame:

* **seeds**, built from the function set only: ``x``, ``x**2`` and ``x**3``
  when ``mul`` is allowed, and for every unary function ``f`` in the set
  ``f(x)`` and ``x*f(x)`` (with ``mul``) and, when ``add`` and ``mul`` are
  allowed, ``f(x**2 + 0.5*x)`` and ``x*f(x**2 + 0.5*x)``;
  refinement then frees and tunes their arguments (``sin(1.155*x)``,
  ``exp(-0.333*x**2)``);
* **sparse combinations**: every basis function found in the hall's front
  and the seeds forms a library; the best sums of one, two and three of
  them (least squares on ``Σ_i g_k(x_i)``) become candidates, so that
  ``x**3`` from one program and ``x`` from another give ``x**3 - x``.

Every candidate then goes through the same refinement, meaning checks and
held-out scoring as the evolved programs.
"""

import itertools

import numpy as np

from keras_taskneurons import primitives as prim
from keras_taskneurons.formula import Formula
from keras_taskneurons.search.refinement import (
    CANCELLATION_LIMIT,
    NEAR_CONSTANT,
    sum_tree,
    term_fitness,
    cancellation,
    variation,
)

MAX_LIBRARY = 40
"""Basis functions in the library at most (the simplest are kept)."""

MAX_COMBINED = 3
"""Terms in a sparse combination at most."""

EXHAUSTIVE_LIBRARY = 30
"""Up to this many bases every triple is tried (4,060 least squares)."""

BEAM = 10
"""With a larger library, triples extend the best this many pairs."""

MAX_KEPT = 8
"""Combinations returned at most (the most accurate of their front)."""


def seeds(function_set):
    """Simple formulas made of the function set only (see the module)."""
    allowed = set(function_set)
    texts = ["x"]
    if "mul" in allowed:
        texts += ["x**2", "x**3"]
    for name in sorted(allowed):
        primitive = prim.PRIMITIVES[name]
        if primitive.arity != 1 or name == "neg" or prim.power_exponent(name):
            continue
        texts.append(f"{name}(x)")
        if "mul" in allowed:  # the function weighted by its input: x*sin(x)
            texts.append(f"x*{name}(x)")
        if {"add", "mul"} <= allowed:
            texts.append(f"{name}(x**2 + 0.5*x)")
            texts.append(f"x*{name}(x**2 + 0.5*x)")
    return [Formula(text) for text in texts]


def sparse_combinations(formulas, X, targets, weights):
    """The best sums of up to ``MAX_COMBINED`` library bases.

    The library is every distinct basis of the formulas' expansions that is
    finite and not nearly constant on ``X``, simplest first. All single
    bases and pairs are tried, and all triples (for a larger library, those
    extending the best pairs). The
    combinations on the front of complexity against accuracy whose terms do
    not cancel are returned (at most ``MAX_KEPT``), as formulas with
    their least-squares coefficients.
    """
    library = {}
    for formula in formulas:
        try:
            _, terms = formula.terms()
        except ValueError:
            continue
        for _, basis in terms:
            library.setdefault(str(basis), basis)
    bases = sorted(library.values(), key=lambda b: (b.complexity, str(b)))
    columns, kept = [], []
    with np.errstate(all="ignore"):
        for basis in bases:
            values = basis.evaluate(X)
            if variation(values) >= NEAR_CONSTANT:
                kept.append(basis)
                columns.append(values.sum(axis=1))
            if len(kept) == MAX_LIBRARY:
                break

    def fit(indices):
        score, coefficients = term_fitness([columns[i] for i in indices], targets, weights)
        return score, indices, coefficients

    singles = [fit((i,)) for i in range(len(kept))]
    pairs = [fit(pair) for pair in itertools.combinations(range(len(kept)), 2)]
    if len(kept) <= EXHAUSTIVE_LIBRARY:
        triples = set(itertools.combinations(range(len(kept)), 3))
    else:
        best_pairs = sorted(pairs, key=lambda r: r[0])[:BEAM]
        triples = {
            tuple(sorted(pair + (k,)))
            for _, pair, _ in best_pairs for k in range(len(kept)) if k not in pair
        }
    combinations = singles + pairs + [fit(triple) for triple in sorted(triples)]
    # The front of the combinations: each more accurate than every simpler
    # one (complexity: the bases' nodes plus a coefficient per term).
    combinations.sort(key=lambda r: (sum(kept[i].complexity + 2 for i in r[1]), r[0]))
    results, lowest = [], np.inf
    for score, indices, coefficients in combinations:
        if not score < lowest:
            continue
        leading = coefficients[:-1, 0]
        if not np.all(np.isfinite(leading)) or not np.any(leading):
            continue
        if len(indices) > 1 and cancellation(
            [columns[i] for i in indices], leading
        ) > CANCELLATION_LIMIT:
            continue
        try:
            results.append(Formula._from_tree(sum_tree(
                0.0, [(float(c), kept[i]) for c, i in zip(leading, indices)]
            )))
        except ValueError:
            continue
        lowest = score
    return results[-MAX_KEPT:]

