"""Task-based recurrent and Transformer layers against the plain ones, on
sequences that ship offline.

Data, per seed an 8:2 split: scikit-learn's digits read row by row as
8-step sequences of 8 pixels (classification, test accuracy), and a
generated time series (two sines, a slow drift and noise; windows of 16
steps predict the next value; test MSE on the standardized target). The
README recipe for sequences: the search's defaults but ``scaling="global"``
(every step and feature one unit, as for images) on the flattened training
sequences, ``make = search.layer_factory()``. Models, each against its plain
twin widened (by 2) until it has at least as many parameters: ``LSTM(32)``, ``GRU(32)`` (``make.lstm``,
``make.gru``), and a Transformer block (an input projection to 32, 2-head
self-attention, a feed-forward 64 → 32, residuals and LayerNorm, average
pooling) whose input projection (``make.einsum_dense``) and feed-forward
layers (``make(64, activation="relu")``, ``make(32)``) are task-based; a
softmax or linear head. Both train alike: Adam 1e-3, batch 64, at most
``--epochs`` epochs, early stopping (patience 8) on the last 10 % of the
training rows. Reported: mean (std) over seeds, paired seeds TN beat LN,
parameters, and the training-step time ratio TN / the plain twin of the SAME width (median of 20 steps
of batch 64 after warm-up) on the backend of the run (``--timing`` runs the
timing only, for the other backends). One result file per dataset, seed and
backend (``results/sequence/``), merged by the report step.

    python benchmarks/sequence.py --seeds 10
    KERAS_BACKEND=torch python benchmarks/sequence.py --timing
    python benchmarks/sequence.py --report-only
    python benchmarks/sequence.py --quick          # CI: tiny sizes
"""

import glob
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "sequence")
MODELS = ("LSTM", "GRU", "Transformer")
PATIENCE = 8


def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype("float32"), data.target.astype("int64"), "classification"


def series(n=2400, window=16, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + window, dtype="float64")
    values = (np.sin(0.21 * t) + 0.6 * np.sin(0.047 * t + 1.0) + 0.002 * t
              + 0.1 * rng.normal(size=t.shape))
    X = np.stack([values[i:i + window] for i in range(n)])[..., None]
    return X.astype("float32"), values[window:window + n].astype("float32"), "regression"


DATASETS = {"digits rows": digits, "time series": series}


def split(name, seed, quick):
    from sklearn.model_selection import train_test_split

    X, y, task = DATASETS[name]()
    if quick:
        X, y = X[:200], y[:200]
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                   stratify=y if task == "classification" else None)
    if task == "regression":
        mean, std = y[train].mean(), y[train].std()
        y = ((y - mean) / std).astype("float32")
    return task, X[train], y[train], X[test], y[test]


def build(kind, make, steps, features, n_outputs, task, width=32):
    """The model of ``kind``, task-based with ``make``, plain without;
    ``width``: the recurrent units, or the Transformer's model width (its
    feed-forward is twice as wide)."""
    import keras

    head = keras.layers.Dense(n_outputs, activation="softmax" if task == "classification" else None)
    inputs = keras.Input((steps, features))
    if kind in ("LSTM", "GRU"):
        if make is None:
            hidden = getattr(keras.layers, kind)(width)(inputs)
        else:
            hidden = getattr(make, kind.lower())(width, first=True)(inputs)
        return keras.Model(inputs, head(hidden))
    if make is None:
        x = keras.layers.EinsumDense("abc,cd->abd", (None, width), bias_axes="d")(inputs)
    else:
        x = make.einsum_dense("abc,cd->abd", (None, width), bias_axes="d", first=True)(inputs)
    attended = keras.layers.MultiHeadAttention(2, 16)(x, x)
    x = keras.layers.LayerNormalization()(x + attended)
    if make is None:
        forward = keras.layers.Dense(width)(keras.layers.Dense(2 * width, activation="relu")(x))
    else:
        forward = make(width)(make(2 * width, activation="relu")(x))
    x = keras.layers.LayerNormalization()(x + forward)
    return keras.Model(inputs, head(keras.layers.GlobalAveragePooling1D()(x)))


def step_time(model, X, y, task, repeats=20):
    import keras

    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    batch = X[:64], y[:64]
    for _ in range(3):
        model.train_on_batch(*batch)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.train_on_batch(*batch)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def search(X, y, task, seed, quick):
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    Search = VectorizedSymbolicClassifier if task == "classification" else VectorizedSymbolicRegressor
    found = Search(random_state=seed, scaling="global",
                   **(dict(population_size=100, generations=2) if quick else {}))
    return found.fit(X.reshape(len(X), -1), y)


def run(name, seed, epochs, quick, timing_only=False):
    import keras

    task, X, y, X_test, y_test = split(name, seed, quick)
    n_outputs = int(y.max()) + 1 if task == "classification" else 1
    started = time.perf_counter()
    found = search(X, y, task, seed, quick)
    result = {"dataset": name, "seed": seed, "task": task, "backend": keras.backend.backend(),
              "formula": found.formula_.format(3), "search_seconds": time.perf_counter() - started}
    shape = (X.shape[1], X.shape[2], n_outputs, task)
    for kind in MODELS:
        keras.utils.set_random_seed(seed)
        tn = build(kind, found.layer_factory(), *shape)
        same = build(kind, None, *shape)
        result[f"{kind} TN params"] = tn.count_params()
        result[f"{kind} step ratio"] = step_time(tn, X, y, task) / step_time(same, X, y, task)
        if timing_only:
            continue
        width = 32  # the plain twin widened until it has at least the TN's parameters
        while build(kind, None, *shape, width=width).count_params() < tn.count_params():
            width += 2
        result[f"{kind} LN width"] = width
        for variant in ("TN", "LN"):
            keras.utils.set_random_seed(seed)
            model = (build(kind, found.layer_factory(), *shape) if variant == "TN"
                     else build(kind, None, *shape, width=width))
            result[f"{kind} {variant} params"] = model.count_params()
            result[f"{kind} {variant}"] = recipe.fit_and_score(
                model, X, y, X_test, y_test, task, epochs, seed, batch_size=64, patience=PATIENCE)
        if not timing_only:
            print(f"{name} seed {seed} {kind}: TN {result[kind + ' TN']:.4f} "
                  f"LN {result[kind + ' LN']:.4f}", flush=True)
    return result


def _path(name, seed, backend, timing_only):
    stem = name.replace(" ", "_") + f"_seed{seed}_{backend}" + ("_timing" if timing_only else "")
    return os.path.join(FOLDER, stem + ".json")


def report(results, quick, argv):

    accuracy = [r for r in results if "LSTM TN" in r]
    rows = []
    for name in DATASETS:
        runs = [r for r in accuracy if r["dataset"] == name]
        if not runs:
            continue
        classification = runs[0]["task"] == "classification"
        for kind in MODELS:
            tn = [r[kind + " TN"] for r in runs]
            ln = [r[kind + " LN"] for r in runs]
            wins = sum((t > linear) if classification else (t < linear) for t, linear in zip(tn, ln))
            rows.append([name, kind, "accuracy ↑" if classification else "MSE ↓",
                         common.summary(ln), common.summary(tn), f"{wins}/{len(runs)}",
                         f"{runs[0][kind + ' TN params']} / {runs[0][kind + ' LN params']} "
                         f"(width {runs[0][kind + ' LN width']})"])
    timing_rows = []
    for backend in ("tensorflow", "jax", "torch"):
        timed = [r for r in results if r["backend"] == backend]
        if timed:
            timing_rows.append([backend] + [
                "{:.2f}".format(np.median([r[k + " step ratio"] for r in timed])) for k in MODELS])
    seeds = max((len([r for r in accuracy if r["dataset"] == n]) for n in DATASETS), default=0)
    text = common.header("Task-based sequence layers against the plain ones", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Accuracy runs: backend {accuracy[0]['backend'] if accuracy else '-'}, "
        f"up to {seeds} seeds. Formula (seed 0): "
        + "; ".join(f"{r['dataset']}: `{r['formula']}`" for r in accuracy if r["seed"] == 0),
        "",
        common.table(["dataset", "model", "metric", "plain (widened)", "task-based",
                      "paired seeds TN better", "params TN / plain"], rows),
        "",
        "Training-step time, task-based / plain of the same width (median over runs; "
        "batch 64, CPU, this machine):",
        "",
        common.table(["backend", *MODELS], timing_rows),
        "",
    ])
    common.write_results("sequence", text, results, quick, lambda raw: None)
    print(text)


def main():
    parser = common.argument_parser(__doc__, "sequence")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--timing", action="store_true", help="step times only (this backend)")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    import keras

    if args.quick:
        results = [run(name, 0, 2, True) for name in DATASETS]
        report(results, True, sys.argv)
        return
    os.makedirs(FOLDER, exist_ok=True)
    backend = keras.backend.backend()
    if not args.report_only:
        seeds = range(1) if args.timing else range(args.seeds)
        for seed in seeds:
            for name in DATASETS:
                path = _path(name, seed, backend, args.timing)
                if os.path.exists(path):
                    continue
                result = run(name, seed, args.epochs, False, args.timing)
                with open(path + ".tmp", "w") as handle:
                    json.dump(result, handle, indent=1)
                os.replace(path + ".tmp", path)
    results = []
    for path in sorted(glob.glob(os.path.join(FOLDER, "*.json"))):
        with open(path) as handle:
            results.append(json.load(handle))
    report(results, False, sys.argv)


if __name__ == "__main__":
    main()
