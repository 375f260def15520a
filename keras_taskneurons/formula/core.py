"""The public [Formula][keras_taskneurons.Formula]: an immutable, checked formula in ``x``."""

import math

import numpy as np

from keras_taskneurons.formula import algebra, parser
from keras_taskneurons.formula import tree as trees

_FAILURES = (RecursionError, OverflowError, MemoryError)
"""Errors that must never escape from formula work: they become ValueError."""


def _guarded(what, formula, work):
    """Run ``work()``; a ValueError or a runaway becomes one ValueError
    naming the formula and ``what`` was being done."""
    try:
        return work()
    except ValueError as error:
        raise ValueError(
            f"Formula {trees.excerpt(str(formula))} cannot be {what}: {error}."
        ) from None
    except _FAILURES as error:
        raise ValueError(
            f"Formula {trees.excerpt(str(formula))} cannot be {what}: "
            f"{type(error).__name__}."
        ) from None


class Formula:
    """An immutable formula ``f(x)`` in one variable, built from primitives.

    Create one with ``Formula.parse()`` (or ``Formula("...")``). Two formulas
    are equal when their trees are equal; ``str(f)`` is the canonical form and
    parses back to an equal formula.

    Every formula passes one limit check (``check()``): at most
    ``MAX_NODES`` nodes, nesting depth ``MAX_DEPTH``,
    total degree ``MAX_DEGREE``, and an expansion estimated (from
    the tree, before any algebra) to stay within
    ``MAX_EXPANSION`` terms per node and
    ``MAX_EXPANSION_WORK`` in all. So every accepted formula
    prints, evaluates, expands and builds a layer in bounded time; constants
    are always finite.

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
            tree = parser.parse(text)
            trees.check(tree, text)
        else:
            raise TypeError(
                "A formula must be a string such as '0.3*x**2 + x', got "
                f"{type(text).__name__}: {text!r:.80}."
            )
        self._set_tree(tree)

    def _set_tree(self, tree):
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "_string", trees.to_string(tree))
        object.__setattr__(self, "_terms", None)

    @classmethod
    def parse(cls, text):
        """Parse ``text`` with the allow-list parser (same as ``Formula(text)``)."""
        return cls(text)

    @classmethod
    def _from_tree(cls, tree):
        """Wrap a tree built by this package, through the same limit check."""
        trees.check(tree)
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
        """The expression tree (nested tuples, see ``tree``)."""
        return self._tree

    @property
    def size(self):
        """Number of nodes."""
        return trees.size(self._tree)

    @property
    def complexity(self):
        """Nodes, a call of a non-polynomial function counting
        ``TRANSCENDENTAL_COMPLEXITY`` (2), inside another such call
        ``NESTED_COMPLEXITY`` (4): what the search's Pareto front
        (``equations_``) ranks by."""
        return trees.complexity(self._tree)

    @property
    def constants(self):
        """The numeric constants, in pre-order (their trainable order)."""
        return tuple(
            node[1] for node in trees.walk(self._tree) if trees.is_const(node)
        )

    @property
    def functions(self):
        """The set of primitive names the formula uses."""
        return frozenset(
            node[0] for node in trees.walk(self._tree) if not trees.is_leaf(node)
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
            value = trees.evaluate(self._tree, x, "numpy")
        return np.array(np.broadcast_to(value, x.shape), dtype=np.float64)

    def evaluate_keras(self, x, constants=None):
        """Evaluate element-wise on a tensor with the ``keras.ops`` primitives.

        Args:
            x: A tensor.
            constants: Optional sequence of tensors replacing the formula's
                constants (in the order of ``constants``); they must
                broadcast against ``x``.

        Returns:
            A tensor broadcast from ``x`` (and the constants).
        """
        if constants is not None:
            constants = list(constants)
            self._check_constant_count(constants)
            constants = iter(constants)
        return trees.evaluate(self._tree, x, "keras", constants)

    def _check_constant_count(self, values):
        if len(values) != len(self.constants):
            raise ValueError(
                f"{self} has {len(self.constants)} constants, got "
                f"{len(values)} values."
            )

    def with_constants(self, values):
        """A formula of the same shape with its constants replaced.

        Args:
            values: One finite float per constant, in the order of
                ``constants``.

        Raises:
            ValueError: on a wrong count, a NaN or an infinity.
        """
        values = [float(v) for v in values]
        self._check_constant_count(values)
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise ValueError(
                f"Constants for {self} must be finite, got {bad[0]!r}."
            )
        supply = iter(values)

        def rebuild(tree):
            if trees.is_const(tree):
                return ("const", next(supply))
            if tree[0] == "x":
                return tree
            return trees.apply_primitive(tree[0], *(rebuild(a) for a in tree[1:]))

        return Formula._from_tree(rebuild(self._tree))

    def evaluate_with_constants(self, x, values):
        """``evaluate()`` with the constants replaced by ``values``
        (scalars or arrays broadcasting against ``x``), in numpy."""
        x = np.asarray(x, dtype=np.float64)
        values = list(values)
        self._check_constant_count(values)
        with np.errstate(all="ignore"):
            return trees.evaluate(self._tree, x, "numpy", iter(values)) + 0 * x

    # -- algebra
    def to_sympy(self):
        """The sympy expression, with protected functions as opaque functions.

        ``div``, ``log``, ``sqrt``, ``inv`` and ``exp`` become
        ``ProtectedDiv`` etc., so that
        sympy's algebra keeps gplearn's semantics.
        """
        return _guarded(
            "converted to sympy", self, lambda: algebra.to_sympy(self._tree)
        )

    def to_latex(self):
        """LaTeX for the formula (protected functions in ordinary notation)."""
        return _guarded("written in LaTeX", self, lambda: algebra.latex(self._tree))

    def terms(self):
        """Expand into ``c_0 + sum_k c_k * g_k(x)`` with distinct basis ``g_k``.

        Multiplication is distributed over addition outside protected
        functions; each basis function ``g_k`` carries coefficient 1.

        Returns:
            ``(c_0, ((c_1, g_1), (c_2, g_2), ...))``: the constant term as a
            float and the basis terms (coefficient, [Formula][keras_taskneurons.Formula]) in a
            canonical order (simplest first).

        Raises:
            ValueError: if the expansion has no term in ``x``, more than
                ``MAX_TERMS`` terms, or a coefficient that is
                not finite.

        >>> from keras_taskneurons import Formula
        >>> Formula("(x + 1)*sin(x)").terms()
        (0.0, ((1.0, Formula('sin(x)')), (1.0, Formula('x*sin(x)'))))
        """
        if self._terms is None:
            object.__setattr__(
                self, "_terms", _guarded("expanded into terms", self, self._expand)
            )
        return self._terms

    def _expand(self):
        constant, terms = algebra.expand(self._tree)
        return constant, tuple((c, Formula._from_tree(b)) for c, b in terms)

    def format(self, precision=4):
        """A short string with constants rounded to ``precision`` significant
        digits (for display; use ``str()`` for the exact formula)."""
        return trees.to_string(trees.round_constants(self._tree, precision))


def as_formula(value):
    """Return ``value`` as a [Formula][keras_taskneurons.Formula] (parsing strings)."""
    return value if isinstance(value, Formula) else Formula(value)
