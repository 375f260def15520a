"""TaskNeuronDense: math, parameterizations, numerics, mixed precision, model styles."""


import keras
import numpy as np
import pytest

from keras_taskneurons import Formula, TaskNeuronDense, layer_factory
from keras_taskneurons import primitives as prim
from keras_taskneurons.layers import dense as dense_module
from tests.helpers import (
    CONFIGS,
    FORMULAS,
    PARAMETERIZATIONS,
    BACKEND,
    INSTALLED_BACKENDS,
    gradient,
    make_model,
    run_layer_checks,
    run_python,
    sample_data,
    to_numpy,
)



def test_formulas_cover_every_primitive():
    used = set().union(*(Formula(f).functions for f in FORMULAS))
    missing = set(prim.PRIMITIVES) - used
    assert not missing, missing


@pytest.mark.parametrize(
    "config", CONFIGS, ids=[f"{c['parameterization']}:{c['formula']}" for c in CONFIGS]
)
def test_layer_configuration(config, tmp_path):
    run_layer_checks(config, tmp_path)


# --- the math ----------------------------------------------------------------------


def test_terms_layer_is_one_matmul_over_basis_features():
    layer = TaskNeuronDense(3, "0.3*x**2 - 0.7*x + 0.1", basis_range="clip")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    layer.kernel.assign(rng.normal(size=(8, 3)).astype("float32"))
    out = to_numpy(layer(x))
    kernel = to_numpy(layer.kernel)
    bias = to_numpy(layer.bias)
    assert kernel.shape == (2 * 4, 3)
    # Terms order: x, x**2; x**2 scaled by basis_scale / max|x**2| on [-1, 1]
    # and evaluated on x clipped to [-1, 1] (basis_range="clip").
    assert layer.multipliers == (1.0, 0.1)
    features = np.concatenate([x, 0.1 * np.clip(x, -1, 1) ** 2], axis=-1)
    np.testing.assert_allclose(out, features @ kernel + bias, rtol=1e-5, atol=1e-5)
    assert [str(b) for b in layer.bases] == ["x", "x**2"]


def with_random_weights(layer, shape, seed):
    """Build ``layer`` for inputs of ``shape``; every trainable weight drawn
    from N(0, 1), so each basis block and constant matters."""
    layer.build(shape)
    rng = np.random.default_rng(seed)
    for variable in layer.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return layer


def test_constants_layer_computes_the_sum_over_inputs_per_unit():
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    layer = with_random_weights(
        TaskNeuronDense(3, "sin(1.3*x + 0.2) + x", parameterization="constants",
                        basis_range="clip"), x.shape, 2)
    out = to_numpy(layer(x))
    kernel_x = to_numpy(layer.kernel)  # matmul part: the plain basis "x"
    w = to_numpy(layer.term_kernels[0])
    a, b = (to_numpy(c) for c in layer.term_constants[0])
    bias = to_numpy(layer.bias)
    m = layer.multipliers[1]  # basis_scale / max|sin(1.3x + 0.2)| on [-1, 1]
    assert m == pytest.approx(0.1 / np.sin(1.5))
    expected = (
        x @ kernel_x
        + np.einsum("niu,iu->nu", m * np.sin(a * np.clip(x, -1, 1)[:, :, None] + b), w)
        + bias
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_constants_layer_sums_its_input_slices(monkeypatch):
    # At most CHUNK_ELEMENTS // units inputs per slice: 7 inputs in slices of
    # 2, 2, 2, 1 must give the unsliced sum.
    monkeypatch.setattr(dense_module, "CHUNK_ELEMENTS", 6)
    x = np.random.default_rng(4).normal(size=(5, 7)).astype("float32")
    layer = with_random_weights(TaskNeuronDense(
        3, "sin(1.3*x + 0.2) + exp(-0.5*x**2)", parameterization="constants",
        basis_range="clip"), x.shape, 5)
    clipped = np.clip(x, -1, 1)[:, :, None]
    (w1, w2), m = (to_numpy(k) for k in layer.term_kernels), layer.multipliers
    (c,), (a, b) = ([to_numpy(v) for v in values] for values in layer.term_constants)
    assert [str(basis) for basis in layer.bases] == ["x", "exp(-0.5*x**2)", "sin(1.3*x + 0.2)"]
    expected = (
        x @ to_numpy(layer.kernel)
        + np.einsum("niu,iu->nu", m[1] * np.exp(c * clipped**2), w1)
        + np.einsum("niu,iu->nu", m[2] * np.sin(a * clipped + b), w2)
        + to_numpy(layer.bias)
    )
    # Inference: the slices unrolled; training: one scan over padded slices.
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), expected,
                               rtol=1e-5, atol=1e-5)


def test_input_constants_are_one_vector_per_input_shared_by_the_units():
    layer = TaskNeuronDense(3, "sin(1.3*x + 0.2) + x**2", parameterization="input_constants",
                            basis_range="clip")
    x = np.random.default_rng(6).normal(size=(6, 4)).astype("float32")
    layer.build(x.shape)
    assert [str(basis) for basis in layer.bases] == ["x", "x**2", "sin(1.3*x + 0.2)"]
    a, b = (to_numpy(v) for v in layer.input_constants[2])
    assert a.shape == b.shape == (4,)
    assert np.all(a == np.float32(1.3)) and np.all(b == np.float32(0.2))
    assert layer.input_constants[0] is None and layer.input_constants[1] is None
    # Terms' cost: one matmul of (K * inputs) features, plus 2 * inputs constants.
    assert layer.count_params() == 3 * 4 * 3 + 2 * 4 + 3
    rng = np.random.default_rng(7)
    for variable in layer.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    a, b = (to_numpy(v) for v in layer.input_constants[2])
    clipped = np.clip(x, -1, 1)
    m = layer.multipliers
    features = np.concatenate(
        [x, m[1] * clipped**2, m[2] * np.sin(a * clipped + b)], axis=-1)
    np.testing.assert_allclose(
        to_numpy(layer(x)), features @ to_numpy(layer.kernel) + to_numpy(layer.bias),
        rtol=1e-5, atol=1e-5)


def test_input_constants_train():
    x, y = sample_data(input_dim=3)
    model = make_model(dict(formula="sin(1.3*x + 0.2) + x**2",
                            parameterization="input_constants"))
    constant = model.layers[1].input_constants[2][0]
    before = to_numpy(constant).copy()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(to_numpy(constant)))
    assert not np.allclose(to_numpy(constant), before)


def test_constants_start_at_the_formula_values():
    layer = TaskNeuronDense(2, "sin(1.3*x + 0.2)", parameterization="constants")
    layer.build((None, 3))
    a, b = (to_numpy(c) for c in layer.term_constants[0])
    assert np.all(a == np.float32(1.3)) and np.all(b == np.float32(0.2))
    # The outer weights start at zero (the layer starts as Dense); symmetry
    # between units is broken by the downstream weights' gradients.
    assert np.all(to_numpy(layer.term_kernels[0]) == 0)


def test_constants_mode_reduces_to_terms_for_polynomials():
    x = np.random.default_rng(3).normal(size=(4, 3)).astype("float32")
    a = TaskNeuronDense(2, "x**2 - x", parameterization="terms")
    b = TaskNeuronDense(2, "x**2 - x", parameterization="constants")
    a.build(x.shape)
    b.build(x.shape)
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(to_numpy(a(x)), to_numpy(b(x)), rtol=1e-6)


def test_parameter_count_is_linear_in_inputs():
    layer = TaskNeuronDense(10, "0.3*x**2 - 0.7*x + 0.1")
    layer.build((None, 7))
    # Trainable: a block per basis and the bias; not trainable: the running
    # mean and variance of each input and their step count.
    assert layer.count_params() == 2 * 7 * 10 + 10 + (2 * 7 + 1)
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == 2 * 7 * 10 + 10
    assert layer.count_formula_parameters() == 2
    no_bias = TaskNeuronDense(10, "x**2 + 5", use_bias=False, basis_range="clip")  # x is added
    no_bias.build((None, 7))
    assert no_bias.count_params() == 2 * 7 * 10
    alone = TaskNeuronDense(10, "x**2 + 5", use_bias=False, linear_basis=False,
                            basis_range=None)
    alone.build((None, 7))
    assert alone.count_params() == 7 * 10
    plain = TaskNeuronDense(10, "x")  # only x: no statistics
    plain.build((None, 7))
    assert plain.count_params() == 7 * 10 + 10


def test_higher_rank_inputs_and_output_shape():
    layer = TaskNeuronDense(5, "x**2 + sin(x)")
    x = np.ones((2, 3, 4), "float32")
    assert tuple(layer(x).shape) == (2, 3, 5)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 5)
    symbolic = layer(keras.KerasTensor((None, 3, 4)))
    assert tuple(symbolic.shape) == (None, 3, 5)


def test_sequential_functional_and_subclassed_models_train():
    x, y = sample_data(input_dim=4)
    make = layer_factory("x**2 + x", activation="relu")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = make(8)
            self.out = keras.layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    inputs = keras.Input((4,))
    functional = keras.Model(inputs, make(1, activation=None)(make(8)(inputs)))
    sequential = keras.Sequential([keras.Input((4,)), make(8), make(1, activation=None)])
    for model in (sequential, functional, Subclassed()):
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]


# --- the factory -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(units=0), ValueError, "units=0"),
        (dict(units=-3), ValueError, "units=-3"),
        (dict(units=2.5), ValueError, "units=2.5"),
        (dict(units=True), ValueError, "units=True"),
        (dict(parameterization="all"), ValueError, "parameterization='all'"),
        (dict(use_bias="yes"), TypeError, "use_bias='yes'"),
        (dict(formula="x + y"), ValueError, "unknown name 'y'"),
        (dict(formula=3), TypeError, "must be a string"),
        (dict(formula="7"), ValueError, "does not depend on 'x'"),
        (dict(formula="x - x"), ValueError, "no term in x"),
        (dict(activation="nonexistent"), ValueError, "nonexistent"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, error, message):
    arguments = dict(units=4, formula="x**2")
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        TaskNeuronDense(**arguments)


def test_unknown_input_dimension_is_refused():
    layer = TaskNeuronDense(4, "x**2")
    with pytest.raises(ValueError, match="last dimension"):
        layer.build((None, None))


def test_repr_shows_the_formula():
    text = repr(TaskNeuronDense(4, "0.3*x**2 + x", name="tn"))
    assert "tn" in text and "0.3*x**2 + x" in text and "terms" in text


# --- numerics ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(prim.PRIMITIVES))
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_forward_and_gradients_finite_on_large_inputs(name, parameterization):
    arity = prim.PRIMITIVES[name].arity
    text = f"{name}(1.5*x{', x - 0.5' if arity == 2 else ''})"
    layer = TaskNeuronDense(3, text, parameterization=parameterization)
    x = np.concatenate(
        [np.linspace(-1e3, 1e3, 41), [0.0, 0.001, -0.001, 1e-4]]
    ).astype("float32").reshape(-1, 5)
    layer.build(x.shape)
    out = to_numpy(layer(x))
    assert np.all(np.isfinite(out)), name
    weights = layer.trainable_variables
    fixed = [to_numpy(v) for v in layer.non_trainable_variables]

    def forward(inputs, *values):
        outputs, _ = layer.stateless_call(list(values), fixed, inputs)
        return outputs

    grads = gradient(forward, x, *[to_numpy(w) for w in weights])
    for g in grads:
        assert np.all(np.isfinite(g)), name


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_mixed_precision(policy, parameterization):
    keras.config.set_dtype_policy(policy)
    x, y = sample_data(input_dim=3)
    model = make_model(
        dict(formula="sin(1.3*x + 0.2) + x**2", parameterization=parameterization)
    )
    layer = model.layers[1]
    assert layer.compute_dtype == policy.split("_")[1]
    assert layer.kernel.dtype == "float32"
    if parameterization == "constants":
        assert layer.term_constants[0][0].dtype == "float32"
    if parameterization == "input_constants":
        assert next(v for v in layer.input_constants if v)[0].dtype == "float32"
    out = model(x)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    # Small batches: the loss-scale optimizer may skip the first steps.
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_mixed_precision_keeps_large_powers_finite(policy, parameterization):
    # x**9 is 262144 at x = 4: beyond float16 (65504). The layer computes in
    # float32, so with small weights the output is finite and right.
    formula = "x**9 + x" if parameterization == "terms" else "x**9 + sin(0.5*x)"
    full = dict(parameterization=parameterization, basis_scale=1.0, normalize_bases=False,
                basis_range=None)  # unbounded bases, as a user may choose
    layer = TaskNeuronDense(2, formula, dtype=policy, **full)
    x = np.linspace(-4, 4, 12, dtype="float32").reshape(4, 3)
    layer.build(x.shape)
    for variable in layer.trainable_variables:
        if "constant" not in variable.path:
            variable.assign(np.full(variable.shape, 1e-3, "float32"))
    out = to_numpy(layer(x)).astype("float64")
    reference = TaskNeuronDense(2, formula, **full)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    expected = to_numpy(reference(x))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, rtol=3e-2)  # inputs arrive in 16 bits
    assert np.abs(expected).max() > 200  # the x**9 term really is in there

    fixed = [to_numpy(v) for v in layer.non_trainable_variables]

    def forward(inputs, *values):
        outputs, _ = layer.stateless_call(list(values), fixed, inputs)
        return ops_cast_float32(outputs)

    for g in gradient(forward, x, *[to_numpy(w) for w in layer.trainable_variables]):
        assert np.all(np.isfinite(g))


def ops_cast_float32(tensor):
    return keras.ops.cast(tensor, "float32")


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_mixed_precision_model_round_trips(parameterization, tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    model = make_model(dict(formula="sin(1.3*x + 0.2) + x**2", parameterization=parameterization))
    path = str(tmp_path / "mixed.keras")
    model.save(path)
    keras.config.set_dtype_policy("float32")
    reloaded = keras.models.load_model(path)
    assert reloaded.layers[1].dtype_policy.name == "mixed_float16"
    x, _ = sample_data()
    np.testing.assert_array_equal(
        to_numpy(reloaded.predict(x, verbose=0)), to_numpy(model.predict(x, verbose=0))
    )


FLOAT64_ON_JAX = """
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np, keras, keras_taskneurons
layer = keras_taskneurons.TaskNeuronDense(
    2, "div(x, x - 0.5) + x**2", dtype="float64", linear_basis=False, basis_scale=1.0,
    normalize_bases=False)
x = np.array([[0.25, 1.0 + 1e-12, 3.0]])
out = layer(x)
assert keras.backend.standardize_dtype(out.dtype) == "float64", out.dtype
assert layer.kernel.dtype == "float64"
# float64 resolves what float32 cannot: 1 + 1e-12 squared.
w = keras.ops.convert_to_numpy(layer.kernel)
features = np.concatenate([x**2, x / (x - 0.5)], axis=1)
assert [str(b) for b in layer.bases] == ["x**2", "x/(x - 0.5)"], layer.bases
np.testing.assert_allclose(keras.ops.convert_to_numpy(out), features @ w, rtol=1e-14)
print("OK")
"""


@pytest.mark.once  # starts JAX itself, whichever backend the suite runs on
@pytest.mark.skipif("jax" not in INSTALLED_BACKENDS, reason="JAX is not installed here "
                    "(CI's lowest-versions run has TensorFlow only)")
def test_float64_on_jax_with_x64_enabled():
    # JAX has no float64 unless x64 is enabled before it starts: a subprocess.
    assert run_python(FLOAT64_ON_JAX, backend="jax").startswith("OK")


def test_float64_policy_computes_in_float64():
    layer = TaskNeuronDense(2, "div(x, x - 0.5)", dtype="float64")
    out = layer(np.ones((1, 3)))
    expected = "float64"
    if BACKEND == "jax":
        import jax

        if not jax.config.jax_enable_x64:  # JAX itself then has no float64
            expected = "float32"
    assert keras.backend.standardize_dtype(out.dtype) == expected


# --- saving: other processes, other backends ----------------------------------------------


MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np, keras, keras_taskneurons
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (256, 4)).astype("float32")
y = (x**2).sum(1, keepdims=True) - x.sum(1, keepdims=True)
with strategy.scope():
    make = keras_taskneurons.layer_factory("x**2 - x", activation="relu")
    model = keras.Sequential([keras.Input((4,)), make(16),
        keras_taskneurons.TaskNeuronDense(1, "sin(1.3*x + 0.2)",
                                          parameterization="constants")])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
history = model.fit(x, y, epochs=8, batch_size=64, verbose=0)
loss = history.history["loss"]
assert loss[-1] < 0.8 * loss[0], loss
print("OK", loss[0], loss[-1])
"""


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="tf.distribute.MirroredStrategy is TensorFlow's engine; runs in the "
    "tensorflow pass of the suite",
)
def test_trains_under_mirrored_strategy_on_two_logical_cpus():
    assert run_python(MIRRORED, backend="tensorflow").startswith("OK")


# --- starting as Dense ----------------------------------------------------------------
