"""Linear vs task-based networks on the paper's tabular datasets (offline).

Protocol (the paper's, with its gaps filled as stated): features scaled to
[-1, 1] and regression targets to [0, 1] with the training split's min/max,
8:2 train/test split per seed, 10% of the training split held out for early
stopping. Per seed, VSR (polynomial function set, the paper's setting) runs on
the training split; the task-based network (TN) uses that formula in every
hidden layer with tanh (so every layer's inputs stay in [-1, 1], where the
formula was searched), the linear network (LN) uses ReLU Dense layers widened
until it has MORE parameters than the TN. Both train with one fixed recipe, chosen before
the runs and not tuned per network kind: Adam (learning rate 1e-3), batch 64
(256 above 10,000 training rows), at most ``--epochs`` epochs, early stopping
on the validation loss with patience 20 and the best weights restored.
Reported: test MSE on the normalized target (regression) or test accuracy,
mean (std) over seeds; scikit-learn's HistGradientBoosting as the tree-model
reference.

    python benchmarks/tabular.py                       # full: 10 seeds
    python benchmarks/tabular.py --seeds 3 --epochs 100
    python benchmarks/tabular.py --quick               # CI: tiny sizes
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import datasets  # noqa: E402

STRUCTURES = {"S1": [16], "S2": [32, 16], "S3": [64, 32, 16]}


def prepare(X, y, task, seed, quick):
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    if quick and len(y) > 300:
        keep = rng.choice(len(y), 300, replace=False)
        X, y = X[keep], y[keep]
    stratify = y if task == "classification" else None
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                   stratify=stratify)
    low, high = X[train].min(axis=0), X[train].max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    Xs = (2 * (X - low) / span - 1).astype("float32")
    if task == "regression":
        y_low, y_high = y[train].min(), y[train].max()
        ys = ((y - y_low) / (y_high - y_low)).astype("float32")
    else:
        ys = y.astype("int64")
    return Xs[train], ys[train], Xs[test], ys[test]


def network(kind, sizes, n_features, n_outputs, task, formula):
    import keras

    from keras_taskneurons import TaskNeuronDense

    layers = [keras.Input((n_features,))]
    for size in sizes:
        # TN: tanh keeps every layer's inputs in [-1, 1], the range the formula
        # was searched on (relu lets x**k of large activations explode in deep
        # stacks); LN: relu, the standard for linear neurons.
        layers.append(TaskNeuronDense(size, formula, activation="tanh") if kind == "TN"
                      else keras.layers.Dense(size, activation="relu"))
    layers.append(keras.layers.Dense(n_outputs, activation="softmax" if task == "classification" else None))
    return keras.Sequential(layers)


def linear_sizes(sizes, n_features, n_outputs, tn_parameters):
    from keras_taskneurons.cli import _linear_parameters, matching_linear_sizes

    widths = matching_linear_sizes(sizes, n_features, n_outputs, tn_parameters + 1)
    assert _linear_parameters(widths, n_features, n_outputs) > tn_parameters
    return widths


def train_and_test(model, data, task, epochs, seed):
    import keras

    keras.utils.set_random_seed(seed)
    X, y, X_test, y_test = data
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(X, y, validation_split=0.1, epochs=epochs,
              batch_size=256 if len(y) > 10_000 else 64, verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)])
    prediction = np.asarray(model.predict(X_test, verbose=0))
    if task == "classification":
        return float(np.mean(prediction.argmax(axis=1) == y_test))
    return float(np.mean((prediction[:, 0] - y_test) ** 2))


def tree_reference(data, task, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X, y, X_test, y_test = data
    if task == "classification":
        model = HistGradientBoostingClassifier(random_state=seed).fit(X, y)
        return float(np.mean(model.predict(X_test) == y_test))
    model = HistGradientBoostingRegressor(random_state=seed).fit(X, y)
    return float(np.mean((model.predict(X_test) - y_test) ** 2))


def search_formula(data, task, seed, quick):
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    Search = VectorizedSymbolicClassifier if task == "classification" else VectorizedSymbolicRegressor
    search = Search(
        function_set=("add", "sub", "mul"), standardize=False, random_state=seed,
        parsimony_coefficient=0.002,
        **(dict(population_size=100, generations=2) if quick else {}),
    )
    start = time.perf_counter()
    search.fit(data[0], data[1])
    return search.formula_, time.perf_counter() - start


def summary(values):
    return f"{np.mean(values):.4f} ({np.std(values):.4f})"


def main():
    parser = common.argument_parser(__doc__, "tabular")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--datasets", default=None, help="comma-separated subset")
    args = parser.parse_args()
    if args.plot_only:
        plot(common.read_results("tabular"))
        return
    import keras

    names = list(datasets.DATASETS)
    if args.datasets:
        names = [n for n in names if any(part.strip() in n for part in args.datasets.split(","))]
    if args.quick:
        names = ["airfoil self noise", "vehicle"]
    seeds = 1 if args.quick else args.seeds
    epochs = 2 if args.quick else args.epochs
    structures = {"S1": STRUCTURES["S1"]} if args.quick else STRUCTURES
    rows, formulas, raw = [], [], []
    wins = total = 0
    for name in names:
        loader, task, paper = datasets.DATASETS[name]
        X, y = loader()
        n_outputs = len(np.unique(y)) if task == "classification" else 1
        results = {s: {"TN": [], "LN": [], "params": None} for s in structures}
        trees, search_seconds = [], []
        for seed in range(seeds):
            data = prepare(X, y, task, seed, args.quick)
            formula, seconds = search_formula(data, task, seed, args.quick)
            search_seconds.append(seconds)
            if seed == 0:
                formulas.append([name, f"{len(y)} × {X.shape[1]}", f"`{formula.format(3)}`"])
            trees.append(tree_reference(data, task, seed))
            for label, sizes in structures.items():
                tn = network("TN", sizes, X.shape[1], n_outputs, task, formula)
                widths = linear_sizes(sizes, X.shape[1], n_outputs, tn.count_params())
                ln = network("LN", widths, X.shape[1], n_outputs, task, None)
                results[label]["params"] = (tn.count_params(), ln.count_params(), widths)
                for kind, model in (("TN", tn), ("LN", ln)):
                    score = train_and_test(model, data, task, epochs, seed)
                    results[label][kind].append(score)
                    raw.append({"dataset": name, "seed": seed, "structure": label,
                                "network": kind, "score": score, "formula": str(formula)})
                print(f"{name} seed {seed} {label}: TN {results[label]['TN'][-1]:.4f} "
                      f"LN {results[label]['LN'][-1]:.4f}", flush=True)
        formulas[-1].append(f"{np.median(search_seconds):.1f}")
        for label, result in results.items():
            better = (np.mean(result["TN"]) > np.mean(result["LN"])) if task == "classification" \
                else (np.mean(result["TN"]) < np.mean(result["LN"]))
            wins += int(better)
            total += 1
            tn_params, ln_params, widths = result["params"]
            rows.append([
                name, "accuracy ↑" if task == "classification" else "MSE ↓", label,
                f"{STRUCTURES[label]} / {widths}", f"{tn_params} / {ln_params}",
                summary(result["LN"]), summary(result["TN"]), "TN" if better else "LN",
                summary(trees), " / ".join(paper) if paper and label == "S1" else "",
            ])
    text = common.header("Linear vs task-based networks on tabular data", sys.argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        f"Backend: {keras.backend.backend()}. Seeds: {seeds}. Structures (TN hidden sizes): "
        f"{', '.join(f'{k} = {v}' for k, v in structures.items())}; the paper's S1–S5 are not "
        "public, so its figures (S1 column, LN / TN) are a reference point, not the same networks.",
        "",
        f"**TN better than LN in {wins} of {total} dataset × structure cells.**",
        "",
        common.table(["dataset", "metric", "structure", "hidden TN / LN", "params TN / LN",
                      "LN", "TN", "better", "HistGradientBoosting", "paper S1 (LN / TN)"], rows),
        "",
        "## Formulas found (seed 0) and median search time",
        "",
        common.table(["dataset", "N × d", "formula (inputs scaled to [-1, 1])", "search s"], formulas),
        "",
    ])
    common.write_results("tabular", text, raw, args.quick, plot)


def plot(raw):
    """LN against TN per dataset × structure: below the diagonal, TN wins."""
    plt = common.pyplot()

    cells = {}
    for record in raw:
        key = (record["dataset"], record["structure"])
        cells.setdefault(key, {"TN": [], "LN": []})[record["network"]].append(record["score"])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for axis, task in zip(axes, ("regression", "classification")):
        for (dataset, structure), scores in cells.items():
            if datasets.DATASETS[dataset][1] != task:
                continue
            axis.scatter(np.mean(scores["LN"]), np.mean(scores["TN"]), s=25)
            axis.annotate(f"{dataset.split(' ')[0]} {structure}",
                          (np.mean(scores["LN"]), np.mean(scores["TN"])), fontsize=6)
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], color="gray", lw=0.5)
        axis.set_xlabel("linear network (LN)")
        axis.set_ylabel("task-based network (TN)")
        axis.set_title("test MSE, normalized target (below the line: TN better)"
                       if task == "regression" else
                       "test accuracy (above the line: TN better)", fontsize=9)
        if task == "regression":
            axis.set_xscale("log")
            axis.set_yscale("log")
    figure.tight_layout()
    figure.savefig(os.path.join(common.RESULTS, "tabular.png"), dpi=100)
    print("wrote benchmarks/results/tabular.png")


if __name__ == "__main__":
    main()
