"""Every example runs, at small sizes, so none of them rots."""

import os
import subprocess
import sys

import pytest

from tests.helpers import BACKEND, ROOT

EXAMPLES = os.path.join(ROOT, "examples")
QUICK_ENV = dict(
    os.environ, KERAS_TASKNEURONS_QUICK="1", KERAS_BACKEND=BACKEND,
    TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg",
    PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
)


@pytest.mark.parametrize("script", ["quickstart.py", "classification.py"])
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
