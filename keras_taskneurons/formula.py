"""Formulas in one variable ``x``: parsing, printing, evaluation, algebra.

A :class:`Formula` is an immutable expression tree built only from the
primitive table (:mod:`keras_taskneurons.primitives`), numeric constants and
the variable ``x``. Formula strings are untrusted (they travel inside saved
models), so they are read by the small allow-list parser in this module: a
tokenizer and a recursive-descent grammar that know numbers, ``x``,
``+ - * / **``, unary minus, parentheses and calls to primitives, and nothing
else. Nothing is ever handed to ``eval``, ``exec``, ``ast`` or ``sympify``.

Trees are nested tuples:

* ``("x",)``: the variable;
* ``("const", value)``: a finite float;
* ``(name, child, ...)``: a primitive applied to its arguments; integer powers
  are the primitives ``pow2`` ... ``pow9`` (printed ``a**k``).

Construction folds constant subtrees and rewrites ``a + (-c)`` as ``a - c``
(both exact), so that equal meanings print alike and ``str()`` parses back to
an equal formula.
"""

import keyword
import math
import re

import numpy as np
import sympy

from keras_taskneurons import primitives as prim

MAX_LENGTH = 8192
"""Longest formula string accepted (characters)."""

MAX_NODES = 512
"""Largest formula accepted (tree nodes)."""

MAX_DEPTH = 100
"""Deepest nesting accepted."""

MAX_TERMS = 64
"""Largest number of distinct basis terms :meth:`Formula.terms` returns."""

VARIABLE = "x"

_X = ("x",)

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_INFIX_NAME = {symbol: name for name, symbol in _INFIX.items()}

# Binding strength for printing: larger binds tighter.
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5


# --- tokenizer ----------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/(),])
    """,
    re.VERBOSE,
)

_FORBIDDEN_CHARACTERS = {
    ".": "attribute access ('.') is not allowed",
    "[": "subscripts ('[') are not allowed",
    "]": "subscripts (']') are not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "=": "keyword arguments and assignments ('=') are not allowed",
    ":": "lambdas, slices and annotations (':') are not allowed",
    "^": "use '**' for powers, not '^'",
}


def _tokenize(text):
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            reason = _FORBIDDEN_CHARACTERS.get(
                char, f"unexpected character {char!r}"
            )
            raise ValueError(
                f"Invalid formula {_excerpt(text)}: {reason} "
                f"(at position {position})."
            )
        kind = match.lastgroup
        if kind != "space":
            tokens.append((kind, match.group(), position))
        position = match.end()
    tokens.append(("end", "", position))
    return tokens


def _excerpt(text, limit=60):
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- parser ---------------------------------------------------------------------


class _Parser:
    """Recursive descent over the grammar

    expr  := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := ("-" | "+") unary | power
    power := atom ("**" unary)?
    atom  := NUMBER | "x" | NAME "(" expr ("," expr)* ")" | "(" expr ")"
    """

    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def error(self, message, token=None):
        token = token or self.tokens[self.index]
        return ValueError(
            f"Invalid formula {_excerpt(self.text)}: {message} "
            f"(at position {token[2]})."
        )

    def peek(self):
        return self.tokens[self.index]

    def take(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, value):
        token = self.take()
        if token[1] != value:
            found = repr(token[1]) if token[0] != "end" else "the end"
            raise self.error(f"expected {value!r}, found {found}", token)

    def enter(self):
        # Counts brackets, calls, unary signs and exponents: what nests.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels")

    def parse(self):
        tree = self.expr()
        token = self.peek()
        if token[0] != "end":
            raise self.error(f"unexpected {token[1]!r}")
        return tree

    def expr(self):
        tree = self.term()
        while self.peek()[1] in ("+", "-"):
            name = _INFIX_NAME[self.take()[1]]
            tree = apply_primitive(name, tree, self.term())
        return tree

    def term(self):
        tree = self.unary()
        while self.peek()[1] in ("*", "/"):
            name = _INFIX_NAME[self.take()[1]]
            tree = apply_primitive(name, tree, self.unary())
        return tree

    def unary(self):
        self.enter()
        if self.peek()[1] == "-":
            self.take()
            tree = apply_primitive("neg", self.unary())
        elif self.peek()[1] == "+":
            self.take()
            tree = self.unary()
        else:
            tree = self.power()
        self.depth -= 1
        return tree

    def power(self):
        tree = self.atom()
        if self.peek()[1] == "**":
            token = self.take()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            tree = _power(tree, _exponent_value(exponent, self, token))
        return tree

    def atom(self):
        self.enter()
        kind, value, _ = token = self.take()
        if kind == "number":
            number = float(value)
            if not math.isfinite(number):
                raise self.error(f"constant {value} is not finite", token)
            tree = ("const", number)
        elif kind == "name":
            tree = self.name(token)
        elif value == "(":
            tree = self.expr()
            self.expect(")")
        else:
            found = repr(value) if kind != "end" else "the end"
            raise self.error(f"expected a number, 'x' or '(', found {found}",
                             token)
        self.depth -= 1
        return tree

    def name(self, token):
        value = token[1]
        is_call = self.peek()[1] == "("
        if keyword.iskeyword(value):
            raise self.error(f"Python keyword {value!r} is not allowed", token)
        if not is_call:
            if value == VARIABLE:
                return _X
            raise self.error(
                f"unknown name {value!r}: a formula has exactly one "
                f"variable, {VARIABLE!r}",
                token,
            )
        if value not in prim.PRIMITIVES:
            raise self.error(
                f"unknown function {value!r}; allowed functions: "
                f"{', '.join(sorted(prim.PRIMITIVES))}",
                token,
            )
        self.take()  # "("
        arguments = [self.expr()]
        while self.peek()[1] == ",":
            self.take()
            arguments.append(self.expr())
        self.expect(")")
        arity = prim.PRIMITIVES[value].arity
        if len(arguments) != arity:
            raise self.error(
                f"{value}() takes {arity} argument(s), got {len(arguments)}",
                token,
            )
        return apply_primitive(value, *arguments)


def _exponent_value(tree, parser, token):
    if tree[0] == "const" and float(tree[1]).is_integer():
        k = int(tree[1])
        if 0 <= k <= prim.MAX_EXPONENT:
            return k
    shown = _to_string(tree)
    raise parser.error(
        f"exponent {shown} is not an integer constant between 0 and "
        f"{prim.MAX_EXPONENT}",
        token,
    )


# --- tree construction (with exact simplifications) ------------------------------


def _is_const(tree):
    return tree[0] == "const"


def _fold(name, *arguments):
    values = [np.float64(arg[1]) for arg in arguments]
    with np.errstate(all="ignore"):
        value = float(prim.PRIMITIVES[name].numpy(*values))
    if not math.isfinite(value):
        raise ValueError(
            f"Invalid formula: the constant expression {name}"
            f"({', '.join(_to_string(a) for a in arguments)}) is not finite."
        )
    return ("const", value)


def apply_primitive(name, *arguments):
    """Build ``name(*arguments)``, folding constants and normalising signs."""
    if all(_is_const(arg) for arg in arguments):
        return _fold(name, *arguments)
    if name == "div" and _is_const(arguments[1]) and (
        abs(arguments[1][1]) <= prim.PROTECTION_THRESHOLD
    ):
        return ("const", 1.0)  # a protected division by a tiny constant
    if name in ("add", "sub") and _is_const(arguments[1]):
        a, (_, c) = arguments
        if c < 0:  # a + (-c) == a - c exactly in IEEE arithmetic
            return (_flip(name), a, ("const", -c))
    if name in ("add", "sub") and arguments[1][0] == "mul" and (
        _is_const(arguments[1][1]) and arguments[1][1][1] < 0
    ):
        # a - (-c)*b == a + c*b exactly: negation is exact.
        a, (_, (_, c), b) = arguments
        return (_flip(name), a, ("mul", ("const", -c), b))
    return (name, *arguments)


def _flip(name):
    return "sub" if name == "add" else "add"


def _power(base, k):
    if k == 0:
        return ("const", 1.0)
    if k == 1:
        return base
    return apply_primitive(prim.power_name(k), base)


# --- printing ----------------------------------------------------------------------


def _format_number(value):
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


def _to_string(tree):
    name = tree[0]
    if name == "x":
        return VARIABLE
    if name == "const":
        return _format_number(tree[1])
    k = prim.power_exponent(name)
    if k is not None:
        # "**" binds tighter than unary minus, and is right-associative.
        base = _wrap(tree[1], _precedence(tree[1]) <= _PRECEDENCE["pow"])
        return f"{base}**{k}"
    if name == "neg":
        child = tree[1]
        needs = _precedence(child) < _PRECEDENCE["neg"] or (
            _is_const(child) or child[0] == "neg"
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
            or (_is_const(right) and right[1] < 0)
            or right[0] == "neg",
        )
        spacing = " " if level == _PRECEDENCE["add"] else ""
        return f"{left_text}{spacing}{_INFIX[name]}{spacing}{right_text}"
    return f"{name}({', '.join(_to_string(arg) for arg in tree[1:])})"


def _wrap(tree, needed):
    text = _to_string(tree)
    return f"({text})" if needed else text


# --- numeric evaluation ---------------------------------------------------------------


def _evaluate(tree, x, implementation, constants):
    """Evaluate ``tree`` with one side of the primitive table.

    ``constants``, when given, is an iterator that supplies a replacement for
    each constant in pre-order (the trainable constants of a layer).
    """
    name = tree[0]
    if name == "x":
        return x
    if name == "const":
        return tree[1] if constants is None else next(constants)
    arguments = [
        _evaluate(arg, x, implementation, constants) for arg in tree[1:]
    ]
    return getattr(prim.PRIMITIVES[name], implementation)(*arguments)


def _walk(tree):
    """Every node, in pre-order; iterative, so any depth is safe to walk."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if node[0] not in ("x", "const"):
            stack.extend(reversed(node[1:]))


def _size(tree):
    return sum(1 for _ in _walk(tree))


def _depth(tree):
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if node[0] not in ("x", "const"):
            stack.extend((arg, depth + 1) for arg in node[1:])
    return deepest


# --- sympy bridge ------------------------------------------------------------------

_SYMBOL = sympy.Symbol(VARIABLE, real=True)

_FROM_SYMPY_FUNCTION = {
    prim.ProtectedDiv: "div",
    prim.ProtectedLog: "log",
    prim.ProtectedSqrt: "sqrt",
    prim.ProtectedInv: "inv",
    prim.ClippedExp: "exp",
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tanh: "tanh",
    sympy.Abs: "abs",
}


def _to_sympy(tree, digits):
    """sympy expression of ``tree``; floats carry ``digits`` significant digits
    (17 keeps every bit of a float64, 15 prints the shortest decimals)."""
    name = tree[0]
    if name == "x":
        return _SYMBOL
    if name == "const":
        value = tree[1]
        return sympy.Integer(int(value)) if value.is_integer() else (
            sympy.Float(value, digits)
        )
    arguments = [_to_sympy(arg, digits) for arg in tree[1:]]
    if name == "div" and _is_const(tree[2]) and (
        abs(tree[2][1]) > prim.PROTECTION_THRESHOLD
    ):
        # A constant denominator outside the protected band: plain division,
        # so that algebra can fold it into the coefficient.
        return arguments[0] / arguments[1]
    return prim.PRIMITIVES[name].sympy(*arguments)


def _from_sympy(expr):
    """Convert a sympy expression (made by :func:`_to_sympy`) back to a tree."""
    if expr == _SYMBOL:
        return _X
    if expr.is_Number:
        value = float(expr)
        if not math.isfinite(value):
            raise ValueError(f"Formula algebra produced a non-finite {expr}.")
        return ("const", value)
    if expr.is_Add:
        # Constants last, as people write them: "1.3*x + 0.2".
        parts = sorted(
            expr.args, key=lambda e: (e.is_Number, sympy.default_sort_key(e))
        )
        tree = _from_sympy(parts[0])
        for part in parts[1:]:
            coefficient, rest = part.as_coeff_Mul()
            if coefficient < 0:
                tree = apply_primitive("sub", tree, _from_sympy(-part))
            else:
                tree = apply_primitive("add", tree, _from_sympy(part))
        return tree
    if expr.is_Mul:
        coefficient, rest = expr.as_coeff_Mul()
        factors = [f for f in sympy.Mul.make_args(rest)]
        factors.sort(key=sympy.default_sort_key)
        tree = _from_sympy(factors[0])
        for factor in factors[1:]:
            tree = apply_primitive("mul", tree, _from_sympy(factor))
        if coefficient == -1:
            return apply_primitive("neg", tree)
        if coefficient != 1:
            tree = apply_primitive("mul", _from_sympy(coefficient), tree)
        return tree
    if expr.is_Pow:
        base, exponent = expr.args
        if not (exponent.is_Integer and int(exponent) >= 1):
            raise ValueError(
                f"Formula algebra produced an unsupported power {expr}."
            )
        k = int(exponent)
        tree = _from_sympy(base)
        result = None
        while k:  # split exponents above MAX_EXPONENT into products
            step = min(k, prim.MAX_EXPONENT)
            piece = _power(tree, step)
            result = piece if result is None else apply_primitive("mul", result, piece)
            k -= step
        return result
    for function, name in _FROM_SYMPY_FUNCTION.items():
        if expr.func == function:
            return apply_primitive(name, *(_from_sympy(arg) for arg in expr.args))
    raise ValueError(f"Formula algebra produced an unsupported {expr}.")


# --- the public class ------------------------------------------------------------------


class Formula:
    """An immutable formula ``f(x)`` in one variable, built from primitives.

    Create one with :meth:`Formula.parse` (or ``Formula("...")``). Two formulas
    are equal when their trees are equal; ``str(f)`` is the canonical form and
    parses back to an equal formula.

    Args:
        text: The formula, e.g. ``"0.3*x**2 - 0.7*x + 0.1"`` or
            ``"add(mul(x, x), sin(x))"``.

    Raises:
        TypeError: if ``text`` is not a string.
        ValueError: if ``text`` is not a valid formula; the message says why.

    >>> from keras_taskneurons import Formula
    >>> f = Formula("0.3*x**2 - 0.7*x + 0.1")
    >>> str(f)
    '0.3*x**2 - 0.7*x + 0.1'
    >>> f.terms()
    (0.1, ((-0.7, Formula('x')), (0.3, Formula('x**2'))))
    >>> round(float(f.evaluate(2.0)), 12)
    -0.1
    """

    __slots__ = ("_tree", "_string", "_terms")

    def __init__(self, text):
        if isinstance(text, Formula):
            tree = text._tree
        elif isinstance(text, str):
            tree = self._parse_tree(text)
        else:
            raise TypeError(
                "A formula must be a string such as '0.3*x**2 + x', got "
                f"{type(text).__name__}: {text!r:.80}."
            )
        self._set_tree(tree)

    @staticmethod
    def _parse_tree(text):
        if len(text) > MAX_LENGTH:
            raise ValueError(
                f"Invalid formula of {len(text)} characters: the limit is "
                f"{MAX_LENGTH}."
            )
        if not text.strip():
            raise ValueError("Invalid formula '': it is empty.")
        tree = _Parser(text).parse()
        size = _size(tree)
        if size > MAX_NODES:
            raise ValueError(
                f"Invalid formula {_excerpt(text)}: {size} nodes, the limit "
                f"is {MAX_NODES}."
            )
        # Long chains (x + x + ...) nest too: printing and evaluation recurse.
        if _depth(tree) > MAX_DEPTH:
            raise ValueError(
                f"Invalid formula {_excerpt(text)}: nested deeper than "
                f"{MAX_DEPTH} levels."
            )
        if not any(node == _X for node in _walk(tree)):
            raise ValueError(
                f"Invalid formula {_excerpt(text)}: it does not depend on "
                f"{VARIABLE!r} (it is the constant {_to_string(tree)})."
            )
        return tree

    def _set_tree(self, tree):
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_string", _to_string(tree))
        object.__setattr__(self, "_terms", None)

    @classmethod
    def parse(cls, text):
        """Parse ``text`` with the allow-list parser (same as ``Formula(text)``)."""
        return cls(text)

    @classmethod
    def _from_tree(cls, tree):
        """Wrap a tree built by this package (checked against the limits)."""
        size = _size(tree)
        if size > MAX_NODES or _depth(tree) > MAX_DEPTH:
            raise ValueError(
                f"Formula of {size} nodes and depth {_depth(tree)} exceeds "
                f"the limits ({MAX_NODES} nodes, depth {MAX_DEPTH})."
            )
        if not any(node == _X for node in _walk(tree)):
            raise ValueError(
                f"Formula {_to_string(tree)} does not depend on {VARIABLE!r}."
            )
        formula = cls.__new__(cls)
        formula._set_tree(tree)
        return formula

    def __setattr__(self, name, value):
        raise AttributeError("Formula is immutable.")

    # -- identity
    def __str__(self):
        return self._string

    def __repr__(self):
        return f"Formula({self._string!r})"

    def __eq__(self, other):
        return isinstance(other, Formula) and self._tree == other._tree

    def __hash__(self):
        return hash(self._tree)

    def __reduce__(self):
        # Pickles as its canonical string, re-read by the allow-list parser.
        return (Formula, (self._string,))

    # -- structure
    @property
    def tree(self):
        """The expression tree (nested tuples, see the module docstring)."""
        return self._tree

    @property
    def size(self):
        """Number of nodes."""
        return _size(self._tree)

    @property
    def constants(self):
        """The numeric constants, in pre-order (their trainable order)."""
        return tuple(node[1] for node in _walk(self._tree) if node[0] == "const")

    @property
    def functions(self):
        """The set of primitive names the formula uses."""
        return frozenset(
            node[0] for node in _walk(self._tree)
            if node[0] not in ("x", "const")
        )

    # -- numbers
    def evaluate(self, x):
        """Evaluate element-wise on ``x`` with the numpy primitives (float64).

        Args:
            x: A number or array of any shape.

        Returns:
            A float64 array of the shape of ``x``.
        """
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            value = _evaluate(self._tree, x, "numpy", None)
        return np.array(np.broadcast_to(value, x.shape), dtype=np.float64)

    def evaluate_keras(self, x, constants=None):
        """Evaluate element-wise on a tensor with the ``keras.ops`` primitives.

        Args:
            x: A tensor.
            constants: Optional sequence of tensors replacing the formula's
                constants (in the order of :attr:`constants`); they must
                broadcast against ``x``.

        Returns:
            A tensor broadcast from ``x`` (and the constants).
        """
        if constants is not None:
            constants = list(constants)
            self._check_constant_count(constants)
            constants = iter(constants)
        return _evaluate(self._tree, x, "keras", constants)

    def _check_constant_count(self, values):
        if len(values) != len(self.constants):
            raise ValueError(
                f"{self} has {len(self.constants)} constants, got "
                f"{len(values)} values."
            )

    def with_constants(self, values):
        """A formula of the same shape with its constants replaced.

        Args:
            values: One float per constant, in the order of :attr:`constants`.
        """
        values = [float(v) for v in values]
        self._check_constant_count(values)
        supply = iter(values)

        def rebuild(tree):
            if tree[0] == "const":
                return ("const", next(supply))
            if tree[0] == "x":
                return tree
            return apply_primitive(tree[0], *(rebuild(a) for a in tree[1:]))

        return Formula._from_tree(rebuild(self._tree))

    def evaluate_with_constants(self, x, values):
        """:meth:`evaluate` with the constants replaced by ``values``
        (scalars or arrays broadcasting against ``x``), in numpy."""
        x = np.asarray(x, dtype=np.float64)
        values = list(values)
        self._check_constant_count(values)
        with np.errstate(all="ignore"):
            return _evaluate(self._tree, x, "numpy", iter(values)) + 0 * x

    # -- algebra
    def to_sympy(self):
        """The sympy expression, with protected functions as opaque functions.

        ``div``, ``log``, ``sqrt``, ``inv`` and ``exp`` become
        :class:`~keras_taskneurons.primitives.ProtectedDiv` etc., so that
        sympy's algebra keeps gplearn's semantics.
        """
        return _to_sympy(self._tree, 17)

    def to_latex(self):
        """LaTeX for the formula (protected functions in ordinary notation)."""
        return sympy.latex(_to_sympy(self._tree, 15))

    def terms(self):
        """Expand into ``c_0 + sum_k c_k * g_k(x)`` with distinct basis ``g_k``.

        Multiplication is distributed over addition outside protected
        functions; each basis function ``g_k`` carries coefficient 1.

        Returns:
            ``(c_0, ((c_1, g_1), (c_2, g_2), ...))``: the constant term as a
            float and the basis terms (coefficient, :class:`Formula`) in a
            canonical order.

        Raises:
            ValueError: if the expansion has no term in ``x`` or more than
                :data:`MAX_TERMS` terms.

        >>> from keras_taskneurons import Formula
        >>> Formula("(x + 1)*sin(x)").terms()
        (0.0, ((1.0, Formula('sin(x)')), (1.0, Formula('x*sin(x)'))))
        """
        if self._terms is None:
            object.__setattr__(self, "_terms", self._expand())
        return self._terms

    def _expand(self):
        expanded = sympy.expand(self.to_sympy())
        constant = 0.0
        terms = []
        for basis, coefficient in expanded.as_coefficients_dict().items():
            if not basis.free_symbols:
                # A number, or a function of numbers left unevaluated.
                constant += _from_sympy(basis)[1] * float(coefficient)
                continue
            if float(coefficient) != 0.0:
                terms.append((float(coefficient), _from_sympy(basis)))
        # Simplest basis first, then by canonical string.
        terms.sort(key=lambda term: (_size(term[1]), _to_string(term[1])))
        if not terms:
            raise ValueError(
                f"Formula {self} is constant after expansion ({constant!r}); "
                "it has no term in x."
            )
        if len(terms) > MAX_TERMS:
            raise ValueError(
                f"Formula {self} expands into {len(terms)} terms; the limit "
                f"is {MAX_TERMS}."
            )
        return constant, tuple(
            (c, Formula._from_tree(b)) for c, b in terms
        )

    def format(self, precision=4):
        """A short string with constants rounded to ``precision`` significant
        digits (for display; use ``str()`` for the exact formula)."""
        return _to_string(_round_tree(self._tree, precision))


def _round_tree(tree, precision):
    if tree[0] == "const":
        return ("const", float(f"{tree[1]:.{precision}g}"))
    if tree[0] == "x":
        return tree
    return (tree[0], *(_round_tree(arg, precision) for arg in tree[1:]))


def as_formula(value):
    """Return ``value`` as a :class:`Formula` (parsing strings)."""
    return value if isinstance(value, Formula) else Formula(value)
