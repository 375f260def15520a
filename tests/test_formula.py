"""Formula: the allow-list parser, canonical strings, evaluation, algebra."""

import pickle
import time

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_taskneurons import Formula
from keras_taskneurons.formula import tree as formula_tree
from keras_taskneurons import primitives as prim
from tests.helpers import to_numpy

EXAMPLES = [
    "0.3*x**2 - 0.7*x + 0.1",
    "(x + 1)*sin(x)",
    "sin(1.3*x + 0.2)",
    "-x**2",
    "x*(-2)",
    "-(x - 1)/(x + 2)",
    "x - (-x)",
    "add(mul(x, x), 0.5)",
    "log(x**2) + sqrt(x) + inv(x - 1)",
    "exp(-x**2)",
    "(x**5)**2",
    "abs(x)**3 - tanh(x)*cos(x)",
    "2.5e-05*x**9 + 1e+16",
    "neg(x)/3",
    "x**2**2",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_canonical_string_parses_back_to_an_equal_formula(text):
    formula = Formula(text)
    again = Formula(str(formula))
    assert again == formula
    assert str(again) == str(formula)
    assert hash(again) == hash(formula)


@pytest.mark.parametrize("text", EXAMPLES)
def test_formula_means_the_same_in_numpy_and_keras(text):
    formula = Formula(text)
    x = np.linspace(-2.5, 2.5, 41).astype("float32")
    expected = formula.evaluate(x.astype("float64"))
    got = to_numpy(formula.evaluate_keras(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * (1 + np.abs(expected).max()))


def test_precedence_follows_python():
    x = np.array([-1.5, 0.5, 2.0])
    assert np.allclose(Formula("-x**2").evaluate(x), -(x**2))
    assert np.allclose(Formula("x**2**2").evaluate(x), x**4)
    assert np.allclose(Formula("x - x - 1").evaluate(x), -1 + 0 * x)
    assert np.allclose(Formula("x/2/4").evaluate(x), x / 8)
    assert np.allclose(Formula("2*-x").evaluate(x), -2 * x)
    assert str(Formula("x + -2")) == "x - 2"


@pytest.mark.parametrize(
    "text, constant, terms",
    [
        ("0.3*x**2 - 0.7*x + 0.1", 0.1, [(-0.7, "x"), (0.3, "x**2")]),
        ("(x+1)*sin(x)", 0.0, [(1.0, "sin(x)"), (1.0, "x*sin(x)")]),
        ("x**2 + x + x", 0.0, [(2.0, "x"), (1.0, "x**2")]),
        ("(x + 1)**2", 1.0, [(2.0, "x"), (1.0, "x**2")]),
        ("x/4 + 3", 3.0, [(0.25, "x")]),
        ("sin(1.3*x + 0.2)", 0.0, [(1.0, "sin(1.3*x + 0.2)")]),
        ("div(x + 1, x)", 0.0, [(1.0, "(x + 1)/x")]),
    ],
)
def test_terms_expand_into_distinct_basis_functions(text, constant, terms):
    got_constant, got_terms = Formula(text).terms()
    assert got_constant == pytest.approx(constant)
    assert len(got_terms) == len(terms)
    for (coefficient, basis), (expected_c, expected_b) in zip(got_terms, terms):
        assert coefficient == pytest.approx(expected_c)
        assert basis == Formula(expected_b)


@pytest.mark.parametrize("text", EXAMPLES)
def test_terms_reproduce_the_formula(text):
    formula = Formula(text)
    constant, terms = formula.terms()
    x = np.linspace(-2, 2, 17)
    rebuilt = constant + sum(c * basis.evaluate(x) for c, basis in terms)
    np.testing.assert_allclose(rebuilt, formula.evaluate(x), rtol=1e-9, atol=1e-9)


def test_protected_division_is_not_expanded():
    # div(a + b, c) = div(a, c) + div(b, c) fails where |c| <= 0.001.
    constant, terms = Formula("(x + 1)/x").terms()
    assert len(terms) == 1


def test_latex_uses_ordinary_notation():
    assert Formula("0.3*x**2 - 0.7*x + 0.1").to_latex() == "0.3 x^{2} - 0.7 x + 0.1"
    assert "\\frac{1}{x}" in Formula("inv(x)").to_latex()
    assert "\\log" in Formula("log(x)").to_latex()
    assert "\\sqrt" in Formula("sqrt(x)").to_latex()


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('echo pwned')", "strings are not allowed"),
        ("__import__(1)", "unknown function '__import__'"),
        ("x.__class__.__bases__", "attribute access"),
        ("lambda: 0", "lambda"),
        ("lambda", "keyword .lambda."),
        ("x[0]", "subscripts"),
        ("'x'", "strings"),
        ("sin(x=1)", "keyword arguments"),
        ("y + x", "unknown name 'y'"),
        ("x + x1", "unknown name 'x1'"),
        ("foo(x)", "unknown function 'foo'"),
        ("x**10**10", "exponent 10 is not an integer"),
        ("x**x", "exponent x is not"),
        ("x**0.5", "exponent 0.5"),
        ("x**-1", "exponent -1"),
        ("x**10", "exponent 10"),
        ("3 + 4", "does not depend on 'x'"),
        ("x/0.0001 + 2", "does not depend on 'x'"),
        ("", "empty"),
        ("x +", "expected a number"),
        ("(x", r"expected '\)', found the end"),
        ("x x", "unexpected 'x'"),
        ("sin(x, x)", "takes 1 argument"),
        ("x ^ 2", "'\\*\\*'"),
        ("1e999*x", "not finite"),
        ("x;1", "unexpected character ';'"),
        ("1e308*1e308*x", "not finite"),
    ],
)
def test_bad_formulas_are_refused_with_a_specific_message(text, message):
    with pytest.raises(ValueError, match=message):
        Formula(text)


def test_oversized_formulas_are_refused_fast():
    start = time.process_time()  # CPU time, as in the tests below
    with pytest.raises(ValueError, match="10000000 characters"):
        Formula("x+" * 5_000_000)
    with pytest.raises(ValueError, match="nested deeper"):
        Formula("(" * 500 + "x" + ")" * 500)
    with pytest.raises(ValueError, match="nodes"):
        Formula(" + ".join(["x"] * 1000))
    with pytest.raises(ValueError, match="nested deeper"):
        Formula(" + ".join(["x"] * 200))  # a long chain is deep, too
    assert Formula(" + ".join(["x"] * 50)).size == 99
    assert time.process_time() - start < 5


def test_non_strings_are_refused_with_a_type_error():
    with pytest.raises(TypeError, match="must be a string"):
        Formula(3.0)
    with pytest.raises(TypeError, match="must be a string"):
        Formula({"class_name": "Lambda"})


def test_formula_is_immutable_and_pickles_as_its_string():
    formula = Formula("x**2 - x")
    with pytest.raises(AttributeError):
        formula.foo = 1
    assert pickle.loads(pickle.dumps(formula)) == formula
    assert formula.__reduce__() == (Formula, ("x**2 - x",))


def test_properties():
    formula = Formula("sin(1.3*x + 0.2)*x**2")
    assert formula.constants == (1.3, 0.2)
    assert formula.functions == {"sin", "mul", "add", "pow2"}
    assert formula.size == 9
    assert Formula("0.123456789*x").format(3) == "0.123*x"
    assert repr(formula) == "Formula('sin(1.3*x + 0.2)*x**2')"


def test_evaluate_keeps_the_shape_and_is_writable():
    out = Formula("x**2 + 1").evaluate(np.ones((2, 3)))
    assert out.shape == (2, 3)
    out[0, 0] = 5.0  # a fresh array, not a read-only view


# --- property-based: random trees print and parse back ------------------------

_UNARY = [n for n, p in prim.PRIMITIVES.items() if p.arity == 1]
_BINARY = [n for n, p in prim.PRIMITIVES.items() if p.arity == 2]

_leaves = st.one_of(
    st.just(("x",)),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(
        lambda v: ("const", v)
    ),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(_UNARY), children),
        st.tuples(st.sampled_from(_BINARY), children, children),
    )


_trees = st.recursive(_leaves, _extend, max_leaves=12)


def _build(tree):
    if tree[0] in ("x", "const"):
        return tree
    return formula_tree.apply_primitive(tree[0], *(_build(a) for a in tree[1:]))


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_random_formulas_round_trip(tree):
    try:
        built = _build(tree)
        formula = Formula._from_tree(built)
    except ValueError:
        return  # folding overflowed, or outside the limits: refused, as it should be
    again = Formula(str(formula))
    assert again == formula, (str(formula), str(again))
    x = np.linspace(-2, 2, 9)
    np.testing.assert_array_equal(
        np.nan_to_num(again.evaluate(x)), np.nan_to_num(formula.evaluate(x))
    )


# --- bounded algebra: expansion bombs and non-finite numbers --------------------

BOMBS = [
    ("(((((x+1)**9)**9)**9)**9)**9", "its degree is 59049, the limit is 81"),
    ("((((x+1)**9)**9)**9)**9", "its degree is 6561, the limit is 81"),
    ("x**9*x**9*x**9*x**9*x**9*x**9*x**9*x**9*x**9*x**9", "its degree is 90"),
    ("sin(((x**3)**3)**3*((x**3)**3)**3*((x**3)**3)**3*x)", "its degree is 82"),
    ("*".join(f"(sin(x + {i / 10}) + cos(x - {i / 7:.4f}))" for i in range(16)),
     "expanding it could take 65536 terms in one part"),
    ("((x + sin(x) + cos(x) + tanh(x) + 1)**9)**2", "expanding it could take"),
]


@pytest.mark.parametrize("text, message", BOMBS, ids=range(len(BOMBS)))
def test_expansion_bombs_are_refused_from_the_tree(text, message):
    started = time.process_time()
    with pytest.raises(ValueError, match=message) as info:
        Formula(text)
    assert time.process_time() - started < 0.1
    assert repr(text[:20]) in str(info.value) or text[:20] in str(info.value)


def test_expansion_stays_below_a_second_at_the_limits():
    # The largest expansions the limits let through.
    for text in [
        "*".join(f"(sin(x + {i / 10}) + cos(x - {i / 7:.4f}))" for i in range(8)),
        "(x + sin(x) + cos(x) + 1)**3*(x + 1)**9",
        "((x + 1)**9)**2",
    ]:
        started = time.process_time()  # CPU time: the bound is on the work, not the machine's load
        formula = Formula(text)
        try:
            formula.terms()
        except ValueError as error:
            assert "limit is 64" in str(error)
        formula.to_latex()
        assert time.process_time() - started < 1.0, text


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError, match=r"coefficient of the expansion \(1\.000E\+400\) is not finite"):
        Formula("(1e200*x + 1e200)**2").terms()
    with pytest.raises(ValueError, match="constant 1e400 is not finite"):
        Formula("1e400*x")
    with pytest.raises(ValueError, match="is not finite"):
        Formula("1e300*1e300*x")  # folded
    formula = Formula("sin(1.3*x + 0.2)")
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="must be finite"):
            formula.with_constants([1.0, bad])
    assert str(formula.with_constants([2.0, -0.5])) == "sin(2*x - 0.5)"


@pytest.mark.parametrize("failure", [RecursionError, OverflowError])
def test_runaways_in_algebra_become_value_errors(failure, monkeypatch):
    from keras_taskneurons.formula import algebra

    def runaway(*args, **kwargs):
        raise failure("deep inside sympy")

    monkeypatch.setattr(algebra, "expand", runaway)
    monkeypatch.setattr(algebra, "latex", runaway)
    formula = Formula("x**2 + sin(x)")
    with pytest.raises(ValueError, match=f"cannot be expanded into terms: {failure.__name__}"):
        formula.terms()
    with pytest.raises(ValueError, match=f"cannot be written in LaTeX: {failure.__name__}"):
        formula.to_latex()


def test_latex_of_powers_of_functions():
    assert Formula("log(x)**2").to_latex() == r"\left(\log\left|x\right|\right)^{2}"
    assert Formula("sin(x)**2 + abs(x)").to_latex() == (
        r"\left|x\right| + \left(\sin{\left(x \right)}\right)^{2}"
    )
