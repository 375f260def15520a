"""tnlearn's "base"-mode expressions, read into our layers' options.

tnlearn 0.2.0 (the paper's authors' PyTorch library) writes a neuron as a
sum of inner products with trainable weights, ``<w1, x**2> + <w2, x>*<w3,
x> + c``: ``<w, g(x)>`` is ``sum_i w_i g(x_i)`` with its own ``(out, in)``
weight, a product of two inner products is a multiplicative interaction and
a scalar is a trainable constant. [from_tnlearn][keras_taskneurons.from_tnlearn] maps such an
expression to the equivalent options of our layers:

- every ``<w, g(x)>`` (times numbers, which its weight absorbs) is a basis
  ``g`` of the formula (``g`` read by our allow-list formula parser);
- every ``<w, x>*<w', x>`` is one rank of ``interaction_rank`` (our term
  ``(U x + a)(V x + b)`` carries offsets besides: a superset, zero at the
  start);
- scalars are the bias (``use_bias``);
- ``linear_basis`` is whether the expression has ``<w, x>``; without any
  single inner product the formula is ``x`` (a layer needs one basis).

Anything else (a product with a factor other than ``<w, x>``, three
inner products in one product, a division, a nested ``<>``) has no
equivalent and is refused with a ``ValueError`` naming it. The text is
untrusted: it is read by a small tokenizer of its own (never ``eval``,
``exec`` or ``sympify``), bounded in length and in terms.
"""

from keras_taskneurons.formula import Formula

MAX_EXPRESSION_LENGTH = 4000
"""Longest expression read (characters)."""

MAX_EXPRESSION_TERMS = 64
"""Most top-level terms read."""

LINEAR = Formula("x")


def _split_top_level(text, separators):
    """``text`` split at the characters of ``separators`` outside any
    ``<...>`` and parentheses; returns ``[(separator before, piece)]``."""
    pieces, depth, angle, start, before = [], 0, 0, 0, ""
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "<":
            if angle:
                raise ValueError(f"Nested inner products are not tnlearn expressions: {text!r:.200}")
            angle += 1
        elif char == ">":
            angle -= 1
        if depth < 0 or angle < 0:
            raise ValueError(f"Unbalanced brackets in the tnlearn expression {text!r:.200}")
        if char in separators and depth == 0 and angle == 0:
            # a sign right after an operator or at the start is unary
            if char in "+-" and not text[start:index].strip():
                continue
            if char in "+-" and index > 1 and text[index - 1] in "eE" and text[index - 2].isdigit():
                continue  # an exponent: 1e-3
            pieces.append((before, text[start:index]))
            before, start = char, index + 1
    if depth or angle:
        raise ValueError(f"Unbalanced brackets in the tnlearn expression {text!r:.200}")
    pieces.append((before, text[start:]))
    return pieces


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _factor(text, expression):
    """``("inner", Formula)`` for ``<w, g(x)>``, ``("scalar", None)`` for a
    number or a constant's name."""
    text = text.strip()
    while text.startswith(("+", "-")):
        text = text[1:].strip()
    if text.startswith("<") and text.endswith(">"):
        inside = text[1:-1]
        name, comma, inner = inside.partition(",")
        if not comma or not name.strip().isidentifier():
            raise ValueError(
                f"An inner product of a tnlearn expression is '<weight, g(x)>'. Received: "
                f"{text!r:.200} in {expression!r:.200}")
        return "inner", Formula(inner.strip())
    if _number(text) is not None or text.isidentifier() and text != "x":
        return "scalar", None
    raise ValueError(
        f"The tnlearn expression {expression!r:.200} has the factor {text!r:.100}, which is "
        "neither an inner product '<w, g(x)>' nor a constant: it has no equivalent layer.")


def from_tnlearn(expression):
    """The options of our layers equivalent to a tnlearn base-mode expression.

    Args:
        expression: A tnlearn "base"-mode string such as
            ``"<w1, x**2> + <w2, x>*<w3, x> + c"``.

    Returns:
        A dict with ``formula``, ``linear_basis``, ``interaction_rank`` and
        ``use_bias``, to pass to any task-neuron layer or to
        [layer_factory][keras_taskneurons.layer_factory].

    Raises:
        ValueError: The expression is malformed or has no equivalent.
        TypeError: ``expression`` is not a string.

    >>> from keras_taskneurons.layers.tnlearn import from_tnlearn
    >>> from_tnlearn("<w1, x**2> + <w2, x>*<w3, x> + b")
    {'formula': 'x**2', 'linear_basis': False, 'interaction_rank': 1, 'use_bias': True}
    """
    if not isinstance(expression, str):
        raise TypeError(
            f"A tnlearn expression is a string. Received: {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"The tnlearn expression has {len(expression)} characters: the limit is "
            f"{MAX_EXPRESSION_LENGTH}.")
    if not expression.strip():
        raise ValueError("The tnlearn expression is empty.")
    terms = _split_top_level(expression, "+-")
    if len(terms) > MAX_EXPRESSION_TERMS:
        raise ValueError(
            f"The tnlearn expression has {len(terms)} terms: the limit is "
            f"{MAX_EXPRESSION_TERMS}.")
    bases, rank, bias = [], 0, False
    for _, term in terms:
        if not term.strip():
            raise ValueError(f"The tnlearn expression {expression!r:.200} has an empty term.")
        parts = _split_top_level(term, "*/")
        if any(before == "/" for before, _ in parts):
            raise ValueError(
                f"The term {term.strip()!r:.100} of {expression!r:.200} divides: a quotient "
                "of inner products has no equivalent layer.")
        inner = [g for kind, g in (_factor(p, expression) for _, p in parts) if kind == "inner"]
        if not inner:
            bias = True
        elif len(inner) == 1:
            if inner[0] not in bases:
                bases.append(inner[0])
        elif len(inner) == 2 and inner[0] == LINEAR and inner[1] == LINEAR:
            rank += 1
        else:
            raise ValueError(
                f"The term {term.strip()!r:.100} of {expression!r:.200} multiplies "
                f"{len(inner)} inner products of {[str(g) for g in inner]}: only products "
                "of two linear ones, '<w, x>*<v, x>', have an equivalent (interaction_rank).")
    linear = LINEAR in bases
    others = [g for g in bases if g != LINEAR]
    formula = " + ".join(f"({g})" if len(others) > 1 else str(g) for g in others) or "x"
    formula = str(Formula(formula))
    return {"formula": formula, "linear_basis": linear or not others,
            "interaction_rank": rank, "use_bias": bias}
