"""Fuzzing: formulas drawn from the grammar, random layer configurations.

Every call returns, or raises ``ValueError``/``TypeError``, within a second:
never a hang, a ``RecursionError``, an ``OverflowError`` or a crash deep inside
numpy, sympy or the backend. CI runs a few dozen examples per test; set
``KERAS_TASKNEURONS_FUZZ_EXAMPLES`` (for example to 2000) for a longer run
by hand.
"""

import os
import time

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_taskneurons import Formula, TaskNeuronDense
from keras_taskneurons import primitives as prim

EXAMPLES = int(os.environ.get("KERAS_TASKNEURONS_FUZZ_EXAMPLES", "40"))
SECONDS = 1.0
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True,
    suppress_health_check=list(HealthCheck),
)

_UNARY = sorted(n for n, p in prim.PRIMITIVES.items() if p.arity == 1)
_BINARY = sorted(n for n, p in prim.PRIMITIVES.items() if p.arity == 2)

_numbers = st.one_of(
    st.integers(0, 12).map(str),
    st.floats(0, 1e308, allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e200", "1e-200", "1e308", "0.001", "0.0009", "5e-324", "1e999"]),
)
_leaves = st.one_of(st.just("x"), st.just("x"), _numbers)


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(" + | - | * | / ".split("|")), children).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
        st.tuples(children, st.integers(0, 12)).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(_UNARY), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(_BINARY), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.lists(children, min_size=2, max_size=16).map(lambda f: "*".join(f"({c})" for c in f)),
        children.map(lambda c: f"-{c}"),
    )


_grammar = st.recursive(_leaves, _extend, max_leaves=40)

_sums = st.lists(
    st.one_of(st.just("x"), _numbers, st.tuples(st.sampled_from(_UNARY), _numbers).map(
        lambda t: f"{t[0]}(x + {t[1]})"
    )),
    min_size=1, max_size=6,
).map(" + ".join)

_nested_powers = st.tuples(_sums, st.lists(st.integers(2, 9), min_size=1, max_size=6)).map(
    lambda t: "(" * len(t[1]) + t[0] + "".join(f")**{k}" for k in t[1])
)
_long_products = st.lists(_sums, min_size=2, max_size=20).map(
    lambda sums: "*".join(f"({s})" for s in sums)
)
_deep = st.tuples(st.lists(st.sampled_from(_UNARY), min_size=1, max_size=120), _grammar).map(
    lambda t: "".join(f"{name}(" for name in t[0]) + t[1] + ")" * len(t[0])
)

formulas = st.one_of(_grammar, _nested_powers, _long_products, _deep)
"""Formula strings: nested powers, long products of sums, huge and tiny
constants, deep nesting; valid and invalid alike."""


def _timed(work):
    started = time.perf_counter()
    try:
        work()
    except (ValueError, TypeError):
        pass
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"{elapsed:.2f} s"


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    # The backend's first operations are slow once; that is not the formula's.
    for basis_range in ("clip", "running", None):
        layer = TaskNeuronDense(2, "x**2 + sin(x)", basis_range=basis_range)
        layer(np.ones((2, 3), "float32"))
    # Keras's first get_config imports TensorFlow (its serializer checks for
    # tf.TensorShape), seconds under the other backends: once, not per formula.
    TaskNeuronDense.from_config(layer.get_config())
    Formula("(x + 1)**3*sin(x)").to_latex()


def _formula_work(text):
    formula = Formula(text)
    assert Formula(str(formula)) == formula
    formula.evaluate(np.linspace(-3, 3, 7))
    formula.to_latex()
    constant, terms = formula.terms()
    assert np.isfinite(constant) and all(np.isfinite(c) for c, _ in terms)


@FUZZ
@given(formulas)
def test_formula_work_is_bounded(text):
    _timed(lambda: _formula_work(text))


_activations = st.sampled_from([None, "relu", "tanh", "nonexistent"])
_configs = st.fixed_dictionaries({
    "units": st.one_of(st.integers(-2, 6), st.sampled_from([True, 2.5, "3", None])),
    "parameterization": st.sampled_from(["terms", "constants", "all", 1]),
    "activation": _activations,
    "use_bias": st.sampled_from([True, False, "yes", 0]),
    # Valid ranges are the ones the warm-up compiled.
    "basis_range": st.sampled_from([None, "clip", "running", "auto", 0, "clipped", True]),
    "basis_domain": st.sampled_from([None, (-1.0, 1.0), (1, -1), (0, float("nan")), "1"]),
    "basis_scale": st.sampled_from([0.1, 1.0, "coefficients", 0, "big"]),
})


@FUZZ
@given(formulas, _configs)
def test_layer_construction_and_call_are_bounded(text, config):
    def work():
        layer = TaskNeuronDense(formula=text, **config)
        out = keras.ops.convert_to_numpy(layer(np.linspace(-2, 2, 6, dtype="float32").reshape(2, 3)))
        assert out.shape == (2, config["units"])
        again = TaskNeuronDense.from_config(layer.get_config())
        assert again.bases == layer.bases

    _timed(work)


@FUZZ
@given(formulas, st.one_of(st.none(), st.lists(formulas, max_size=4), st.just("x"), st.just([1])))
def test_untrusted_configs_are_bounded(text, bases):
    config = TaskNeuronDense(2, "x**2 + x").get_config()
    config["formula"] = text
    if bases is None:  # a file of 0.1: no bases, no format version
        del config["bases"], config["format_version"]
    else:
        config["bases"] = bases
    _timed(lambda: TaskNeuronDense.from_config(config))
