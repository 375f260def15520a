"""Linear vs task-based networks on the paper's tabular datasets (offline).

Protocol (the paper's, with its gaps filled as stated): features scaled to
[-1, 1] and regression targets to [0, 1] with the training split's min/max,
8:2 train/test split per seed, the last 10% of the (shuffled) training split
held out as the validation set. Per seed, VSR (polynomial function set, the
paper's setting) runs on the training split; the task-based network (TN) uses
that formula in every hidden layer, the linear network (LN) uses Dense layers
widened until it has MORE parameters than the TN. Both kinds are tuned by the
same procedure: per dataset and network kind, every recipe of the grid
(hidden activation tanh or relu, Adam learning rate 1e-3, 3e-3 or 1e-2) trains
structure S2 on seed 0 and the recipe with the lowest validation loss is kept
for all seeds and structures; the test split is never looked at. Every
training: batch 64 (256 above 10,000 training rows), at most ``--epochs``
epochs, early stopping on the validation loss with patience 20 and the best
weights restored. Reported: test MSE on the normalized target (regression) or
test accuracy, mean (std) over seeds, and in how many seeds (same split, same
seed) TN beat LN; scikit-learn's HistGradientBoosting as the tree-model
reference.

    python benchmarks/tabular.py --jobs 2              # full: 10 seeds
    python benchmarks/tabular.py --seeds 3 --epochs 100
    python benchmarks/tabular.py --quick               # CI: tiny sizes
    python benchmarks/tabular.py --more --seeds 3 --ablation-seeds 0 --jobs 2

``--more``: the 13 further datasets of ``tabular_recipe.py``
(``datasets.MORE_DATASETS``), reported in ``results/tabular_more.md``. Full
runs keep one result file per dataset's tuning and per dataset and seed
(``results/tabular/`` or ``results/tabular_more/``), so an interrupted run
resumes.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import datasets  # noqa: E402

ALL = {**datasets.DATASETS, **datasets.MORE_DATASETS}

STRUCTURES = {"S1": [16], "S2": [32, 16], "S3": [64, 32, 16]}
TUNING_STRUCTURE = "S2"
RECIPES = [(activation, rate) for activation in ("tanh", "relu") for rate in (1e-3, 3e-3, 1e-2)]
PATIENCE = 20
ABLATIONS = {
    "no start as Dense": dict(linear_basis=False, basis_initializer="glorot_uniform"),
    "no gentle training": dict(basis_scale=1.0),
    "no basis normalization": dict(normalize_bases=False),
    "no input clipping": dict(basis_range=None),
    "coefficients as scale": dict(basis_scale="coefficients"),
}
"""TaskNeuronDense options of each ablation (structure S2, the first
``--ablation-seeds`` seeds); the defaults are the full method."""


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


def networks(sizes, n_features, n_outputs, task, search, recipes, seed, layer_options=None):
    """The TN of ``sizes`` on the search's formula and input map, and the
    narrowest LN with more parameters (:mod:`keras_taskneurons.networks`, as
    the command line builds them)."""
    from keras_taskneurons import networks as library

    tn = library.mlp("task", sizes, n_features, n_outputs, formula=search.formula_, task=task,
                     activation=recipes["TN"][0], seed=seed, input_map=search.input_map_,
                     **(layer_options or {}))
    widths = library.matching_linear_widths(sizes, n_features, n_outputs, tn.count_params() + 1)
    ln = library.mlp("linear", widths, n_features, n_outputs, task=task,
                     activation=recipes["LN"][0], seed=seed)
    return {"TN": tn, "LN": ln}, widths


def train(model, data, task, epochs, learning_rate, seed):
    """Train with early stopping; return the best validation loss (inf if it diverged)."""
    import keras

    keras.utils.set_random_seed(seed)
    X, y = data[0], data[1]
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    history = model.fit(
        X, y, validation_split=0.1, epochs=epochs, batch_size=256 if len(y) > 10_000 else 64,
        verbose=0, callbacks=[keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True),
                              keras.callbacks.TerminateOnNaN()],
    )
    losses = np.asarray(history.history["val_loss"], dtype=float)
    return float(np.min(losses)) if np.all(np.isfinite(losses)) else float("inf")


def test_score(model, data, task):
    X_test, y_test = data[2], data[3]
    prediction = np.asarray(model.predict(X_test, verbose=0, batch_size=4096))
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
        function_set=("add", "sub", "mul"), scaling="none", random_state=seed,  # pre-scaled
        parsimony_coefficient=0.002,
        **(dict(population_size=100, generations=2) if quick else {}),
    )
    start = time.perf_counter()
    search.fit(data[0], data[1])
    return search, time.perf_counter() - start


def _load(name, seed, quick):
    loader, task, _ = ALL[name]
    X, y = loader()
    n_outputs = len(np.unique(y)) if task == "classification" else 1
    return task, X.shape, n_outputs, prepare(X, y, task, seed, quick)


def tune(name, epochs, quick):
    """Validation loss of every recipe for both kinds (structure S2, seed 0)."""
    task, (_, n_features), n_outputs, data = _load(name, 0, quick)
    search, _ = search_formula(data, task, 0, quick)
    sizes = STRUCTURES["S1" if quick else TUNING_STRUCTURE]
    losses = {}
    for recipe in RECIPES[:2] if quick else RECIPES:
        built, _ = networks(sizes, n_features, n_outputs, task, search,
                            {"TN": recipe, "LN": recipe}, 0)
        for kind, model in built.items():
            losses[kind, recipe] = train(model, data, task, epochs, recipe[1], 0)
    return name, losses


def run_seed(name, seed, recipes, structures, epochs, quick, ablate):
    """One split: the formula, the tree reference and both kinds per
    structure; with ``ablate``, also each ablation's TN on S2 (or S1)."""
    task, shape, n_outputs, data = _load(name, seed, quick)
    n_features = shape[1]
    search, seconds = search_formula(data, task, seed, quick)
    result = {"shape": shape, "formula": search.formula_.format(3), "search_seconds": seconds,
              "tree": tree_reference(data, task, seed), "cells": {}}
    for label, sizes in structures.items():
        built, widths = networks(sizes, n_features, n_outputs, task, search, recipes, seed)
        cell = {"widths": widths}
        for kind, model in built.items():
            train(model, data, task, epochs, recipes[kind][1], seed)
            cell[kind] = test_score(model, data, task)
            cell[kind + " params"] = model.count_params()
        result["cells"][label] = cell
        print(f"{name} seed {seed} {label}: TN {cell['TN']:.4f} LN {cell['LN']:.4f}", flush=True)
    if ablate:
        label = "S2" if "S2" in structures else "S1"
        result["ablations"] = {}
        for variant, options in ABLATIONS.items():
            built, _ = networks(structures[label], n_features, n_outputs, task, search, recipes,
                                seed, layer_options=options)
            train(built["TN"], data, task, epochs, recipes["TN"][1], seed)
            result["ablations"][variant] = test_score(built["TN"], data, task)
    return name, seed, result


def _stored(folder, stem, compute):
    """``compute()``'s result, kept in ``folder/stem.json`` (none: not kept)."""
    if folder is None:
        return compute()
    return common.result_file(os.path.join(folder, common.slug(stem) + ".json"), compute)


def tune_stored(name, epochs, quick, folder):
    """``tune``, kept as ``[kind, activation, rate, loss]`` rows."""
    rows = _stored(folder, "tune " + name, lambda: [
        [kind, *recipe, loss] for (kind, recipe), loss in tune(name, epochs, quick)[1].items()])
    return name, {(kind, (activation, rate)): loss for kind, activation, rate, loss in rows}


def run_seed_stored(name, seed, recipes, structures, epochs, quick, ablate, folder):
    """``run_seed``, kept per dataset and seed."""
    return name, seed, _stored(folder, f"{name} seed{seed}",
                               lambda: run_seed(name, seed, recipes, structures, epochs, quick,
                                                ablate)[2])


def recipe_text(recipe):
    return f"{recipe[0]}, {recipe[1]:g}"


def main():
    parser = common.argument_parser(__doc__, "tabular")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--datasets", default=None, help="comma-separated subset")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--ablation-seeds", type=int, default=3,
                        help="seeds on which each ablation trains (structure S2)")
    parser.add_argument("--more", action="store_true",
                        help="the further datasets (results/tabular_more.md)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    stem = "tabular_more" if args.more else "tabular"
    if args.plot_only:
        plot(common.read_results(stem), stem)
        return
    import keras

    names = list(datasets.MORE_DATASETS if args.more else datasets.DATASETS)
    if args.datasets:
        names = [n for n in names if any(part.strip() in n for part in args.datasets.split(","))]
    if args.quick:
        names = ["airfoil self noise", "vehicle"]
    seeds = 1 if args.quick else args.seeds
    epochs = 2 if args.quick else args.epochs
    structures = {"S1": STRUCTURES["S1"]} if args.quick else STRUCTURES
    folder = None if args.quick else os.path.join(common.RESULTS, stem)
    if folder:
        os.makedirs(folder, exist_ok=True)

    tuning = dict(common.parallel_map(tune_stored, [(name, epochs, args.quick, folder)
                                                    for name in names], args.jobs))
    recipes = {name: {kind: min((r for k, r in losses if k == kind), key=lambda r: losses[kind, r])
                      for kind in ("TN", "LN")} for name, losses in tuning.items()}
    # Largest datasets first so that the last tasks to finish are short ones.
    order = sorted(names, key=lambda n: -ALL[n][0]()[0].size)
    runs = common.parallel_map(run_seed_stored,
                               [(name, seed, recipes[name], structures, epochs, args.quick,
                                 seed < args.ablation_seeds, folder)
                                for name in order for seed in range(seeds)], args.jobs)
    by_dataset = {}
    for name, seed, result in runs:
        by_dataset.setdefault(name, {})[seed] = result

    rows, formulas, tuned, raw, ablation_rows = [], [], [], [], []
    wins = total = within = worse = diverged = 0
    for name in names:
        _, task, paper = ALL[name]
        classification = task == "classification"
        per_seed = [by_dataset[name][seed] for seed in range(seeds)]
        trees = [result["tree"] for result in per_seed]
        formulas.append([name, "{} × {}".format(*per_seed[0]["shape"]), f"`{per_seed[0]['formula']}`",
                         f"{np.median([r['search_seconds'] for r in per_seed]):.1f}"])
        tuned.append([name] + [
            f"{recipe_text(recipes[name][kind])} ({tuning[name][kind, recipes[name][kind]]:.4g})"
            for kind in ("TN", "LN")])
        for label in structures:
            cells = [result["cells"][label] for result in per_seed]
            tn, ln = np.array([c["TN"] for c in cells]), np.array([c["LN"] for c in cells])
            better = tn.mean() > ln.mean() if classification else tn.mean() < ln.mean()
            seed_wins = int(np.sum(tn > ln if classification else tn < ln))
            gap = abs(tn.mean() - ln.mean())
            verdict = "TN" if better else ("within 1 std" if gap <= ln.std() else "LN")
            wins += int(better)
            within += int(verdict == "within 1 std")
            worse += int(verdict == "LN")
            total += 1
            if not classification:  # a run diverged: not finite, or over 10x LN's MSE
                diverged += int(np.sum(~np.isfinite(tn) | (tn > 10 * ln)))
            rows.append([
                name, "accuracy ↑" if classification else "MSE ↓", label,
                f"{STRUCTURES[label]} / {cells[0]['widths']}",
                f"{cells[0]['TN params']} / {cells[0]['LN params']}",
                common.summary(ln), common.summary(tn), verdict, f"{seed_wins}/{seeds}",
                common.summary(trees), " / ".join(paper) if paper and label == "S1" else "",
            ])
            raw += [{"dataset": name, "seed": seed, "structure": label, "network": kind,
                     "score": cell[kind], "recipe": list(recipes[name][kind]),
                     "formula": per_seed[seed]["formula"]}
                    for seed, cell in enumerate(cells) for kind in ("TN", "LN")]
        with_ablations = [r for r in per_seed if "ablations" in r]
        if with_ablations:
            label = "S2" if "S2" in structures else "S1"
            full = [r["cells"][label]["TN"] for r in with_ablations]
            lns = [r["cells"][label]["LN"] for r in with_ablations]
            ablation_rows.append([name, label, f"{np.mean(lns):.4f}", f"{np.mean(full):.4f}"] + [
                f"{np.mean([r['ablations'][v] for r in with_ablations]):.4f}" for v in ABLATIONS])
    text = common.header("Linear vs task-based networks on tabular data", sys.argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Seeds: {seeds}. Structures (TN hidden sizes): "
        f"{', '.join(f'{k} = {v}' for k, v in structures.items())}; the paper's S1–S5 are not "
        "public, so its figures (S1 column, LN / TN) are a reference point, not the same networks.",
        "",
        f"**TN better than LN (mean over seeds) in {wins} of {total} dataset × structure cells; "
        f"worse by at most one LN standard deviation in {within}, worse by more in {worse}. "
        f"Diverged TN runs (regression: test MSE not finite or over 10× LN's): {diverged}.**",
        "",
        common.table(["dataset", "metric", "structure", "hidden TN / LN", "params TN / LN",
                      "LN", "TN", "better", "seeds TN better", "HistGradientBoosting",
                      "paper S1 (LN / TN)"], rows),
        "",
        "## Tuned recipes (activation, learning rate; best validation loss)",
        "",
        common.table(["dataset", "TN", "LN"], tuned),
        "",
        "## Ablation (TN test score, mean over the first seeds; each column switches one "
        "choice off)",
        "",
        "Full TN: start as Dense (linear basis, other blocks from zero), gentle training "
        "(basis_scale 0.1), bases normalized to their range on [-1, 1], bases but x evaluated on "
        "the input clipped to [-1, 1] in the first layer, by running statistics in the others. "
        "\"coefficients as scale\": "
        "the formula's coefficients (relative to the largest) as the basis factors instead.",
        "",
        common.table(["dataset", "structure", "LN", "TN (full)"] + list(ABLATIONS), ablation_rows),
        "",
        "## Formulas found (seed 0) and median search time",
        "",
        common.table(["dataset", "N × d", "formula (inputs scaled to [-1, 1])", "search s"], formulas),
        "",
    ])
    common.write_results(stem, text, raw, args.quick, lambda raw: plot(raw, stem))


def plot(raw, stem="tabular"):
    """LN against TN per dataset × structure: below the diagonal, TN wins."""
    plt = common.pyplot()

    cells = {}
    for record in raw:
        key = (record["dataset"], record["structure"])
        cells.setdefault(key, {"TN": [], "LN": []})[record["network"]].append(record["score"])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for axis, task in zip(axes, ("regression", "classification")):
        for (dataset, structure), scores in cells.items():
            if ALL[dataset][1] != task:
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
    figure.savefig(os.path.join(common.RESULTS, stem + ".png"), dpi=100)
    print(f"wrote benchmarks/results/{stem}.png")


if __name__ == "__main__":
    main()
