"""Saving and loading task-neuron layers: new processes, other backends, tampered files, configs."""

import json
import re
import time
import zipfile

import keras
import numpy as np
import pytest

from keras_taskneurons import Formula, TaskNeuronDense
from tests.helpers import (
    CONFIGS,
    BACKEND,
    INSTALLED_BACKENDS,
    load_in_subprocess,
    make_model,
    sample_data,
    to_numpy,
)



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
