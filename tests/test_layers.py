"""TaskNeuronDense: math, serialization, safety, numerics, model styles."""

import json
import re
import time
import zipfile

import keras
import numpy as np
import pytest

from keras_taskneurons import Formula, TaskNeuronDense, layer_factory
from keras_taskneurons import primitives as prim
from keras_taskneurons.layers import dense as dense_module
from tests.helpers import (
    BACKEND,
    INSTALLED_BACKENDS,
    gradient,
    load_in_subprocess,
    make_model,
    run_layer_checks,
    run_python,
    sample_data,
    to_numpy,
)

# Together these use every primitive of the table.
FORMULAS = [
    "0.3*x**2 - 0.7*x + 0.1",
    "x**3 - x",
    "sin(1.3*x + 0.2) + cos(x)",
    "div(x, x + 2) + log(x) + sqrt(x) + inv(x)",
    "exp(-x**2) + tanh(0.5*x) + abs(x) - neg(x)",
    "0.01*x**9 + x**8 - x**7 + x**6 + x**5 + x**4",
    "exp(-0.5*x**2)*x + log(0.5*x + 1)",
]
PARAMETERIZATIONS = ["terms", "constants", "input_constants"]
CONFIGS = [
    dict(formula=f, parameterization=p, activation="tanh")
    for f in FORMULAS
    for p in PARAMETERIZATIONS
]


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


def test_factory_builds_registered_layers_with_overrides():
    make = layer_factory("x**2 - x", activation="relu", parameterization="constants")
    layer = make(16)
    assert type(layer) is TaskNeuronDense
    assert layer.units == 16 and layer.formula == Formula("x**2 - x")
    assert layer.get_config()["activation"] == "relu"
    assert make(4, activation="sigmoid").get_config()["activation"] == "sigmoid"
    assert "x**2 - x" in repr(make)


def test_factory_does_not_use_up_a_layer_name():
    make = layer_factory("x**2 - x")
    assert make(3).name == "task_neuron_dense"
    with pytest.raises(TypeError, match="`name`"):
        layer_factory("x**2", name="shared")


def test_factory_validates_its_defaults_eagerly():
    with pytest.raises(ValueError, match="parameterization='bogus'"):
        layer_factory("x**2", parameterization="bogus")
    with pytest.raises(TypeError, match="units"):
        layer_factory("x**2", units=3)
    with pytest.raises(ValueError, match="unknown name 'y'"):
        layer_factory("x + y")


# --- arguments ---------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """One saved model per configuration, with its inputs and predictions."""
    cases = []
    for index, config in enumerate(CONFIGS):
        model = make_model(config, seed=index)
        x, y = sample_data()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
        path = str(tmp_path_factory.mktemp("saved") / f"model{index}.keras")
        model.save(path)
        cases.append((path, x, to_numpy(model.predict(x, verbose=0))))
    return cases


@pytest.mark.once  # starts every backend itself: the TensorFlow pass runs it
def test_saved_models_load_in_a_new_process(saved_models, tmp_path):
    output = run_python_load(saved_models, tmp_path, BACKEND)
    assert output.startswith(f"OK {len(CONFIGS)}")


@pytest.mark.once  # starts every backend itself: the TensorFlow pass runs it
@pytest.mark.parametrize("other", [b for b in INSTALLED_BACKENDS if b != BACKEND])
def test_saved_models_load_under_another_backend(saved_models, tmp_path, other):
    output = run_python_load(saved_models, tmp_path, other)
    assert output.startswith(f"OK {len(CONFIGS)}")


def run_python_load(saved_models, tmp_path, backend):
    return load_in_subprocess(saved_models, tmp_path, backend=backend)


# --- untrusted files ---------------------------------------------------------------------

# (payload, the refusal reason the error must give)
PAYLOADS = [
    ("__import__('os').system('touch {marker}')", "strings are not allowed"),
    ("x.__class__.__bases__", r"attribute access \('\.'\) is not allowed"),
    ("lambda: 0", r"lambdas, slices and annotations \(':'\) are not allowed"),
    ("x**10**10", "exponent 10 is not an integer constant between 0 and 9"),
    ("x + " * 2_500_000 + "x", "10000001 characters: the limit is 8192"),
    ("sin(x) if __import__('os').system('touch {marker}') else x",
     "strings are not allowed"),
    ("sin(x) if __import__(chr(111)) else x", "unexpected 'if'"),
    # Expansion bombs: refused from the tree, before any algebra runs.
    ("(((((x+1)**9)**9)**9)**9)**9", "its degree is 59049, the limit is 81"),
    ("((((x+1)**9)**9)**9)**9", "its degree is 6561, the limit is 81"),
    ("*".join(f"(sin(x + {i / 10}) + cos(x - {i / 7:.4f}))" for i in range(16)),
     "expanding it could take 65536 terms"),
    ("(1e200*x + 1e200)**2", r"coefficient of the expansion \(1\.000E\+400\) is not finite"),
]


def _tamper(path, target, formula=None, bases=None, version=None):
    with zipfile.ZipFile(path) as source:
        contents = {name: source.read(name) for name in source.namelist()}
    config = json.loads(contents["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "TaskNeuronDense":
            if formula is not None:
                layer["config"]["formula"] = formula
            if bases == "drop":
                del layer["config"]["bases"]
            elif bases is not None:
                layer["config"]["bases"] = bases
            if version == "drop":
                del layer["config"]["format_version"]
            elif version is not None:
                layer["config"]["format_version"] = version
    contents["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as sink:
        for name, data in contents.items():
            sink.writestr(name, data)


@pytest.mark.parametrize("payload, reason", PAYLOADS, ids=range(len(PAYLOADS)))
def test_tampered_formula_is_refused_fast_and_nothing_runs(payload, reason, tmp_path):
    model = make_model(dict(formula="x**2 + x"))
    path = str(tmp_path / "good.keras")
    model.save(path)
    marker = tmp_path / "pwned"
    bad = str(tmp_path / "bad.keras")
    _tamper(path, bad, payload.replace("{marker}", str(marker)))
    for safe_mode in (True, False):  # the formula never reaches an evaluator
        started = time.perf_counter()
        with pytest.raises(ValueError) as info:  # not wrapped in Keras's TypeError
            keras.models.load_model(bad, safe_mode=safe_mode)
        elapsed = time.perf_counter() - started
        assert re.search(reason, str(info.value)), str(info.value)[-600:]
        assert elapsed < 5.0, elapsed  # Keras's own loading is most of it
        assert not marker.exists()


def test_a_config_works_as_keyword_arguments_and_refuses_edited_formulas():
    layer = TaskNeuronDense(3, "0.3*x**2 + sin(x)", activation="relu", name="edited")
    config = layer.get_config()
    assert TaskNeuronDense(**config).get_config() == config
    # keras.models.clone_model rebuilding every layer from its config.
    model = keras.Sequential([keras.Input((4,)), layer])
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__(**layer.get_config()))
    assert clone.layers[0].get_config() == config
    # The formula edited, the bases kept: refused, in words that fit a dict.
    edited = {**config, "formula": "x**3 + cos(x)"}
    for build in (lambda: TaskNeuronDense(**edited), lambda: TaskNeuronDense.from_config(edited)):
        with pytest.raises(ValueError, match=r"bases given for TaskNeuronDense layer 'edited'"
                           r" \(`bases`, a config's 'bases'\).*Drop `bases`"):
            build()
    fresh = {**edited, "bases": None, "format_version": None}
    assert TaskNeuronDense(**fresh).formula == Formula("x**3 + cos(x)")


def test_saved_bases_pin_the_kernel_order(tmp_path):
    model = make_model(dict(formula="0.3*x**2 - 0.7*x + sin(x)"))
    layer = model.layers[1]
    config = layer.get_config()
    assert config["bases"] == ["x", "sin(x)", "x**2"] == [str(b) for b in layer.bases]
    path = str(tmp_path / "good.keras")
    model.save(path)
    x, _ = sample_data()
    expected = to_numpy(model.predict(x, verbose=0))
    # Another order (as a sympy change could produce) is refused, naming both.
    swapped = str(tmp_path / "swapped.keras")
    _tamper(path, swapped, bases=["x**2", "x", "sin(x)"])
    with pytest.raises(ValueError, match=r"they say \['x\*\*2', 'x', 'sin\(x\)'\], "
                       r"the formula expands into \['x', 'sin\(x\)', 'x\*\*2'\]"):
        keras.models.load_model(swapped)
    wrong_type = str(tmp_path / "wrong_type.keras")
    _tamper(path, wrong_type, bases="x, x**2")
    with pytest.raises(TypeError, match="must be a list of strings"):
        keras.models.load_model(wrong_type)
    # This version's files carry a format version; without their bases they
    # are refused, also when the formula was edited into one with as many bases
    # (the weights would load into the wrong blocks).
    assert config["format_version"] == 1
    for formula in (None, "0.3*x**2 - 0.7*x + cos(x)"):
        dropped = str(tmp_path / "dropped.keras")
        _tamper(path, dropped, formula=formula, bases="drop")
        with pytest.raises(ValueError, match=r"format_version=1\) lacks its 'bases'"):
            keras.models.load_model(dropped)
    newer = str(tmp_path / "newer.keras")
    _tamper(path, newer, version=99)
    with pytest.raises(ValueError, match="format_version=99; this keras-taskneurons reads "
                       "versions 1 to 1"):
        keras.models.load_model(newer)
    odd = str(tmp_path / "odd.keras")
    _tamper(path, odd, version="1")
    with pytest.raises(TypeError, match="format_version .* must be an integer"):
        keras.models.load_model(odd)
    # Files written before the bases and the version were stored (0.1) still load.
    old = str(tmp_path / "old.keras")
    _tamper(path, old, bases="drop", version="drop")
    np.testing.assert_allclose(
        to_numpy(keras.models.load_model(old).predict(x, verbose=0)), expected,
        rtol=1e-6, atol=1e-6,
    )


def test_formula_of_the_wrong_type_in_a_config_is_refused():
    config = TaskNeuronDense(2, "x**2", name="first").get_config()
    config["formula"] = {"class_name": "Lambda", "config": {}}
    with pytest.raises(ValueError, match="TaskNeuronDense layer 'first'.*holds dict"):
        TaskNeuronDense.from_config(config)


def test_a_saved_model_without_its_formula_is_refused_in_one_short_line():
    model = keras.Sequential([keras.Input((3,)), TaskNeuronDense(2, "x**2", name="first")])
    config = model.get_config()
    del config["layers"][1]["config"]["formula"]
    with pytest.raises(ValueError, match="TaskNeuronDense layer 'first'.*holds none") as caught:
        keras.Sequential.from_config(config)
    assert len(str(caught.value)) < 300  # not Keras's dump of the config


# --- distribution -----------------------------------------------------------------------------

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


@pytest.mark.parametrize("formula", ["x**2 + sin(x)", "exp(-x**2)", "0.3*x**2 - 0.7*x"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_a_new_layer_computes_exactly_a_dense_layer(formula, parameterization):
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    seeded = keras.initializers.GlorotUniform(seed=3)
    layer = TaskNeuronDense(4, formula, parameterization=parameterization,
                            kernel_initializer=seeded, activation="relu")
    dense = keras.layers.Dense(4, kernel_initializer=seeded, activation="relu")
    assert layer.bases[0] == Formula("x")  # added when the formula lacks it
    # The same numbers up to the matmul's summation order (the zero blocks).
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(dense(x)), rtol=1e-6, atol=1e-6)
    # Every other basis block starts at zero, and then learns.
    kernel = to_numpy(layer.kernel)
    assert np.all(kernel[5:] == 0) and np.all(kernel[:5] == to_numpy(dense.kernel))


def test_start_as_dense_can_be_turned_off_and_old_configs_keep_their_meaning():
    plain = TaskNeuronDense(2, "x**2", linear_basis=False, basis_initializer="glorot_uniform",
                            basis_scale=1.0, normalize_bases=False)
    assert [str(b) for b in plain.bases] == ["x**2"] and plain.multipliers == (1.0,)
    config = TaskNeuronDense(2, "x**2").get_config()
    for key in ("linear_basis", "basis_scale", "normalize_bases", "basis_initializer", "bases",
                "format_version"):
        config.pop(key)  # a config written by 0.1
    old = TaskNeuronDense.from_config(config)
    assert [str(b) for b in old.bases] == ["x**2"] and old.multipliers == (1.0,)


def test_multipliers_scale_each_basis_to_its_range_on_minus_one_one():
    layer = TaskNeuronDense(2, "x**8 + exp(x) + inv(x)", basis_scale=0.5)
    sizes = {"x": None, "x**8": 1.0, "exp(x)": np.e, "inv(x)": 1 / 0.01}
    for basis, multiplier in zip(layer.bases, layer.multipliers):
        size = sizes[str(basis)]
        if size is None:
            assert multiplier == 1.0
        else:
            assert multiplier == pytest.approx(0.5 / size, rel=1e-6), basis



@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_bases_but_x_see_the_input_clipped_to_the_search_range(parameterization):
    x = np.array([[-30.0, -1.0, -0.4, 0.0, 0.7, 1.0, 2.5]], "float32").T  # (7, 1)
    kwargs = dict(kernel_initializer="ones", basis_initializer="ones", use_bias=False,
                  parameterization=parameterization)
    clipped = TaskNeuronDense(1, "x**5 + sin(2*x)", basis_range="clip", **kwargs)
    raw = TaskNeuronDense(1, "x**5 + sin(2*x)", basis_range=None, **kwargs)
    assert clipped.basis_domain == (-1.0, 1.0) and raw.basis_range is None
    m = dict(zip([str(b) for b in clipped.bases], clipped.multipliers))

    def expected(u):
        c = np.clip(u, -1, 1)
        return u + m["x**5"] * c**5 + m["sin(2*x)"] * np.sin(2 * c)

    out = to_numpy(clipped(x))[:, 0]
    np.testing.assert_allclose(out, expected(x[:, 0]), rtol=1e-5, atol=1e-6)
    # Inside [-1, 1] nothing changes; outside, x**5 stops growing but x does not.
    inside = np.abs(x[:, 0]) <= 1
    np.testing.assert_allclose(out[inside], to_numpy(raw(x))[inside, 0], rtol=1e-6, atol=1e-7)
    assert abs(to_numpy(raw(x))[0, 0]) > 1e6
    assert out[0] == pytest.approx(-30 - m["x**5"] - m["sin(2*x)"] * np.sin(2), rel=1e-5)


def test_basis_range_round_trips_and_older_configs_keep_their_meaning():
    layer = TaskNeuronDense(2, "x**2", basis_range="clip", basis_domain=(-2, 3))
    config = layer.get_config()
    assert config["basis_range"] == "clip" and config["basis_domain"] == [-2.0, 3.0]
    again = TaskNeuronDense.from_config(config)
    assert again.basis_range == "clip" and again.basis_domain == (-2.0, 3.0)
    assert TaskNeuronDense.from_config(TaskNeuronDense(2, "x**2").get_config()).basis_range == (
        "running")  # "auto" is stored resolved
    # 0.2 wrote basis_clip=c: the bases saw the input clipped to [-c, c].
    old = {k: v for k, v in config.items() if k not in ("basis_range", "basis_domain", "input_map")}
    loaded = TaskNeuronDense.from_config({**old, "basis_clip": 2.0})
    assert loaded.basis_range == "clip" and loaded.basis_domain == (-2.0, 2.0)
    assert TaskNeuronDense.from_config({**old, "basis_clip": None}).basis_range is None
    assert TaskNeuronDense.from_config(old).basis_range is None  # 0.1: unbounded
    with pytest.raises(ValueError, match="basis_clip=-1"):
        TaskNeuronDense.from_config({**old, "basis_clip": -1})


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(basis_range="clipped"), ValueError, "basis_range='clipped'"),
        (dict(basis_range=1), ValueError, "basis_range=1"),
        (dict(basis_domain=(1, -1)), ValueError, r"basis_domain=\(1, -1\)"),
        (dict(basis_domain=(0, float("inf"))), ValueError, "basis_domain=.0, inf"),
        (dict(basis_domain=1.0), ValueError, "basis_domain=1.0"),
        (dict(basis_domain=(True, 2)), ValueError, "basis_domain=.True, 2"),
        (dict(input_map={"center": [0.0]}), TypeError, "input map"),
        (dict(input_map={"center": [0.0], "scale": [0.0]}), ValueError, "positive"),
        (dict(input_map={"center": ["__import__"], "scale": [1.0]}), TypeError, "numbers"),
        (dict(basis_scale=0), ValueError, "basis_scale=0"),
        (dict(basis_scale=float("nan")), ValueError, "basis_scale=nan"),
        (dict(basis_scale="big"), ValueError, "basis_scale='big'"),
        (dict(linear_basis="yes"), TypeError, "linear_basis='yes'"),
        (dict(normalize_bases=1), TypeError, "normalize_bases=1"),
    ],
)
def test_bad_basis_options_name_the_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        TaskNeuronDense(2, "x**2", **kwargs)


def test_a_seeded_basis_initializer_draws_distinct_blocks():
    seeded = keras.initializers.GlorotUniform(seed=2)
    layer = TaskNeuronDense(3, "x**2 + sin(x) + cos(x)", basis_initializer=seeded)
    layer.build((None, 4))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    blocks = [kernel[4 * k:4 * (k + 1)] for k in range(1, 4)]
    assert not np.allclose(blocks[0], blocks[1]) and not np.allclose(blocks[1], blocks[2])
    again = TaskNeuronDense(3, "x**2 + sin(x) + cos(x)", basis_initializer=seeded)
    again.build((None, 4))
    np.testing.assert_array_equal(  # reproducible (the x block is unseeded here)
        keras.ops.convert_to_numpy(again.kernel)[4:], kernel[4:])


@pytest.mark.parametrize("kind", ["einsum", "conv2d_transpose", "simple_rnn", "lstm", "gru"])
def test_every_new_layer_kind_under_mixed_precision(kind):
    """float16 outputs, float32 kernels and computation, finite training."""
    import keras_taskneurons as ktn

    layers = {
        "einsum": (ktn.TaskNeuronEinsumDense, ("abc,cd->abd", (None, 4)), (5, 3)),
        "conv2d_transpose": (ktn.TaskNeuronConv2DTranspose, (2, 3), (3, 3, 2)),
        "simple_rnn": (ktn.TaskNeuronSimpleRNN, (4,), (5, 3)),
        "lstm": (ktn.TaskNeuronLSTM, (4,), (5, 3)),
        "gru": (ktn.TaskNeuronGRU, (4,), (5, 3)),
    }
    keras.config.set_dtype_policy("mixed_float16")
    cls, args, shape = layers[kind]
    x, y = sample_data(shape=shape)
    model = make_model(dict(formula="x**9 + sin(x)"), layer=(cls, args, shape))
    layer = model.layers[1]
    cell = getattr(layer, "cell", layer)
    assert layer.compute_dtype == "float16" and cell.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float16"
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_numpy_scalars_are_accepted_wherever_python_numbers_are():
    """Arguments computed with numpy (``np.float32(0.1)``, ``np.int64(4)``)
    work as their Python values do, and the configs hold Python numbers."""
    import json

    import keras_taskneurons as ktn

    layers = [
        TaskNeuronDense(np.int64(3), "sin(x)", basis_scale=np.float32(0.25),
                        interaction_rank=np.int32(1), lora_rank=np.int64(2),
                        lora_alpha=np.float64(4.0)),
        ktn.TaskNeuronConv2D(np.int64(2), np.int64(3), strides=(np.int32(1), 1),
                             formula="x**2", basis_scale=np.float64(0.5)),
        ktn.TaskNeuronEinsumDense("ab,bc->ac", np.int64(3), formula="x**2"),
    ]
    inputs = [np.ones((2, 4), "float32"), np.ones((1, 5, 5, 2), "float32"),
              np.ones((2, 4), "float32")]
    for layer, x in zip(layers, inputs):
        config = layer.get_config()
        json.dumps(config)  # plain Python numbers
        twin = type(layer).from_config(config)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)).shape,
                                   keras.ops.convert_to_numpy(twin(x)).shape)
    assert layers[0].basis_scale == 0.25 and isinstance(layers[0].basis_scale, float)
    assert layers[1].kernel_size == (3, 3) and type(layers[1].kernel_size[0]) is int
    with pytest.raises(ValueError, match="basis_scale"):
        TaskNeuronDense(2, "x", basis_scale=np.bool_(True))


def test_every_layer_documents_every_argument_once():
    """layers.arguments completes each docstring's Args: one entry per
    constructor argument, in signature order; an argument documented nowhere
    is refused when the class is defined."""
    import inspect

    import keras_taskneurons
    from keras_taskneurons.layers.arguments import documented

    for name in keras_taskneurons.__all__:
        cls = getattr(keras_taskneurons, name)
        if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
            continue
        documented_names = re.findall(r"^    \**(\w+)(?: \([^)]*\))?:", cls.__doc__, re.M)
        arguments = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert documented_names[:len(arguments)] == arguments, name

    class Undocumented(keras.layers.Layer):
        """A layer.

        Args:
            units: Its units.
        """

        def __init__(self, units, surprise=None, **kwargs):
            super().__init__(**kwargs)

    with pytest.raises(TypeError, match="'surprise' is documented nowhere"):
        documented(Undocumented)
