#!/usr/bin/env bash
# The release artifacts, as a user gets them: build the sdist and the wheel,
# check them, install the wheel (not editable) in a fresh virtual environment
# and, from a folder outside the source tree, run the command line's main job,
# the examples and the Colab notebook against the installed package. The
# notebook's install cell installs the wheel itself ("uploaded wheel" path).
set -euo pipefail
cd "$(dirname "$0")/.."
source=$(pwd)
started=$SECONDS

rm -rf dist
python -m build --outdir dist . > /dev/null
twine check dist/*
python .ci/check_wheel.py dist
wheel=$(ls "$source"/dist/*.whl)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python -m venv "$scratch/env"
env="$scratch/env/bin"
# The wheel's dependencies, then the package removed again: the notebook's
# install cell must find the uploaded wheel and install it.
"$env/pip" install -q "$wheel[cli]" nbclient nbformat ipykernel
"$env/pip" uninstall -q -y keras-taskneurons

work="$scratch/work"
mkdir "$work"
cp "$wheel" "$source"/examples/* "$work/"
cd "$work"
export KERAS_BACKEND=tensorflow MPLBACKEND=Agg
"$env/python" - <<'EOF'
import json
cell = "".join(json.load(open("finetune_in_colab.ipynb"))["cells"][1]["source"])
exec(cell)  # prints which way it installed the package
EOF
"$env/python" - <<'EOF'
import os, sys
import keras_taskneurons
where = os.path.realpath(keras_taskneurons.__file__)
assert where.startswith(os.path.realpath(sys.prefix)), f"imported from {where}, not the installed wheel"
print("keras_taskneurons", keras_taskneurons.__version__, "imported from", where)
EOF
# The README's main job (smaller search and training), with the installed command.
# Then a user's journey with it, one fresh process per command: predict,
# inspect with data, prune, predict with the pruned model, load both from Python.
"$env/keras-taskneurons" fit --compare --generations 3 --population 200 --epochs 5 --output model.keras
test -s model.keras && test -s model.report.json
"$env/python" -c "from sklearn.datasets import load_diabetes; load_diabetes(as_frame=True).frame.iloc[:40].to_csv('rows.csv', index=False)"
"$env/keras-taskneurons" predict model.keras rows.csv --output predictions.csv
"$env/keras-taskneurons" inspect model.keras --data rows.csv
"$env/keras-taskneurons" prune model.keras rows.csv --output pruned.keras
"$env/keras-taskneurons" predict pruned.keras rows.csv --output pruned_predictions.csv
"$env/python" -m keras_taskneurons predict model.keras rows.csv > /dev/null
"$env/python" - <<'EOF'
import keras, pandas as pd
import keras_taskneurons  # registers the layers
x = pd.read_csv("rows.csv").drop(columns="target").to_numpy("float32")
for path, written in (("model.keras", "predictions.csv"), ("pruned.keras", "pruned_predictions.csv")):
    predicted = keras.models.load_model(path).predict(x, verbose=0)[:, 0]
    assert abs(predicted - pd.read_csv(written)["prediction"].to_numpy()).max() < 1e-3, path
print("the journey's models load from Python and predict what the command line wrote")
EOF
export KERAS_TASKNEURONS_QUICK=1
"$env/python" quickstart.py > /dev/null
"$env/python" classification.py > /dev/null
"$env/python" digits_cnn.py > /dev/null
"$env/python" - <<'EOF'
import nbformat
from nbclient import NotebookClient
import os, sys
notebook = nbformat.read("finetune_in_colab.ipynb", as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell(
    "import keras_taskneurons, os; print('kernel imports', os.path.realpath(keras_taskneurons.__file__))"))
NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
assert "already importable" in outputs and "after fine-tuning" in outputs, outputs[-2000:]
assert f"kernel imports {os.path.realpath(sys.prefix)}" in outputs, outputs[-500:]
print("notebook ran against the installed package")
EOF
echo "release artifacts checked in $((SECONDS - started)) s"
