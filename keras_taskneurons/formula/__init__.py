"""Formulas in one variable ``x``: parsing, printing, evaluation, algebra.

A [Formula][keras_taskneurons.Formula] is an immutable expression tree built only from the
primitive table (``keras_taskneurons.primitives``), finite constants and
the variable ``x``. The package has one module per concern:

* ``parser``: the allow-list parser (text to
  tree; never ``eval``, ``exec``, ``ast`` or ``sympify``);
* ``tree``: construction with exact constant
  folding, canonical printing, evaluation, and the ONE limit check every
  formula passes (size, depth, degree, and the cost of expanding it);
* ``algebra``: the sympy bridge (expansion into
  terms, LaTeX), which only ever sees checked trees;
* ``core``: the [Formula][keras_taskneurons.Formula] class.
"""

from keras_taskneurons.formula.algebra import MAX_TERMS
from keras_taskneurons.formula.core import Formula, as_formula
from keras_taskneurons.formula.tree import (
    MAX_DEGREE,
    MAX_DEPTH,
    MAX_EXPANSION,
    MAX_EXPANSION_WORK,
    MAX_LENGTH,
    MAX_NODES,
    VARIABLE,
    apply_primitive,
)

__all__ = [
    "Formula",
    "MAX_DEGREE",
    "MAX_DEPTH",
    "MAX_EXPANSION",
    "MAX_EXPANSION_WORK",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_TERMS",
    "VARIABLE",
    "apply_primitive",
    "as_formula",
]
