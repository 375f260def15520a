"""What the search scores a formula by, chosen once per fit.

``OBJECTIVES[fitness](fit_rows, held_rows)`` is the estimator's
``fitness`` parameter as an object: the evolution's fitness, the front's
losses, the model fitted on every sample, the columns ``predict`` weighs,
the public ``coef_``, and whether the formula must beat the linear neuron.
The rows it holds live as long as the fit (a local of ``_fit_targets``),
never on the estimator.

- ``SeparableObjective`` (``"separable"``): the model one unit of the first
  layer computes, a weight per input on ``x`` and on each basis
  (``separable``); the formula must beat ``x`` alone.
- ``SharedObjective`` (``"shared"``): the paper's ``a·Σ_i f(u_i) + b``.
"""

import warnings

from keras_taskneurons.search import front as front_module
from keras_taskneurons.search import separable
from keras_taskneurons.search.fitness import (
    ScaledSumFitness,
    feature_sum,
    linear_scaling,
    scaled_error,
)
from keras_taskneurons.search.front import validation_loss


class SharedObjective:
    """The paper's fitness, ``a·Σ_i f(u_i) + b``: ONE weight for every input.

    ``fit_rows`` and ``held_rows`` are ``(U, targets, weights)``, the
    evolution rows and the held-out rows.
    """

    def __init__(self, fit_rows=None, held_rows=None):
        self.fit_rows, self.held_rows = fit_rows, held_rows

    @staticmethod
    def rows(U, Z, targets, weights, index):
        """The rows this objective scores on, of the rows ``index``."""
        return U[index], targets[index], weights[index]

    def evolution_fitness(self):
        """gplearn's fitness on the stacked evolution rows."""
        U, targets, _ = self.fit_rows
        return ScaledSumFitness(targets, U.shape[1])

    def losses(self, formula, fitness=None):
        """``(held-out loss, fitness on the evolution rows)`` of ``formula``
        (``fitness`` when given, not recomputed)."""
        if fitness is None:
            fitness = scaled_error(feature_sum(formula, self.fit_rows[0]), *self.fit_rows[1:])
        return validation_loss(formula, self.fit_rows, self.held_rows), fitness

    def against_linear(self, equations, model_selection):
        """``(front, linear loss)``: nothing to beat here."""
        return equations, None

    @staticmethod
    def columns(formula, U, Z):
        """What the model weighs for rows ``(U, Z)``: ``Σ_i f(u_i)``, one column."""
        return feature_sum(formula, U)[:, None]

    @classmethod
    def fit_model(cls, formula, U, Z, targets, weights):
        """``(W, b)``: the model on every sample, ``W`` of shape ``(1, outputs)``."""
        a, b = linear_scaling(feature_sum(formula, U), targets, weights)
        return a[None, :], b

    @staticmethod
    def public_coef(coef):
        """``coef_`` from ``(outputs, columns)`` weights: the scale ``a`` per output."""
        return coef[:, 0]


class SeparableObjective(SharedObjective):
    """The model a unit of the first layer computes: a weight per input on
    ``x`` (``z``) and on each basis of ``f`` (``u``), ridge-fitted.

    ``fit_rows`` and ``held_rows`` are ``(U, Z, targets, weights)``.
    """

    @staticmethod
    def rows(U, Z, targets, weights, index):
        return U[index], Z[index], targets[index], weights[index]

    def evolution_fitness(self):
        _, Z, targets, weights = self.fit_rows
        return separable.SeparableFitness(Z, targets, weights)

    def losses(self, formula, fitness=None):
        return (separable.held_out_loss(formula, self.fit_rows, self.held_rows),
                separable.in_sample_loss(formula, self.fit_rows))

    def against_linear(self, equations, model_selection):
        """Never worse than linear: ``(front, x's held-out loss)``, the front
        choosing ``x`` (with a warning naming both losses) unless its chosen
        formula beats ``x`` alone (``separable.beats_linear()``)."""
        linear_loss = separable.held_out_loss(separable.LINEAR, self.fit_rows, self.held_rows)
        chosen = equations.best
        gain, t = (0.0, 0.0) if chosen.formula == separable.LINEAR else separable.linear_gain(
            chosen.formula, self.fit_rows, self.held_rows)
        if separable.clears_linear(gain, t, linear_loss):
            return equations, linear_loss
        warnings.warn(_kept_linear_message(equations, chosen, linear_loss, gain, t),
                      UserWarning, stacklevel=4)
        position = next((i for i, e in enumerate(equations)
                         if e.formula == separable.LINEAR), None)
        kept = list(equations)
        if position is None:  # x on the front, as its simplest equation
            kept.insert(0, front_module.Equation(
                1, linear_loss, 0.0, separable.LINEAR,
                separable.in_sample_loss(separable.LINEAR, self.fit_rows)))
            position = 0
        return front_module.ParetoFront(kept, position, model_selection), linear_loss

    @staticmethod
    def columns(formula, U, Z):
        """``[z, g_1(u), …, g_K(u)]``: a first layer's unit's columns."""
        return separable.design(formula, U, Z)[:, :-1]

    @classmethod
    def fit_model(cls, formula, U, Z, targets, weights):
        solution = separable.fit_design(separable.design(formula, U, Z), targets, weights)
        return solution[:-1], solution[-1]

    @staticmethod
    def public_coef(coef):
        """``coef_``: the weights of the unit's columns, ``(outputs, columns)``."""
        return coef


def _kept_linear_message(equations, chosen, linear_loss, gain, t):
    """Why the search keeps ``x``: the front's choice (or its lowest-loss
    formula) against ``x`` alone, and the bar it had to clear."""
    others = [e for e in equations if e.formula != separable.LINEAR]
    change = (f"cuts x's loss by {100 * gain:.1f} %" if gain >= 0 else
              f"leaves {1 - gain:.3g} times x's loss")  # gain = 1 - loss / x's loss
    if chosen.formula != separable.LINEAR:
        best = (f"the front's choice, {chosen.formula.format(4)}, leaves {chosen.loss:.4g} of "
                f"the variance held out, x alone {linear_loss:.4g}; cross-validated it "
                f"{change} ({t:.2f} standard errors)")
    elif others:
        lowest = min(others, key=lambda e: e.loss)
        best = (f"the front's lowest-loss formula, {lowest.formula.format(4)}, leaves "
                f"{lowest.loss:.4g} of the variance held out, x alone {linear_loss:.4g}")
    else:
        best = f"none leaves less of the variance than x alone, {linear_loss:.4g}"
    return (
        f"No formula beats the linear neuron: {best} (a formula must cut it by "
        f"{100 * separable.MIN_LINEAR_GAIN:g} %, by {separable.MIN_LINEAR_T:g} "
        f"standard errors, cross-validated on the search's rows, and by "
        f"{separable.MIN_LINEAR_CUT:g} of the variance). The chosen formula is x: "
        "its layers are linear neurons on the search's map."
    )


OBJECTIVES = {"separable": SeparableObjective, "shared": SharedObjective}
"""The estimators' ``fitness`` values and what each scores by."""
