"""The allow-list parser: formula text to a tree, and nothing else.

Formula strings are untrusted (they travel inside saved models), so they are
read by a small tokenizer and a recursive-descent grammar that know numbers,
``x``, ``+ - * / **``, unary minus, parentheses and calls to primitives, and
nothing else. Nothing is ever handed to ``eval``, ``exec``, ``ast`` or
``sympify``. The parser bounds the text's length and its nesting while it
reads (so it never recurses deeply); every other limit is the tree's
(``keras_taskneurons.formula.tree.check()``).
"""

import keyword
import re

from keras_taskneurons import primitives as prim
from keras_taskneurons.formula import tree as trees

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


def parse(text):
    """The tree of ``text``; ``ValueError`` naming the problem otherwise.

    Only the syntax and the length and nesting of the text are checked here;
    the caller passes the tree through ``check()``.
    """
    if len(text) > trees.MAX_LENGTH:
        raise ValueError(
            f"Invalid formula of {len(text)} characters: the limit is "
            f"{trees.MAX_LENGTH}."
        )
    if not text.strip():
        raise ValueError("Invalid formula '': it is empty.")
    return _Parser(text).parse()


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
                f"Invalid formula {trees.excerpt(text)}: {reason} "
                f"(at position {position})."
            )
        kind = match.lastgroup
        if kind != "space":
            tokens.append((kind, match.group(), position))
        position = match.end()
    tokens.append(("end", "", position))
    return tokens


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
            f"Invalid formula {trees.excerpt(self.text)}: {message} "
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
        if self.depth > trees.MAX_DEPTH:
            raise self.error(f"nested deeper than {trees.MAX_DEPTH} levels")

    def parse(self):
        tree = self.expr()
        token = self.peek()
        if token[0] != "end":
            raise self.error(f"unexpected {token[1]!r}")
        return tree

    def expr(self):
        return self.chain(("+", "-"), self.term)

    def term(self):
        return self.chain(("*", "/"), self.unary)

    def chain(self, operators, operand):
        """``operand (op operand)*`` for the left-associative ``operators``."""
        tree = operand()
        while self.peek()[1] in operators:
            name = trees.INFIX_NAME[self.take()[1]]
            tree = trees.apply_primitive(name, tree, operand())
        return tree

    def unary(self):
        self.enter()
        if self.peek()[1] == "-":
            self.take()
            tree = trees.apply_primitive("neg", self.unary())
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
            tree = trees.power(tree, self.exponent_value(exponent, token))
        return tree

    def exponent_value(self, tree, token):
        if trees.is_const(tree) and float(tree[1]).is_integer():
            k = int(tree[1])
            if 0 <= k <= prim.MAX_EXPONENT:
                return k
        raise self.error(
            f"exponent {trees.to_string(tree)} is not an integer constant "
            f"between 0 and {prim.MAX_EXPONENT}",
            token,
        )

    def atom(self):
        self.enter()
        kind, value, _ = token = self.take()
        if kind == "number":
            try:
                tree = trees.constant(value)
            except ValueError:
                raise self.error(f"constant {value} is not finite", token) from None
        elif kind == "name":
            tree = self.name(token)
        elif value == "(":
            tree = self.expr()
            self.expect(")")
        else:
            found = repr(value) if kind != "end" else "the end"
            raise self.error(
                f"expected a number, 'x' or '(', found {found}", token
            )
        self.depth -= 1
        return tree

    def name(self, token):
        value = token[1]
        is_call = self.peek()[1] == "("
        if keyword.iskeyword(value):
            raise self.error(f"Python keyword {value!r} is not allowed", token)
        if not is_call:
            if value == trees.VARIABLE:
                return trees.X
            raise self.error(
                f"unknown name {value!r}: a formula has exactly one "
                f"variable, {trees.VARIABLE!r}",
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
        return trees.apply_primitive(value, *arguments)
