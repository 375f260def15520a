"""The sympy bridge: trees to sympy and back, expansion into terms, LaTeX.

sympy only ever sees expressions built here from checked trees (never text),
and ``check()`` has bounded what expanding
them costs before any of this runs. Protected functions become opaque sympy
functions (every primitive but + - * and powers is opaque), so that algebra
keeps gplearn's semantics and never runs sympy's evaluation rules.
"""

import math

import numpy as np
import sympy

from keras_taskneurons import primitives as prim
from keras_taskneurons.formula import tree as trees

MAX_TERMS = 64
"""Largest number of distinct basis terms an expansion may return."""

_SYMBOL = sympy.Symbol(trees.VARIABLE, real=True)

_FROM_SYMPY_FUNCTION = {
    prim.ProtectedDiv: "div",
    prim.ProtectedLog: "log",
    prim.ProtectedSqrt: "sqrt",
    prim.ProtectedInv: "inv",
    prim.ClippedExp: "exp",
    prim.OpaqueSin: "sin",
    prim.OpaqueCos: "cos",
    prim.OpaqueTanh: "tanh",
    prim.OpaqueAbs: "abs",
}


def to_sympy(tree, digits=17):
    """sympy expression of ``tree``; floats carry ``digits`` significant digits
    (17 keeps every bit of a float64, 15 prints the shortest decimals)."""
    name = tree[0]
    if name == "x":
        return _SYMBOL
    if name == "const":
        return _to_sympy_number(tree[1], digits)
    arguments = [to_sympy(arg, digits) for arg in tree[1:]]
    if all(argument.is_Number for argument in arguments):
        # Algebra made the arguments constant (x - x is 0): evaluate with the
        # numpy primitive, as the search would, and never hand sympy nested
        # functions of numbers (its assumptions then evaluate them at ever
        # higher precision, which can take minutes).
        with np.errstate(all="ignore"):
            value = float(prim.PRIMITIVES[name].numpy(
                *(np.float64(float(argument)) for argument in arguments)
            ))
        return _to_sympy_number(_number(value)[1], digits)
    if name == "div" and trees.is_const(tree[2]) and (
        abs(tree[2][1]) > prim.PROTECTION_THRESHOLD
    ):
        # A constant denominator outside the protected band: plain division,
        # so that algebra can fold it into the coefficient.
        return arguments[0] / arguments[1]
    return prim.PRIMITIVES[name].sympy(*arguments)


def _to_sympy_number(value, digits):
    return sympy.Integer(int(value)) if value.is_integer() else (
        sympy.Float(value, digits)
    )


def _number(expr):
    value = float(expr)
    if not math.isfinite(value):
        raise ValueError(
            f"a coefficient of the expansion ({sympy.Float(expr, 4)}) is not "
            "finite in float64"
        )
    return ("const", value)


def from_sympy(expr):
    """Convert a sympy expression (made by ``to_sympy()``) back to a tree."""
    if expr == _SYMBOL:
        return trees.X
    if expr.is_Number:
        return _number(expr)
    if expr.is_Add:
        # Constants last, as people write them: "1.3*x + 0.2".
        parts = sorted(
            expr.args, key=lambda e: (e.is_Number, sympy.default_sort_key(e))
        )
        tree = from_sympy(parts[0])
        for part in parts[1:]:
            coefficient, _ = part.as_coeff_Mul()
            if coefficient < 0:
                tree = trees.apply_primitive("sub", tree, from_sympy(-part))
            else:
                tree = trees.apply_primitive("add", tree, from_sympy(part))
        return tree
    if expr.is_Mul:
        coefficient, rest = expr.as_coeff_Mul()
        factors = sorted(sympy.Mul.make_args(rest), key=sympy.default_sort_key)
        tree = from_sympy(factors[0])
        for factor in factors[1:]:
            tree = trees.apply_primitive("mul", tree, from_sympy(factor))
        if coefficient == -1:
            return trees.apply_primitive("neg", tree)
        if coefficient != 1:
            tree = trees.apply_primitive("mul", from_sympy(coefficient), tree)
        return tree
    if expr.is_Pow:
        base, exponent = expr.args
        if not (exponent.is_Integer and 1 <= int(exponent) <= trees.MAX_DEGREE):
            raise ValueError(f"it produced an unsupported power {expr}")
        k = int(exponent)
        tree = from_sympy(base)
        result = None
        while k:  # split exponents above MAX_EXPONENT into products
            step = min(k, prim.MAX_EXPONENT)
            piece = trees.power(tree, step)
            result = piece if result is None else trees.apply_primitive(
                "mul", result, piece
            )
            k -= step
        return result
    for function, name in _FROM_SYMPY_FUNCTION.items():
        if expr.func == function:
            return trees.apply_primitive(
                name, *(from_sympy(arg) for arg in expr.args)
            )
    raise ValueError(f"it produced an unsupported {expr}")


def expand(tree):
    """Expand a checked tree into ``c_0 + sum_k c_k * g_k(x)``.

    Returns ``(c_0, [(c_k, g_k tree), ...])`` with distinct bases, simplest
    first. Raises ``ValueError`` (with the reason, not the formula) when the
    expansion is constant, has more than ``MAX_TERMS`` terms or a
    non-finite coefficient.
    """
    expanded = sympy.expand(to_sympy(tree))
    constant = 0.0
    terms = []
    for basis, coefficient in expanded.as_coefficients_dict().items():
        if not basis.free_symbols:
            # A number, or a function of numbers left unevaluated.
            constant += from_sympy(basis)[1] * _number(coefficient)[1]
            continue
        value = _number(coefficient)[1]
        if value != 0.0:
            terms.append((value, from_sympy(basis)))
    if not math.isfinite(constant):
        raise ValueError(f"its constant term ({constant}) is not finite")
    if not terms:
        raise ValueError(
            f"it is constant after expansion ({constant!r}); it has no term in x"
        )
    if len(terms) > MAX_TERMS:
        raise ValueError(
            f"it expands into {len(terms)} terms; the limit is {MAX_TERMS}"
        )
    # Simplest basis first, then by canonical string.
    terms.sort(key=lambda term: (trees.size(term[1]), trees.to_string(term[1])))
    return constant, terms


def latex(tree):
    """LaTeX for a checked tree (protected functions in ordinary notation)."""
    return sympy.latex(to_sympy(tree, 15))
