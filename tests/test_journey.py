"""A user's first hour, as a shell runs it: the installed console script in a
fresh process per command, then the saved models loaded from plain Python.

Each step is its own process (``cli.main()`` inside the test's process would
see the layers the test process has registered already, which a user's
process has not).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import BACKEND

# The plumbing checked here (the console script, one fresh process per
# command, the layers registered before a load) does not depend on the
# backend; test_cli fits, predicts and reloads on every backend.
pytestmark = pytest.mark.once

SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-taskneurons")
SMALL = ["--generations", "2", "--population", "60", "--epochs", "3", "--hidden", "8",
         "--quiet"]


def shell(*argv, cwd):
    """Run one command in a fresh process; it must exit 0 without a traceback."""
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)  # the installed package, as a user has it
    done = subprocess.run(list(argv), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)
    shown = f"$ {' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    assert "Traceback" not in done.stderr, shown
    return done.stdout


def features_csv(path, rows=40):
    """Rows of the diabetes features (the main job's bundled data), with
    its target column, as a user's CSV has them."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame.iloc[:rows].to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    assert os.path.isfile(SCRIPT), f"the console script is not installed at {SCRIPT}"
    folder = tmp_path_factory.mktemp("journey")
    rows = features_csv(folder / "rows.csv")
    return folder, rows


def test_fit_predict_inspect_prune_predict_and_load_from_python(journey):
    folder, rows = journey
    out = shell(SCRIPT, "fit", "--compare", "--output", "m.keras", *SMALL, cwd=folder)
    assert "saved m.keras" in out
    out = shell(SCRIPT, "predict", "m.keras", rows, "--output", "p.csv", cwd=folder)
    assert "wrote 40 predictions to p.csv" in out
    out = shell(SCRIPT, "inspect", "m.keras", "--data", rows, cwd=folder)
    assert "formula: " in out and "share of the output on" in out
    shell(SCRIPT, "prune", "m.keras", rows, "--output", "pruned.keras", cwd=folder)
    out = shell(SCRIPT, "predict", "pruned.keras", rows, "--output", "q.csv", cwd=folder)
    assert "wrote 40 predictions to q.csv" in out
    # python -m keras_taskneurons is the same command line.
    out = shell(sys.executable, "-m", "keras_taskneurons", "predict", "m.keras", rows,
                cwd=folder)
    assert out.splitlines()[0] == "prediction" and len(out.splitlines()) == 41

    # Both models from plain Python, after `import keras_taskneurons`, predict
    # what the command line wrote.
    out = shell(sys.executable, "-c", (
        "import sys, keras, numpy as np, pandas as pd, keras_taskneurons\n"
        "x = pd.read_csv(sys.argv[1]).drop(columns='target').to_numpy('float32')\n"
        "for model, written in (('m.keras', 'p.csv'), ('pruned.keras', 'q.csv')):\n"
        "    p = keras.models.load_model(model).predict(x, verbose=0)[:, 0]\n"
        "    q = pd.read_csv(written)['prediction'].to_numpy()\n"
        "    print(model, float(np.max(np.abs(p - q) / (1 + np.abs(q)))))\n"
    ), rows, cwd=folder)
    errors = dict(line.split() for line in out.splitlines())
    assert set(errors) == {"m.keras", "pruned.keras"}
    assert all(float(error) < 1e-4 for error in errors.values()), out


def test_a_program_run_with_python_m_that_imports_the_package_loads_models(journey, tmp_path):
    """``python -m yourpackage`` imports the package while ``sys.argv[0]`` is
    ``"-m"``, as the command line's does: the layers must still register."""
    import keras

    from keras_taskneurons import TaskNeuronDense

    model = keras.Sequential([keras.Input((3,)), TaskNeuronDense(2, formula="x**2 + x")])
    model.save(tmp_path / "small.keras")
    package = tmp_path / "user_program"
    package.mkdir()
    (package / "__init__.py").write_text("import keras_taskneurons  # registers the layers\n")
    (package / "__main__.py").write_text(
        "import sys, keras, numpy as np\n"
        "model = keras.models.load_model(sys.argv[1])\n"
        "print(model.predict(np.ones((1, 3), 'float32'), verbose=0).shape)\n"
    )
    out = shell(sys.executable, "-m", "user_program", str(tmp_path / "small.keras"),
                cwd=tmp_path)
    assert out.strip() == "(1, 2)"
    np.testing.assert_equal(model.predict(np.ones((1, 3), "float32"), verbose=0).shape, (1, 2))
