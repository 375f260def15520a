"""The Pareto front of a search: accuracy against complexity, and the choice.

During evolution the search keeps, for every program length, the most
accurate program of all generations (a hall of fame). Afterwards each
program on the hall's front is converted, refined, checked for numerical
meaning and scored on rows held out from the evolution. The result is one
equation per complexity, each more accurate than every simpler one: the
[ParetoFront][keras_taskneurons.search.front.ParetoFront] exposed as ``equations_``.

Selection follows PySR's ``model_selection``:

* ``"best"`` (default): among the equations whose loss is at most
  ``ACCURACY_BAND`` times the lowest, the one with the highest score
  ``-Δlog(loss)/Δcomplexity`` against the next simpler equation on the front:
  the simplest formula that is about as good as the best, where accuracy
  jumps (``x**2`` when the truth is ``x**2``, not a cosine of a tiny
  argument);
* ``"accuracy"``: the lowest loss.

Losses below ``LOSS_FLOOR`` are machine precision, not accuracy: they
count as equal, so an exact simple formula is not beaten by an exact larger
one through rounding.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from keras_taskneurons.formula import Formula
from keras_taskneurons.search.fitness import feature_sum, linear_scaling

MODEL_SELECTIONS = ("best", "accuracy")

ACCURACY_BAND = 1.5
"""``"best"`` considers equations with loss at most this times the lowest."""

LOSS_FLOOR = 1e-12
"""Losses (normalized mean squared errors) below this are taken as equal."""

CHOICE_PRECISION = 4
"""Significant digits of the constants in ``ParetoFront.choices``."""


class Equation(NamedTuple):
    """One equation of the front.

    Attributes:
        complexity: ``Formula.complexity``: nodes of the tree, a call of a
            non-polynomial function (sin, exp, div, ...) counting 2.
        loss: Mean squared error on the validation rows, divided by the
            targets' variance there (``1 − R²``; mean over outputs), with
            the scaling ``a, b`` fitted on the evolution rows.
        score: ``-Δlog(loss)/Δcomplexity`` against the next simpler equation
            (0 for the simplest).
        formula: The refined [Formula][keras_taskneurons.Formula].
        fitness: ``1 − R²`` on the evolution rows.
    """

    complexity: int
    loss: float
    score: float
    formula: Formula
    fitness: float


class ParetoFront(Sequence):
    """Equations sorted by complexity, each more accurate than all simpler
    ones; ``chosen`` is the index of the selected equation.

    Indexing, ``len`` and iteration give ``Equation`` records; printing
    gives a table with the chosen equation marked; ``to_frame()`` gives a
    pandas DataFrame.
    """

    def __init__(self, equations, chosen, selection):
        self.equations = tuple(equations)
        self.chosen = chosen
        self.selection = selection
        self._choices = None

    def __len__(self):
        return len(self.equations)

    def __getitem__(self, index):
        return self.equations[index]

    @property
    def best(self):
        """The chosen equation."""
        return self.equations[self.chosen]

    @property
    def choices(self):
        """The equations as short canonical strings, one per equation, in order.

        Constants are rounded to ``CHOICE_PRECISION`` significant digits,
        or more where two equations would otherwise read the same; every
        string parses as a [Formula][keras_taskneurons.Formula]. They are
        plain ``str`` values, as KerasTuner's ``hp.Choice`` needs, and
        ``index()`` (so ``predict(X, index=...)`` and
        ``layer_factory(index=...)``) maps each back to its exact equation:
        ``search.layer_factory(index=hp.Choice("formula", list(search.equations_.choices)))``.
        """
        if self._choices is None:
            formulas = [e.formula for e in self]
            for precision in range(CHOICE_PRECISION, 18):
                texts = tuple(f.format(precision) for f in formulas)
                if len(set(texts)) == len(texts):
                    break
            else:  # distinct formulas always differ at full precision
                texts = tuple(str(f) for f in formulas)
            self._choices = texts
        return self._choices

    def index(self, key):
        """The position of an equation given as an index (negative counts
        from the end), one of ``choices``, its exact string or its
        [Formula][keras_taskneurons.Formula]; ``None`` is the chosen one."""
        if key is None:
            return self.chosen
        if isinstance(key, (bool, np.bool_)):
            raise TypeError(f"An equation index must be an int or a string, got {key!r}.")
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise ValueError(
                    f"index={int(key)} is outside the front's {len(self)} equations "
                    f"(0 to {len(self) - 1}, or negative from the end).")
            return int(key) % len(self)
        if isinstance(key, Formula):
            key = str(key)
        if not isinstance(key, str):
            raise TypeError(
                "An equation is chosen by an int index, one of `equations_.choices` "
                f"or a Formula; got {type(key).__name__} {key!r}.")
        for position, (text, e) in enumerate(zip(self.choices, self)):
            if key == text or key == str(e.formula):
                return position
        raise ValueError(
            f"{key!r} is not an equation of the front; its choices are "
            f"{list(self.choices)}.")

    def to_frame(self):
        """A pandas DataFrame: complexity, loss, score, equation (the
        readable string of ``choices``), formula (exact), chosen."""
        import pandas as pd

        return pd.DataFrame(
            {
                "complexity": [e.complexity for e in self],
                "loss": [e.loss for e in self],
                "score": [e.score for e in self],
                "equation": list(self.choices),
                "formula": [str(e.formula) for e in self],
                "chosen": [i == self.chosen for i in range(len(self))],
            }
        )

    def table(self, digits=4, width=72):
        """The front as text lines; the chosen equation is marked ``>``."""
        lines = [f"  {'complexity':>10}  {'loss':>10}  {'score':>8}  formula"]
        for index, e in enumerate(self):
            mark = ">" if index == self.chosen else " "
            text = e.formula.format(digits)
            if len(text) > width:
                text = text[: width - 3] + "..."
            lines.append(
                f"{mark} {e.complexity:>10}  {e.loss:>10.3g}  {e.score:>8.3g}  {text}"
            )
        return lines

    def __repr__(self):
        header = f"ParetoFront ({len(self)} equations, model_selection={self.selection!r})"
        return "\n".join([header] + self.table())


def validation_loss(formula, train, validation):
    """``1 − R²`` on ``validation`` of ``a·Σ f + b`` with ``a, b`` fitted on
    ``train``; each is ``(X, targets, weights)``. ``inf`` when not finite."""
    X, targets, weights = train
    with np.errstate(all="ignore"):
        a, b = linear_scaling(feature_sum(formula, X), targets, weights)
        X_val, t_val, w_val = validation
        predicted = feature_sum(formula, X_val)[:, None] * a + b
        w = w_val / w_val.sum()
        error = w @ ((t_val - predicted) ** 2)
        spread = w @ ((t_val - w @ t_val) ** 2)
    varying = spread > 0
    if not np.any(varying):
        return math.inf
    loss = float(np.mean(error[varying] / spread[varying]))
    return loss if math.isfinite(loss) else math.inf


def build(candidates, selection):
    """The front of ``candidates`` (``(formula, loss, fitness)``), scored, with
    the chosen index; ``None`` when no candidate has a finite loss."""
    best_per_size = {}
    for formula, loss, fitness in candidates:
        if not math.isfinite(loss):
            continue
        size = formula.complexity
        if size not in best_per_size or loss < best_per_size[size][1]:
            best_per_size[size] = (formula, loss, fitness)
    equations = []
    floor_of = lambda loss: max(loss, LOSS_FLOOR)  # noqa: E731
    for size in sorted(best_per_size):
        formula, loss, fitness = best_per_size[size]
        if equations and floor_of(loss) >= floor_of(equations[-1].loss):
            continue  # not more accurate than a simpler equation
        score = 0.0
        if equations:
            previous = equations[-1]
            score = -(
                math.log(floor_of(loss)) - math.log(floor_of(previous.loss))
            ) / (size - previous.complexity)
        equations.append(Equation(size, loss, score, formula, fitness))
    if not equations:
        return None
    return ParetoFront(equations, choose(equations, selection), selection)


def choose(equations, selection):
    """Index of the selected equation (see the module docstring)."""
    lowest = min(max(e.loss, LOSS_FLOOR) for e in equations)
    if selection == "accuracy":
        return next(
            i for i, e in enumerate(equations) if max(e.loss, LOSS_FLOOR) == lowest
        )
    band = [
        i for i, e in enumerate(equations)
        if max(e.loss, LOSS_FLOOR) <= ACCURACY_BAND * lowest
    ]
    return max(band, key=lambda i: (equations[i].score, -i))
