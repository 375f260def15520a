"""The command line's quiet start: framework noise left out, the rest kept."""

import os
import re
import subprocess
import sys
from importlib import metadata

import pytest

from keras_taskneurons.cli import startup

pytestmark = pytest.mark.once  # backend-independent: the TensorFlow pass runs it

BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
NOISE = [
    BANNER,
    "I0000 00:00:1795934768.001789   32656 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1795934768.002141   32656 cudart_stub.cc:31] Could not find cuda drivers",
    "I0000 00:00:1795934768.046756   32656 cpu_feature_guard.cc:227] This TensorFlow binary is",
    "2026-11-29 08:17:18.476640: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on.",
    "2026-11-29 08:17:18.477244: I external/local_tsl/tsl/cuda/cudart_stub.cc:32] Could not find cuda",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.",
]
KEPT = [
    "W0000 00:00:1795934768.002141   32656 port.cc:99] a real warning",
    "E0000 00:00:1795934768.002141   32656 cudart_stub.cc:31] a real error",
    "I0000 00:00:1795934768.002141   32656 some_other_file.cc:31] information from elsewhere",
    "/path/module.py:3: UserWarning: a Python warning",
]


def test_only_the_start_up_notices_are_left_out():
    text = "\n".join(NOISE + KEPT) + "\n"
    assert startup.filtered(text) == "\n".join(KEPT) + "\n"


def test_import_quietly_passes_on_everything_but_the_noise(tmp_path, monkeypatch, capfd):
    module = tmp_path / "noisy_module_for_test.py"
    lines = "\\n".join(NOISE[:3] + KEPT[:2])
    module.write_text(f"import os\nos.write(2, b'{lines}\\n')\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert startup.import_quietly("noisy_module_for_test").VALUE == 42
    err = capfd.readouterr().err
    assert all(line in err for line in KEPT[:2]), err
    assert not any(line in err for line in NOISE), err


def test_the_command_line_is_recognized():
    assert startup.is_command_line(["/usr/bin/keras-taskneurons", "fit"])
    assert startup.is_command_line(["-m"], ["python", "-m", "keras_taskneurons", "fit"])
    assert startup.is_command_line(["-m"], ["python3", "-X", "utf8", "-mkeras_taskneurons"])
    # another program run with -m that imports the package is not the command line
    assert not startup.is_command_line(["-m"], ["python", "-m", "user_program"])
    assert not startup.is_command_line(["-m"], ["python", "script.py", "-m", "keras_taskneurons"])
    assert not startup.is_command_line(["/usr/bin/python", "script.py"])
    assert not startup.is_command_line([])
    assert startup.wants_everything(["keras-taskneurons", "--verbose", "fit"], {})
    assert startup.wants_everything(["keras-taskneurons"], {startup.VERBOSE_VARIABLE: "1"})
    assert not startup.wants_everything(["keras-taskneurons"], {startup.VERBOSE_VARIABLE: "0"})


def _undated(text):
    """``text`` without the times and process ids that differ between runs."""
    text = re.sub(r"(?m)^\d{4}-\d\d-\d\d [\d:.]+: ", "", text)
    return re.sub(r"(?m)^([IWEF])\d{4} [\d:.]+\s+\d+ ", r"\1 ", text)


def _start(*extra, environment=None):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", **(environment or {}))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "keras_taskneurons", *extra, "inspect", "missing-model.keras"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    # A command runs (so Keras and its backend are imported), then stops at
    # its first check with one error line.
    assert done.returncode == 2, done.stderr
    assert "keras-taskneurons: error: " in done.stderr and "missing-model.keras" in done.stderr
    return done.stderr


def test_the_command_line_starts_quietly_and_verbose_shows_everything():
    quiet, everything = _start(), _start("--verbose")
    assert not any(pattern.match(line) for pattern in startup.NOISE
                   for line in quiet.splitlines()), quiet
    # What --verbose adds is only the noise (TensorFlow, a dependency, prints
    # its start-up notices when nothing filters them).
    assert _undated(startup.filtered(everything)) == _undated(quiet)
    tensorflow = tuple(int(p) for p in metadata.version("tensorflow").split(".")[:2])
    if tensorflow >= (2, 20):  # its notices ignore TF_CPP_MIN_LOG_LEVEL since 2.20
        assert BANNER in everything, everything
        # older versions add warnings of their own (TensorRT, cuFFT)
        assert quiet.startswith("keras-taskneurons: error: "), quiet


def test_help_answers_without_importing_a_backend():
    import time

    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    for argv in (["--help"], ["fit", "--help"], ["prune", "--help"]):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_taskneurons",
                               *argv], capture_output=True, text=True, env=env, timeout=120)
        seconds = time.perf_counter() - start
        assert done.returncode == 0 and "usage: keras-taskneurons" in done.stdout, done.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "keras_taskneurons.cli" in imported
        assert not imported & {"keras", "tensorflow", "jax", "torch", "sklearn"}, argv
        assert seconds < 3.0, (argv, seconds)


def test_a_whole_fit_writes_nothing_but_real_warnings_to_stderr(tmp_path):
    """No banner, no cuInit failure on a machine without a GPU, no
    tf.function retracing lines; the search's notes go to stdout."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "keras_taskneurons", "fit", "--compare", "--epochs", "3",
         "--generations", "2", "--population", "60", "--hidden", "8", "--quiet",
         "--output", str(tmp_path / "m.keras")],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "test results" in done.stdout
    noise = [line for line in done.stderr.splitlines()
             if "cuInit" in line or "retracing" in line or "absl::InitializeLog" in line
             or any(pattern.match(line) for pattern in startup.NOISE)]
    assert noise == [], done.stderr


def test_the_public_names_are_the_ones_type_checkers_see():
    """``_HOMES`` (what ``_load_public`` imports, and ``__all__``) and the
    imports under ``TYPE_CHECKING`` (what IDEs and the API pages read) name
    the same objects from the same modules."""
    import ast

    import keras_taskneurons

    tree = ast.parse(open(keras_taskneurons.__file__, encoding="utf-8").read())
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING")
    seen = {alias.name: node.module.removeprefix("keras_taskneurons.")
            for node in guarded.body for alias in node.names}
    assert seen == keras_taskneurons._HOMES
    assert keras_taskneurons.__all__ == list(keras_taskneurons._HOMES)
    for name, home in keras_taskneurons._HOMES.items():
        module = sys.modules[f"keras_taskneurons.{home}"]
        assert getattr(keras_taskneurons, name) is getattr(module, name), name
