"""One table, three meanings: numpy, keras.ops and sympy must agree."""

import math

import keras
import numpy as np
import pytest
import sympy

from keras_taskneurons import primitives as prim
from tests.helpers import gradient, to_numpy

T = prim.PROTECTION_THRESHOLD
F32_T = float(np.float32(T))  # rounds *above* 0.001
BELOW = float(np.nextafter(np.float32(T), np.float32(0)))

# Zero, the protection thresholds and their float32 neighbours, ordinary
# values and large magnitudes.
GRID = np.array(
    [0.0, -0.0, T, -T, F32_T, -F32_T, BELOW, -BELOW, 1e-4, -1e-4, 0.5, -0.5,
     1.0, -1.0, 2.7, -3.3, 29.9, 30.0, 31.0, 88.0, 100.0, -100.0, 999.0,
     1e3, -1e3],
    dtype=np.float32,
)

UNARY = [name for name, p in prim.PRIMITIVES.items() if p.arity == 1]
BINARY = [name for name, p in prim.PRIMITIVES.items() if p.arity == 2]


def test_table_covers_the_required_functions():
    required = {"add", "sub", "mul", "div", "neg", "abs", "sqrt", "log", "inv",
                "exp", "sin", "cos", "tanh"}
    assert required <= set(prim.PRIMITIVES)
    assert {f"pow{k}" for k in range(2, prim.MAX_EXPONENT + 1)} <= set(
        prim.PRIMITIVES
    )


def _assert_agree(name, numpy_value, keras_value):
    numpy_value = np.asarray(numpy_value, dtype=np.float64)
    keras_value = np.asarray(keras_value, dtype=np.float64)
    finite = np.isfinite(numpy_value)
    assert np.array_equal(finite, np.isfinite(keras_value)), name
    np.testing.assert_allclose(
        keras_value[finite], numpy_value[finite], rtol=2e-6, atol=1e-6,
        err_msg=name,
    )


@pytest.mark.parametrize("name", UNARY)
def test_unary_numpy_and_keras_agree(name):
    p = prim.PRIMITIVES[name]
    numpy_value = p.numpy(GRID.astype(np.float64))
    keras_value = to_numpy(p.keras(keras.ops.convert_to_tensor(GRID)))
    _assert_agree(name, numpy_value, keras_value)


@pytest.mark.parametrize("name", BINARY)
def test_binary_numpy_and_keras_agree(name):
    p = prim.PRIMITIVES[name]
    a, b = np.meshgrid(GRID, GRID)
    a, b = a.ravel(), b.ravel()
    numpy_value = p.numpy(a.astype(np.float64), b.astype(np.float64))
    keras_value = to_numpy(
        p.keras(keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b))
    )
    if name == "mul":  # 1e3 * 1e3 etc. are exact; overflow is not in the grid
        assert np.all(np.isfinite(numpy_value))
    _assert_agree(name, numpy_value, keras_value)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("log", 0.0, 0.0), ("log", T, 0.0), ("log", -T, 0.0),
        ("log", F32_T, math.log(F32_T)), ("log", -2.0, math.log(2.0)),
        ("inv", 0.0, 0.0), ("inv", -T, 0.0), ("inv", F32_T, 1 / F32_T),
        ("sqrt", -4.0, 2.0), ("sqrt", 0.0, 0.0),
        ("exp", 1000.0, math.exp(30.0)), ("exp", -1000.0, 0.0),
    ],
)
def test_protected_semantics_match_gplearn(name, value, expected):
    p = prim.PRIMITIVES[name]
    assert float(p.numpy(np.float64(value))) == pytest.approx(expected, rel=1e-12)
    # The layer sees float32 inputs: it must decide as the search does on
    # the same (rounded) value.
    rounded = np.float64(np.float32(value))
    got = float(to_numpy(p.keras(keras.ops.convert_to_tensor([value]))[0]))
    assert got == pytest.approx(float(p.numpy(rounded)), rel=1e-6)


def test_protected_division_at_the_threshold():
    div = prim.PRIMITIVES["div"]
    numerators = np.array([5.0, 5.0, 5.0, 5.0], dtype=np.float32)
    denominators = np.array([0.0, T, F32_T, -BELOW], dtype=np.float32)
    # float32(0.001) lies above 0.001, so it is NOT protected, in float64
    # and in float32 alike.
    expected = [1.0, 5.0 / F32_T, 5.0 / F32_T, 1.0]
    np.testing.assert_allclose(
        div.numpy(numerators.astype(np.float64), denominators.astype(np.float64)),
        expected, rtol=1e-12,
    )
    np.testing.assert_allclose(
        to_numpy(div.keras(keras.ops.convert_to_tensor(numerators),
                           keras.ops.convert_to_tensor(denominators))),
        expected, rtol=1e-6,
    )


def test_gplearn_matches_our_numpy_for_its_own_functions():
    from gplearn.functions import _function_map

    values = GRID.astype(np.float64)
    a, b = np.meshgrid(values, values)
    for name in ("div", "log", "sqrt", "inv", "abs", "neg", "sin", "cos"):
        ours = prim.PRIMITIVES[name]
        theirs = _function_map[name]
        arguments = (a.ravel(), b.ravel())[: ours.arity]
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(
                ours.numpy(*arguments), theirs(*arguments), err_msg=name
            )


@pytest.mark.parametrize("name", sorted(prim.PRIMITIVES))
def test_gradients_are_finite_on_the_whole_range(name):
    p = prim.PRIMITIVES[name]
    x = np.concatenate([GRID, np.linspace(-1e3, 1e3, 101, dtype=np.float32)])
    if p.arity == 1:
        grads = gradient(p.keras, x)
    else:
        grads = gradient(p.keras, x, x[::-1].copy())
    for g in grads:
        assert np.all(np.isfinite(g)), name
    assert np.all(np.isfinite(to_numpy(p.keras(*[keras.ops.convert_to_tensor(x)] * p.arity))))


@pytest.mark.parametrize("name", sorted(prim.PRIMITIVES))
def test_every_primitive_is_a_valid_gplearn_function(name):
    function = prim.gplearn_function(name)
    assert function.name == name
    assert function.arity == prim.PRIMITIVES[name].arity


@pytest.mark.parametrize("name", sorted(prim.PRIMITIVES))
def test_sympy_counterpart_agrees_away_from_protection(name):
    p = prim.PRIMITIVES[name]
    symbols = sympy.symbols(f"a0:{p.arity}", real=True)
    expr = p.sympy(*symbols)
    values = (1.7, -0.6)[: p.arity]
    numeric = p.numpy(*[np.float64(v) for v in values])
    # Protected functions are opaque: compare against the plain function.
    plain = {
        prim.ProtectedDiv: lambda a, b: a / b,
        prim.ProtectedLog: lambda a: sympy.log(sympy.Abs(a)),
        prim.ProtectedSqrt: lambda a: sympy.sqrt(sympy.Abs(a)),
        prim.ProtectedInv: lambda a: 1 / a,
        prim.ClippedExp: sympy.exp,
        prim.OpaqueAbs: sympy.Abs,
        prim.OpaqueSin: sympy.sin,
        prim.OpaqueCos: sympy.cos,
        prim.OpaqueTanh: sympy.tanh,
    }
    expr = expr.replace(
        lambda e: type(e) in plain, lambda e: plain[type(e)](*e.args)
    )
    assert float(expr.subs(dict(zip(symbols, values)))) == pytest.approx(
        float(numeric), rel=1e-12
    )


def test_unknown_primitive_names_the_value():
    with pytest.raises(ValueError, match="'foo'"):
        prim.get_primitive("foo")


def test_integer_power_matches_numpy_power():
    x = np.linspace(-3, 3, 13)
    for k in range(1, prim.MAX_EXPONENT + 1):
        np.testing.assert_allclose(prim.integer_power(x, k), x**k, rtol=1e-14)
