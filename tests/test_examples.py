"""Every example runs, at small sizes, so none of them rots."""

import os
import subprocess
import sys

import pytest

from tests.helpers import BACKEND, ROOT

pytestmark = pytest.mark.once  # backend-independent: the TensorFlow pass runs it

EXAMPLES = os.path.join(ROOT, "examples")
QUICK_ENV = dict(
    os.environ, KERAS_TASKNEURONS_QUICK="1", KERAS_BACKEND=BACKEND,
    TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg",
    PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
)


@pytest.mark.parametrize("script", ["quickstart.py", "classification.py", "digits_cnn.py"])
def test_example_script_runs(script, tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script)],
        cwd=tmp_path, env=QUICK_ENV, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "f(x) =" in result.stdout
    assert list(tmp_path.glob("*.keras")), "the example saves its model"


def test_colab_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    for name, value in QUICK_ENV.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(os.path.join(EXAMPLES, "finetune_in_colab.ipynb"), as_version=4)
    assert "pip" in notebook.cells[1].source  # the install cell is there (skipped here)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "after fine-tuning" in outputs
    assert "max difference after reload" in outputs
    assert (tmp_path / "finetuned.keras").exists()


# --- the notebook's install cell ------------------------------------------------------------


def _install_cell(monkeypatch, importable, folder, url=""):
    """Run the install cell's function with pip and the import check faked;
    return (result, the pip sources tried)."""
    import importlib.util
    import json

    with open(os.path.join(EXAMPLES, "finetune_in_colab.ipynb"), encoding="utf-8") as handle:
        source = "".join(json.load(handle)["cells"][1]["source"])
    namespace = {}
    exec(compile(source, "install-cell", "exec"), namespace)  # our own notebook's code
    tried = []

    def pip(command):
        tried.append(command[-1])
        return 0 if command[-1] != "keras-taskneurons" else 1  # not on the index yet

    with monkeypatch.context() as patch:
        patch.setattr(subprocess, "call", pip)
        patch.setattr(importlib.util, "find_spec", lambda name: object() if importable else None)
        try:
            return namespace["install_keras_taskneurons"](url=url, folder=str(folder)), tried
        except RuntimeError as error:
            return error, tried


def test_install_cell_does_nothing_when_the_package_is_importable(monkeypatch, tmp_path):
    (tmp_path / "keras_taskneurons-0.2.0-py3-none-any.whl").write_text("")
    assert _install_cell(monkeypatch, True, tmp_path) == ("already importable", [])


def test_install_cell_prefers_an_uploaded_wheel_then_the_url(monkeypatch, tmp_path):
    old, new = (tmp_path / f"keras_taskneurons-0.{v}.0-py3-none-any.whl" for v in (1, 2))
    old.write_text("")
    new.write_text("")
    os.utime(old, (1, 1))  # uploaded earlier
    assert _install_cell(monkeypatch, False, tmp_path, url="git+https://x/y") == (str(new), [str(new)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _install_cell(monkeypatch, False, empty, url="git+https://x/y") == (
        "git+https://x/y", ["git+https://x/y"])


def test_install_cell_says_what_to_do_when_nothing_works(monkeypatch, tmp_path):
    error, tried = _install_cell(monkeypatch, False, tmp_path)
    assert tried == ["keras-taskneurons"]
    assert isinstance(error, RuntimeError) and "upload the wheel" in str(error)
    assert "PACKAGE_URL" in str(error)
