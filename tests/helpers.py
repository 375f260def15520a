"""Test helpers shared by the layer tests: round trips and gradients."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

import keras_taskneurons

BACKEND = keras.backend.backend()
BACKENDS = ("tensorflow", "jax", "torch")
INSTALLED_BACKENDS = tuple(b for b in BACKENDS if importlib.util.find_spec(b) is not None)
"""The backends this environment has (CI's main run has all three; its
lowest-versions run has TensorFlow only)."""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def to_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def gradient(function, *arguments):
    """Gradients of ``sum(function(*arguments))`` w.r.t. every argument.

    Tests may use backend APIs; the package itself never does.
    """
    arguments = [keras.ops.convert_to_tensor(a) for a in arguments]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for a in arguments:
                tape.watch(a)
            total = tf.reduce_sum(function(*arguments))
        grads = tape.gradient(total, arguments)
    elif BACKEND == "jax":
        import jax

        grads = jax.grad(
            lambda *a: function(*a).sum(), argnums=tuple(range(len(arguments)))
        )(*arguments)
    else:  # torch
        arguments = [a.detach().clone().requires_grad_(True) for a in arguments]
        function(*arguments).sum().backward()
        grads = [a.grad for a in arguments]
    return [
        np.zeros(to_numpy(a).shape) if g is None else to_numpy(g)
        for a, g in zip(arguments, grads)
    ]


def variable_gradients(model, x, y):
    """Gradients of the MSE loss w.r.t. every trainable variable."""
    variables = model.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, variables)
    elif BACKEND == "jax":
        import jax

        def loss_fn(values):
            outputs, _ = model.stateless_call(
                values, [v.value for v in model.non_trainable_variables], x
            )
            return ((outputs - y) ** 2).mean()

        grads = jax.grad(loss_fn)([v.value for v in variables])
    else:
        import torch

        model.zero_grad()
        loss = ((model(x) - torch.as_tensor(y)) ** 2).mean()
        loss.backward()
        grads = [v.value.grad for v in variables]
    return [to_numpy(g) for g in grads]


def assert_keras_twin(ours, theirs, x, rtol=0.0):
    """``ours`` (a task-neuron layer with formula ``"x"``) is ``theirs`` (the
    Keras layer of the same arguments): same weight layout, and given
    ``theirs``'s (random, non-zero) weights the same outputs (bit for bit
    unless ``rtol``) and the true output shape."""
    theirs(x)
    weights = [np.random.default_rng(i).normal(size=w.shape).astype("float32")
               for i, w in enumerate(theirs.weights)]
    theirs.set_weights(weights)
    ours.build(x.shape)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(weights)
    expected = to_numpy(theirs(x))
    if rtol:
        np.testing.assert_allclose(to_numpy(ours(x)), expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(to_numpy(ours(x)), expected)
    assert tuple(ours.compute_output_shape(x.shape)) == expected.shape


def make_model(layer_kwargs, input_dim=3, units=4, seed=0, layer=None):
    """A small functional model: the task-neuron layer -> Dense(1).

    ``layer`` is ``(class, positional arguments, input shape)``; by default
    ``TaskNeuronDense(units)`` on ``input_dim`` features. Other layers'
    outputs are flattened before the Dense.
    """
    keras.utils.set_random_seed(seed)
    cls, args, shape = layer or (keras_taskneurons.TaskNeuronDense, (units,), (input_dim,))
    inputs = keras.Input(shape)
    hidden = cls(*args, **layer_kwargs)(inputs)
    if len(hidden.shape) > 2:
        hidden = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(1)(hidden)
    return keras.Model(inputs, outputs)


def sample_data(input_dim=3, n=64, seed=0, shape=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=(n, *(shape or (input_dim,)))).astype("float32")
    y = (np.sin(2 * x).reshape(n, -1).sum(axis=1, keepdims=True) + 0.3).astype("float32")
    return x, y


def run_layer_checks(layer_kwargs, tmp_path, layer=None):
    """Every check a layer configuration must pass, for any task-neuron layer.

    Config and JSON round trip, ``.keras`` round trip, finite gradients and
    one training step that lowers the loss. ``layer`` is ``(class,
    positional arguments, input shape)`` (default: ``TaskNeuronDense(5)`` on
    3 features). Returns the saved model's path, its inputs and its
    predictions, so a caller can reload it in another process.
    """
    cls, args, shape = layer or (keras_taskneurons.TaskNeuronDense, (5,), (3,))
    layer = cls(*args, **layer_kwargs)
    config = layer.get_config()
    assert isinstance(config["formula"], str)
    # Config round trip.
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert clone.formula == layer.formula
    # Its config as keyword arguments, as Keras's own layers take theirs
    # (keras.models.clone_model with a clone_function relies on it).
    assert cls(**config).get_config() == config
    # JSON round trip through Keras's own serialization.
    text = json.dumps(keras.saving.serialize_keras_object(layer))
    revived = keras.saving.deserialize_keras_object(json.loads(text))
    assert isinstance(revived, cls)
    assert revived.get_config() == config

    x, y = sample_data(shape=shape)
    model = make_model(layer_kwargs, layer=(cls, args, shape))
    grads = variable_gradients(model, x, y)
    assert len(grads) == len(model.trainable_variables)
    for grad, variable in zip(grads, model.trainable_variables):
        assert np.all(np.isfinite(grad)), variable.path
    assert any(np.any(g != 0) for g in grads[:-2])  # the task-neuron layer learns

    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < before

    # .keras round trip, in process; the reloaded model keeps training.
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    expected = to_numpy(model.predict(x, verbose=0))
    np.testing.assert_allclose(
        to_numpy(reloaded.predict(x, verbose=0)), expected, rtol=1e-6, atol=1e-6
    )
    reloaded.fit(x, y, epochs=1, batch_size=len(x), verbose=0)
    return path, x, expected


LOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import keras_taskneurons  # registers the layer
    cases = json.load(open(sys.argv[1]))
    worst = 0.0
    for case in cases:
        model = keras.models.load_model(case["path"])
        x = np.load(case["x"])
        expected = np.load(case["expected"])
        got = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
        error = float(np.max(np.abs(got - expected)))
        if not error <= 1e-6 * (1 + float(np.max(np.abs(expected)))):
            print("MISMATCH", case["path"], error)
            sys.exit(1)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, expected, epochs=1, verbose=0)
        worst = max(worst, error)
    print("OK", len(cases), worst)
    """
)


def load_in_subprocess(cases, tmp_path, backend=BACKEND):
    """Load saved models in a NEW process (optionally another backend).

    ``cases`` is a list of ``(path, x, expected)``. Returns the process's
    stdout; raises ``AssertionError`` on any mismatch.
    """
    records = []
    for index, (path, x, expected) in enumerate(cases):
        x_path = str(tmp_path / f"x{index}.npy")
        y_path = str(tmp_path / f"y{index}.npy")
        np.save(x_path, x)
        np.save(y_path, expected)
        records.append({"path": path, "x": x_path, "expected": y_path})
    manifest = tmp_path / "cases.json"
    manifest.write_text(json.dumps(records))
    return run_python(LOAD_SCRIPT, str(manifest), backend=backend)


def run_python(source, *args, backend=BACKEND, cwd=None):
    """Run ``source`` in a fresh interpreter; return stdout, fail on error."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", source, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    return result.stdout

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


def sequences(n=3, steps=6, features=4, seed=0):
    """``(n, steps, features)`` float32 normal values: a batch of sequences."""
    return np.random.default_rng(seed).normal(size=(n, steps, features)).astype("float32")
