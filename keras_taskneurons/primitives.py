"""The table of primitive functions, one entry per allowed function.

Each primitive is written down once, with three meanings that must agree:

* ``numpy``: used by the symbolic search (the form gplearn's ``make_function``
  accepts) and by ``Formula.evaluate()``;
* ``keras``: used by [TaskNeuronDense][keras_taskneurons.TaskNeuronDense], written with ``keras.ops`` only so
  that it runs on every Keras backend;
* ``sympy``: used for algebra (expansion into terms) and LaTeX.

The protected functions follow gplearn's semantics exactly:

* ``div(a, b)`` is ``a / b``, or ``1`` where ``|b| <= 0.001``;
* ``log(a)`` is ``log|a|``, or ``0`` where ``|a| <= 0.001``;
* ``sqrt(a)`` is ``sqrt|a|``;
* ``inv(a)`` is ``1 / a``, or ``0`` where ``|a| <= 0.001``.

``exp(a)`` is ``exp(min(a, 30))`` so that it never overflows float32, even
when multiplied by another exponential. Integer powers ``a**k`` (``k`` from 2 to
``MAX_EXPONENT``) are computed by repeated multiplication, in numpy and
Keras alike, so both give the same rounding.

The Keras implementations keep gradients finite everywhere (the "double
``where``" idiom: the unsafe branch never sees an unsafe argument), and compare
against the protection threshold in the input's own dtype so that a float32
layer input makes the same protected/unprotected decision as the float64 search.
"""

import dataclasses
import functools
from typing import Callable

import keras
import numpy as np
import sympy
from keras import ops

PROTECTION_THRESHOLD = 0.001
"""``|a| <= PROTECTION_THRESHOLD`` triggers the protected value (gplearn's)."""

EXP_CLIP = 30.0
"""``exp`` clips its argument to at most this value."""

MAX_EXPONENT = 9
"""Largest integer exponent a formula may use (``x**9``)."""


@dataclasses.dataclass(frozen=True)
class Primitive:
    """One allowed function of a formula.

    Attributes:
        name: The name used in formula strings and in gplearn programs.
        arity: Number of arguments.
        numpy: ``numpy`` implementation (float64 arrays in, array out).
        keras: ``keras.ops`` implementation (tensors in, tensor out).
        sympy: Builds the sympy expression from sympy arguments.
        description: One line for documentation.
        complexity: What one call adds to a formula's complexity (see
            ``TRANSCENDENTAL_COMPLEXITY``).
    """

    name: str
    arity: int
    numpy: Callable
    keras: Callable
    sympy: Callable
    description: str
    complexity: int = 1


TRANSCENDENTAL_COMPLEXITY = 2
"""Complexity of one call of a function that is not a polynomial operation.

``+ − ×``, negation and integer powers count 1, like a variable or a
constant; every other primitive (``div``, ``inv``, ``sqrt``, ``log``,
``exp``, ``abs``, ``sin``, ``cos``, ``tanh``) counts 2, as PySR's
``complexity_of_operators`` lets users weigh operators. Between two formulas
of equal size, the one built from polynomial operations is then the simpler:
``x**3 - 0.7*x + 0.05*x**2`` (complexity 11) against the look-alike
``0.29*x**3 + sin(-0.22*x + 0.17)`` (12), which imitates the small ``x**2``
term with the sine's phase.
"""

NESTED_COMPLEXITY = 4
"""Complexity of such a call inside another one (``sin(cos(x))``,
``exp(sin(x))``): a composition of transcendental functions is harder to
read and cite than a product or a sum of them, and a nest of them imitates
simpler forms closely (``cos(cos(x) + 0.23)`` for ``x*sin(x)``), so the front
weighs it as PySR's ``nested_constraints`` discourage it."""


# --- protection thresholds -------------------------------------------------


@functools.lru_cache(maxsize=None)
def _threshold_for(dtype):
    """Smallest value of ``dtype`` strictly above ``PROTECTION_THRESHOLD``.

    ``|a| > 0.001`` (the exact real comparison gplearn makes in float64) is
    equivalent to ``|a| >= t`` for this ``t``; comparing against
    ``dtype(0.001)`` instead would disagree with the search on inputs that
    round to the threshold.
    """
    t = np.asarray(PROTECTION_THRESHOLD, dtype=dtype)
    if float(t) <= PROTECTION_THRESHOLD:
        t = np.nextafter(t, np.asarray(np.inf, dtype=dtype))
    return float(t)


def _unprotected(a):
    """Boolean tensor: where ``|a| > PROTECTION_THRESHOLD`` (exact)."""
    dtype = keras.backend.standardize_dtype(a.dtype)
    return ops.greater_equal(ops.abs(a), _threshold_for(dtype))


# --- numpy implementations (search side) ------------------------------------
# Module-level functions so that fitted gplearn programs pickle.


def numpy_add(a, b):
    return np.add(a, b)


def numpy_sub(a, b):
    return np.subtract(a, b)


def numpy_mul(a, b):
    return np.multiply(a, b)


def numpy_div(a, b):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(np.abs(b) > PROTECTION_THRESHOLD, np.divide(a, b), 1.0)


def numpy_neg(a):
    return np.negative(a)


def numpy_abs(a):
    return np.abs(a)


def numpy_sqrt(a):
    return np.sqrt(np.abs(a))


def numpy_log(a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            np.abs(a) > PROTECTION_THRESHOLD, np.log(np.abs(a)), 0.0
        )


def numpy_inv(a):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(np.abs(a) > PROTECTION_THRESHOLD, 1.0 / a, 0.0)


def numpy_exp(a):
    return np.exp(np.minimum(a, EXP_CLIP))


def numpy_sin(a):
    return np.sin(a)


def numpy_cos(a):
    return np.cos(a)


def numpy_tanh(a):
    return np.tanh(a)


def integer_power(a, k):
    """``a**k`` by repeated multiplication (numpy arrays and Keras tensors).

    The same multiplication order on both sides gives the same rounding.
    """
    result = None
    square = a
    while k:
        if k & 1:
            result = square if result is None else result * square
        k >>= 1
        if k:
            square = square * square
    return result


def _make_numpy_power(k):
    def power(a):
        with np.errstate(over="ignore", invalid="ignore"):
            return integer_power(np.asarray(a), k)

    # A stable module-level name, so that pickle finds the function by name.
    power.__name__ = power.__qualname__ = f"numpy_pow{k}"
    globals()[power.__name__] = power
    return power


# --- keras.ops implementations (layer side) ----------------------------------


def _keras_div(a, b):
    b = ops.convert_to_tensor(b)
    ok = _unprotected(b)
    safe_b = ops.where(ok, b, ops.ones_like(b))
    return ops.where(ok, ops.divide(a, safe_b), 1.0)


def _keras_sqrt(a):
    magnitude = ops.abs(a)
    positive = ops.greater(magnitude, 0.0)
    safe = ops.where(positive, magnitude, ops.ones_like(magnitude))
    return ops.where(positive, ops.sqrt(safe), 0.0)


def _keras_log(a):
    a = ops.convert_to_tensor(a)
    ok = _unprotected(a)
    safe = ops.where(ok, ops.abs(a), ops.ones_like(a))
    return ops.where(ok, ops.log(safe), 0.0)


def _keras_inv(a):
    a = ops.convert_to_tensor(a)
    ok = _unprotected(a)
    safe = ops.where(ok, a, ops.ones_like(a))
    return ops.where(ok, ops.reciprocal(safe), 0.0)


def _keras_exp(a):
    return ops.exp(ops.minimum(a, EXP_CLIP))


# --- sympy counterparts --------------------------------------------------------
# Every function is an opaque sympy function: algebra (expansion into terms)
# only distributes products over sums and collects powers. So it never applies
# an identity that only holds for the unprotected function (for example
# ``div(a + b, c) = div(a, c) + div(b, c)`` fails where ``|c| <= 0.001``), and
# never runs sympy's automatic evaluation and assumption queries on sin, cos,
# tanh or Abs, which can take seconds on nested functions of powers.


def _raised(tex, exp):
    """``tex`` raised to the power ``exp`` (sympy passes ``exp`` when it
    prints a function to a power)."""
    return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


def _opaque_function(name, nargs, latex, doc):
    """A sympy function without evaluation rules, printed as ``latex``."""

    def _latex(self, printer, exp=None):
        return _raised(latex % tuple(printer._print(a) for a in self.args), exp)

    return type(name, (sympy.Function,), {
        "__doc__": doc, "__module__": __name__, "nargs": nargs, "_latex": _latex,
    })


ProtectedDiv = _opaque_function(
    "ProtectedDiv", 2, r"\frac{%s}{%s}", "gplearn's protected division, opaque."
)
ProtectedLog = _opaque_function(
    "ProtectedLog", 1, r"\log\left|%s\right|", "``log|a|`` (0 near zero), opaque."
)
ProtectedSqrt = _opaque_function(
    "ProtectedSqrt", 1, r"\sqrt{\left|%s\right|}", "``sqrt|a|``, opaque."
)
ProtectedInv = _opaque_function(
    "ProtectedInv", 1, r"\frac{1}{%s}", "``1/a`` (0 near zero), opaque."
)
ClippedExp = _opaque_function("ClippedExp", 1, r"e^{%s}", "``exp(min(a, 30))``, opaque.")
OpaqueAbs = _opaque_function("OpaqueAbs", 1, r"\left|%s\right|", "``|a|``, opaque.")
OpaqueSin = _opaque_function("OpaqueSin", 1, r"\sin{\left(%s \right)}", "``sin a``, opaque.")
OpaqueCos = _opaque_function("OpaqueCos", 1, r"\cos{\left(%s \right)}", "``cos a``, opaque.")
OpaqueTanh = _opaque_function(
    "OpaqueTanh", 1, r"\tanh{\left(%s \right)}", "``tanh a``, opaque."
)


def _table():
    entries = [
        Primitive("add", 2, numpy_add, ops.add, lambda a, b: a + b, "a + b"),
        Primitive(
            "sub", 2, numpy_sub, ops.subtract, lambda a, b: a - b, "a - b"
        ),
        Primitive(
            "mul", 2, numpy_mul, ops.multiply, lambda a, b: a * b, "a * b"
        ),
        Primitive(
            "div", 2, numpy_div, _keras_div, ProtectedDiv,
            "a / b, or 1 where |b| <= 0.001",
        ),
        Primitive("neg", 1, numpy_neg, ops.negative, lambda a: -a, "-a"),
        Primitive("abs", 1, numpy_abs, ops.abs, OpaqueAbs, "|a|"),
        Primitive(
            "sqrt", 1, numpy_sqrt, _keras_sqrt, ProtectedSqrt, "sqrt(|a|)"
        ),
        Primitive(
            "log", 1, numpy_log, _keras_log, ProtectedLog,
            "log(|a|), or 0 where |a| <= 0.001",
        ),
        Primitive(
            "inv", 1, numpy_inv, _keras_inv, ProtectedInv,
            "1 / a, or 0 where |a| <= 0.001",
        ),
        Primitive(
            "exp", 1, numpy_exp, _keras_exp, ClippedExp, "exp(min(a, 30))"
        ),
        Primitive("sin", 1, numpy_sin, ops.sin, OpaqueSin, "sin(a)"),
        Primitive("cos", 1, numpy_cos, ops.cos, OpaqueCos, "cos(a)"),
        Primitive("tanh", 1, numpy_tanh, ops.tanh, OpaqueTanh, "tanh(a)"),
    ]
    entries = [
        entry if entry.name in ("add", "sub", "mul", "neg")
        else dataclasses.replace(entry, complexity=TRANSCENDENTAL_COMPLEXITY)
        for entry in entries
    ]
    for k in range(2, MAX_EXPONENT + 1):
        entries.append(
            Primitive(
                f"pow{k}",
                1,
                _make_numpy_power(k),
                functools.partial(integer_power, k=k),
                lambda a, k=k: a**k,
                f"a**{k}",
            )
        )
    return {entry.name: entry for entry in entries}


PRIMITIVES = _table()
"""Every allowed function, by name."""

POWER_PREFIX = "pow"


def power_name(k):
    """Name of the primitive computing ``a**k``."""
    return f"{POWER_PREFIX}{k}"


def power_exponent(name):
    """The exponent of a power primitive's name, or ``None``."""
    if name.startswith(POWER_PREFIX) and name[len(POWER_PREFIX):].isdigit():
        return int(name[len(POWER_PREFIX):])
    return None


def get_primitive(name):
    """Return the primitive called ``name``.

    Raises:
        ValueError: if there is no such primitive; the message lists them.
    """
    try:
        return PRIMITIVES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown primitive function {name!r}. Allowed: "
            f"{', '.join(sorted(PRIMITIVES))}."
        ) from None


_GPLEARN_CACHE = {}


def gplearn_function(name):
    """The primitive ``name`` as a gplearn ``_Function`` (cached)."""
    if name not in _GPLEARN_CACHE:
        from gplearn.functions import make_function

        primitive = get_primitive(name)
        _GPLEARN_CACHE[name] = make_function(
            function=primitive.numpy,
            name=primitive.name,
            arity=primitive.arity,
            wrap=False,
        )
    return _GPLEARN_CACHE[name]
