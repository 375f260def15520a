"""Formula trees: construction, printing, walking, and the one limit check.

Trees are nested tuples:

* ``("x",)``: the variable;
* ``("const", value)``: a finite float;
* ``(name, child, ...)``: a primitive applied to its arguments; integer powers
  are the primitives ``pow2`` ... ``pow9`` (printed ``a**k``).

Construction (``apply_primitive()``) folds constant subtrees and rewrites
``a + (-c)`` as ``a - c`` (both exact), so that equal meanings print alike and
``to_string()`` parses back to an equal tree.

``check()`` is the single gate every formula passes, whether it was parsed
from untrusted text, converted from a gplearn program or rebuilt by algebra:
size, depth, dependence on ``x``, and a bound on what expanding it into terms
can cost, estimated from the tree before any algebra runs.
"""

import math

import numpy as np

from keras_taskneurons import primitives as prim

MAX_LENGTH = 8192
"""Longest formula string accepted (characters)."""

MAX_NODES = 512
"""Largest formula accepted (tree nodes)."""

MAX_DEPTH = 100
"""Deepest nesting accepted."""

MAX_DEGREE = 81
"""Largest total degree accepted, counting ``x`` and every function call as
degree one (``x**9**2`` has degree 81; ``sin(x)**3*x`` has degree 4)."""

MAX_EXPANSION = 256
"""Largest number of terms one node of a formula may expand into, as
estimated before expanding (see ``expansion_cost()``)."""

MAX_EXPANSION_WORK = 1024
"""Largest sum, over all nodes, of the estimated terms of each node's
expansion: a bound on the whole work of ``Formula.terms()``."""

VARIABLE = "x"

X = ("x",)

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
INFIX_NAME = {symbol: name for name, symbol in _INFIX.items()}

# Binding strength for printing: larger binds tighter.
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5


def excerpt(text, limit=60):
    """``repr`` of ``text``, shortened for error messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def is_const(tree):
    return tree[0] == "const"


def is_leaf(tree):
    return tree[0] in ("x", "const")


# --- construction (with exact simplifications) ---------------------------------


def constant(value, source=None):
    """A constant leaf; refuses NaN and infinities with a ``ValueError``."""
    value = float(value)
    if not math.isfinite(value):
        where = f" in {excerpt(source)}" if source else ""
        raise ValueError(f"Invalid formula{where}: the constant {value} is not finite.")
    return ("const", value)


def _fold(name, *arguments):
    values = [np.float64(arg[1]) for arg in arguments]
    with np.errstate(all="ignore"):
        value = float(prim.PRIMITIVES[name].numpy(*values))
    if not math.isfinite(value):
        raise ValueError(
            f"Invalid formula: the constant expression {name}"
            f"({', '.join(to_string(a) for a in arguments)}) is not finite."
        )
    return ("const", value)


def apply_primitive(name, *arguments):
    """Build ``name(*arguments)``, folding constants and normalising forms.

    Every rewrite is exact in IEEE arithmetic, so the tree computes the same
    numbers as the one written: constants are folded, a constant factor goes
    first (``x*(-0.139)`` is ``-0.139*x``), a constant summand last
    (``0.1 + x`` is ``x + 0.1``), ``a*a`` is ``a**2`` (both multiply ``a`` by
    itself once), ``1*a`` is ``a``, ``-1*a`` and ``-(c*a)`` carry the sign on
    the constant or the negation, ``--a`` is ``a``, and ``a + (-c)`` is
    ``a - c``.
    """
    if all(is_const(arg) for arg in arguments):
        return _fold(name, *arguments)
    if name == "div" and is_const(arguments[1]) and (
        abs(arguments[1][1]) <= prim.PROTECTION_THRESHOLD
    ):
        return ("const", 1.0)  # a protected division by a tiny constant
    if name == "mul":
        a, b = arguments
        if is_const(b):
            a, b = b, a
        if a == b:
            return power(a, 2)
        if is_const(a) and a[1] == 1.0:
            return b
        if is_const(a) and a[1] == -1.0:
            return apply_primitive("neg", b)
        return ("mul", a, b)
    if name == "neg":
        (a,) = arguments
        if a[0] == "neg":
            return a[1]
        if a[0] == "mul" and is_const(a[1]):
            return ("mul", ("const", -a[1][1]), a[2])
        return ("neg", a)
    if name == "add" and is_const(arguments[0]):
        arguments = arguments[::-1]
    if name in ("add", "sub") and is_const(arguments[1]):
        a, (_, c) = arguments
        if c == 0.0:
            return a
        if c < 0:  # a + (-c) == a - c exactly in IEEE arithmetic
            return (_flip(name), a, ("const", -c))
    if name in ("add", "sub") and arguments[1][0] == "mul" and (
        is_const(arguments[1][1]) and arguments[1][1][1] < 0
    ):
        # a - (-c)*b == a + c*b exactly: negation is exact.
        a, (_, (_, c), b) = arguments
        return apply_primitive(_flip(name), a, ("mul", ("const", -c), b))
    return (name, *arguments)


def _flip(name):
    return "sub" if name == "add" else "add"


def power(base, k):
    """``base**k`` for an integer ``0 <= k <= MAX_EXPONENT``."""
    if k == 0:
        return ("const", 1.0)
    if k == 1:
        return base
    return apply_primitive(prim.power_name(k), base)


# --- walking ---------------------------------------------------------------------


def walk(tree):
    """Every node, in pre-order; iterative, so any depth is safe to walk."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not is_leaf(node):
            stack.extend(reversed(node[1:]))


def size(tree):
    return sum(1 for _ in walk(tree))


def complexity(tree):
    """Nodes, each call weighted by its primitive's ``complexity``, and a
    non-polynomial call inside another one by ``NESTED_COMPLEXITY``."""
    total, stack = 0, [(tree, False)]
    while stack:
        node, inside = stack.pop()
        if is_leaf(node):
            total += 1
            continue
        weight = prim.PRIMITIVES[node[0]].complexity
        transcendental = weight > 1
        total += prim.NESTED_COMPLEXITY if transcendental and inside else weight
        stack.extend((arg, inside or transcendental) for arg in node[1:])
    return total


def depth(tree):
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if not is_leaf(node):
            stack.extend((arg, level + 1) for arg in node[1:])
    return deepest


def depends_on_x(tree):
    return any(node == X for node in walk(tree))


# --- the cost of expanding ---------------------------------------------------------

_SATURATE = 10**9


def expansion_cost(tree):
    """Estimate what expanding ``tree`` into a sum of terms costs.

    Returns ``(terms, degree, work)``: an upper bound on the number of
    additive terms the largest node expands into (before like terms are
    collected), the largest total degree of any node (``x`` and each
    function call count one, whatever is inside it),
    and the work: the terms that products and powers create, plus one per
    leaf and call, summed over all nodes. The rules: a sum has the terms of
    both sides (it only joins them), a product their product, ``a**k`` of
    ``n`` terms ``C(n + k - 1, k)`` (the monomials of degree ``k`` in ``n``
    symbols); a function call is one term, but its argument is expanded too,
    so that costs work. Computed bottom-up in one pass, never by expanding;
    the caller has checked the depth, so the recursion is bounded.
    """
    largest = highest = work = 0

    def visit(node):
        nonlocal largest, highest, work
        name = node[0]
        if name == "x":
            work += 1
            return 1, 1
        if name == "const":
            work += 1
            return 1, 0
        parts = [visit(arg) for arg in node[1:]]
        k = prim.power_exponent(name)
        created = True
        if name in ("add", "sub"):
            created = False
            terms = parts[0][0] + parts[1][0]
            degree = max(parts[0][1], parts[1][1])
        elif name == "mul":
            terms = parts[0][0] * parts[1][0]
            degree = parts[0][1] + parts[1][1]
        elif name == "neg" or (
            name == "div" and is_const(node[2])
            and abs(node[2][1]) > prim.PROTECTION_THRESHOLD
        ):
            terms, degree = parts[0]  # a constant factor adds no term
            created = False
        elif k is not None:
            n, d = parts[0]
            terms = math.comb(n + k - 1, k) if n < _SATURATE else _SATURATE
            degree = k * d
        else:  # a function call: one opaque term of degree one
            terms, degree = 1, 1
        terms, degree = min(terms, _SATURATE), min(degree, _SATURATE)
        largest = max(largest, terms)
        highest = max(highest, degree)
        if created:
            work = min(work + terms, _SATURATE)
        return terms, degree

    visit(tree)
    return largest, highest, work


# --- the one limit check ---------------------------------------------------------------


def check(tree, source=None):
    """Refuse a tree outside the limits with a ``ValueError`` naming why.

    ``source`` (the formula's text, when there is one) is quoted in the
    message; otherwise the tree is printed. Every formula passes here, so
    everything done with an accepted formula (printing, evaluation,
    expansion, building a layer) has bounded cost.
    """
    count = size(tree)
    if count > MAX_NODES:
        raise ValueError(
            f"Invalid formula {_name(tree, source, printable=False)}: {count} "
            f"nodes, the limit is {MAX_NODES}."
        )
    # Long chains (x + x + ...) nest too: printing and evaluation recurse.
    levels = depth(tree)
    if levels > MAX_DEPTH:
        raise ValueError(
            f"Invalid formula {_name(tree, source, printable=False)}: nested "
            f"deeper than {MAX_DEPTH} levels ({levels})."
        )
    if not depends_on_x(tree):
        raise ValueError(
            f"Invalid formula {_name(tree, source)}: it does not depend on "
            f"{VARIABLE!r} (it is the constant {to_string(tree)})."
        )
    terms, degree, work = expansion_cost(tree)
    if degree > MAX_DEGREE:
        raise ValueError(
            f"Invalid formula {_name(tree, source)}: its degree is {degree}, "
            f"the limit is {MAX_DEGREE}."
        )
    if terms > MAX_EXPANSION or work > MAX_EXPANSION_WORK:
        raise ValueError(
            f"Invalid formula {_name(tree, source)}: expanding it could take "
            f"{terms} terms in one part and {work} in all; the limits are "
            f"{MAX_EXPANSION} and {MAX_EXPANSION_WORK}."
        )


def _name(tree, source, printable=True):
    if source is not None:
        return excerpt(source)
    return excerpt(to_string(tree)) if printable else "(built)"


# --- printing ------------------------------------------------------------------------


def format_number(value):
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _precedence(tree):
    name = tree[0]
    if name == "const":
        return _PRECEDENCE["neg"] if tree[1] < 0 else _ATOM
    if prim.power_exponent(name) is not None:
        return _PRECEDENCE["pow"]
    return _PRECEDENCE.get(name, _ATOM)


def to_string(tree):
    """The canonical text of a tree; it parses back to an equal tree."""
    name = tree[0]
    if name == "x":
        return VARIABLE
    if name == "const":
        return format_number(tree[1])
    k = prim.power_exponent(name)
    if k is not None:
        # "**" binds tighter than unary minus, and is right-associative.
        base = _wrap(tree[1], _precedence(tree[1]) <= _PRECEDENCE["pow"])
        return f"{base}**{k}"
    if name == "neg":
        child = tree[1]
        needs = _precedence(child) < _PRECEDENCE["neg"] or (
            is_const(child) or child[0] == "neg"
        )
        return "-" + _wrap(child, needs)
    if name in _INFIX:
        level = _PRECEDENCE[name]
        left, right = tree[1], tree[2]
        left_text = _wrap(left, _precedence(left) < level)
        # Left-associative: a right operand of equal strength needs brackets.
        # A negative constant only stands unbracketed at the very left.
        right_text = _wrap(
            right,
            _precedence(right) <= level
            or (is_const(right) and right[1] < 0)
            or right[0] == "neg",
        )
        spacing = " " if level == _PRECEDENCE["add"] else ""
        return f"{left_text}{spacing}{_INFIX[name]}{spacing}{right_text}"
    return f"{name}({', '.join(to_string(arg) for arg in tree[1:])})"


def _wrap(tree, needed):
    text = to_string(tree)
    return f"({text})" if needed else text


def round_constants(tree, precision):
    """The tree with every constant rounded to ``precision`` significant digits."""
    if tree[0] == "const":
        return ("const", float(f"{tree[1]:.{precision}g}"))
    if tree[0] == "x":
        return tree
    return (tree[0], *(round_constants(arg, precision) for arg in tree[1:]))


# --- numeric evaluation ------------------------------------------------------------------


def evaluate(tree, x, implementation, constants=None):
    """Evaluate ``tree`` with one side (``"numpy"`` or ``"keras"``) of the
    primitive table.

    ``constants``, when given, is an iterator that supplies a replacement for
    each constant in pre-order (the trainable constants of a layer).
    """
    name = tree[0]
    if name == "x":
        return x
    if name == "const":
        return tree[1] if constants is None else next(constants)
    arguments = [evaluate(arg, x, implementation, constants) for arg in tree[1:]]
    return getattr(prim.PRIMITIVES[name], implementation)(*arguments)
