"""The README recipe on raw tabular features, untuned, on 20 public datasets.

Per dataset and seed: an 8:2 split (stratified for classes; at most
``--max-rows`` rows, a random subset per seed, for time), regression targets
standardized with the training split's mean and std (both networks alike;
the scores are test MSE on that scale, or test accuracy). The features go in
raw, as loaded. TN: the README recipe (``recipe.py``: the search's defaults
on the raw training rows, ``search.layer_factory(activation="relu")``,
hidden 32 and 16); LN: the narrowest Dense network of that shape with at
least as many parameters, given an adapted ``Normalization``. Controls
(``peers.py``): the same layers with a FIXED ``x**2`` and with a RANDOM
formula from the function set on the search's map, and the tabular peer,
an MLP of the same hidden widths with periodic (PLR) embeddings on
quantile-normal inputs. Nothing is tuned; all train alike (Adam 1e-3, batch
32, early stopping). Each basis's share of the first task-neuron layer's
output on the training rows is recorded. One result file per dataset and
seed (``results/tabular_recipe/``), merged by the report step, so an
interrupted run resumes.

    python benchmarks/tabular_recipe.py --seeds 3 --jobs 2
    python benchmarks/tabular_recipe.py --report-only
    python benchmarks/tabular_recipe.py --quick        # CI: tiny sizes
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import datasets  # noqa: E402
import peers  # noqa: E402
import recipe  # noqa: E402

ALL = {**datasets.DATASETS, **datasets.MORE_DATASETS}
FOLDER = os.path.join(common.RESULTS, "tabular_recipe")


def split(name, seed, max_rows):
    from sklearn.model_selection import train_test_split

    loader, task, _ = ALL[name]
    X, y = loader()
    shape = list(X.shape)  # before the row cap
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:
        keep = np.sort(rng.choice(len(y), max_rows, replace=False))
        X, y = X[keep], y[keep]
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                   stratify=y if task == "classification" else None)
    X = X.astype("float32")
    if task != "classification":
        mean, std = y[train].mean(), y[train].std() or 1.0
        y = ((y - mean) / std).astype("float32")
    return task, shape, X[train], y[train], X[test], y[test]


def run(name, seed, max_rows, epochs, quick):
    task, shape, X, y, X_test, y_test = split(name, seed, max_rows)
    found, seconds = recipe.search(X, y, task, seed, quick)
    n_outputs = len(np.unique(y)) if task == "classification" else 1
    built, widths = recipe.readme_networks(found, X, n_outputs, task, seed)
    controls, drawn = peers.control_networks(found, X, n_outputs, task, seed, recipe.HIDDEN,
                                             found.function_set)
    result = {"dataset": name, "seed": seed, "task": task, "shape": shape,
              "formula": found.formula_.format(3), "random formula": drawn.format(3),
              "search_seconds": seconds, "LN widths": widths,
              "search loss": found.equations_.best.loss, "linear loss": found.linear_loss_}
    inputs = {"PLR": peers.quantile_normal(X, X_test)}
    for kind, model in {**built, **controls}.items():
        train, test = inputs.get(kind, (X, X_test))
        result[kind] = recipe.fit_and_score(model, train, y, test, y_test, task, epochs, seed)
        result[kind + " params"] = model.count_params()
    first = built["TN"].layers[0]
    result["TN shares"] = {k: float(v) for k, v in first.basis_contributions(X).items()}
    print(f"{name} seed {seed}: {result['formula']}  " + "  ".join(
        f"{k} {result[k]:.4f}" for k in ("TN", "LN", "fixed", "random", "PLR")), flush=True)
    return result


def result_path(folder, name, seed):
    """The result file of ``name`` and ``seed`` in ``folder``."""
    return os.path.join(folder, f"{common.slug(name)}_seed{seed}.json")


def stored_results(args, names, folder, run_to_file):
    """Every dataset's and seed's stored result in ``folder``, computed first
    (``run_to_file(name, seed, max_rows, epochs)``, in ``args.jobs``
    processes) unless ``--report-only``: what a benchmark over these datasets
    reports."""
    os.makedirs(folder, exist_ok=True)
    tasks = [(name, seed, args.max_rows, args.epochs) for seed in range(args.seeds)
             for name in names]
    if not args.report_only:
        common.parallel_map(run_to_file, tasks, args.jobs)
    stored = (common.result_file(result_path(folder, name, seed), None, report_only=True)
              for name, seed, _, _ in tasks)
    return [r for r in stored if r is not None]


def run_to_file(name, seed, max_rows, epochs):
    """The stored result of ``name`` and ``seed``, computed first when missing."""
    return common.result_file(result_path(FOLDER, name, seed),
                              lambda: run(name, seed, max_rows, epochs, False))


def compare(tn, ln, classification):
    """``(verdict, paired wins, better on the mean)`` of TN's scores against
    LN's on the same seeds: ``"TN"`` (better mean), ``"within 1 std"`` (worse
    by at most LN's standard deviation over the seeds) or ``"LN"``."""
    tn, ln = np.asarray(tn), np.asarray(ln)
    wins = int(np.sum(tn > ln if classification else tn < ln))
    is_better = bool(tn.mean() > ln.mean() if classification else tn.mean() < ln.mean())
    verdict = "TN" if is_better else (
        "within 1 std" if abs(tn.mean() - ln.mean()) <= ln.std() else "LN")
    return verdict, wins, is_better


CONTROLS = ("LN", "fixed", "random", "PLR")
"""What TN is compared with, in the report's columns."""


def report(results, quick, argv, stem="tabular_recipe",
           title="The README recipe on raw tabular features (untuned)", intro=None,
           networks=("TN (README recipe)", "LN + Normalization")):
    """Write ``stem.md``/``.json``: per dataset, TN against each control
    (paired seeds), the bases' share and the formulas (also
    ``tabular_controls.py``)."""
    import keras

    rows = []
    counts = {kind: {"better": 0, "within": 0, "worse": 0, "paired": 0} for kind in CONTROLS}
    both_controls = controls_chosen = 0
    peer = {"better": 0, "paired": 0}  # the peer against Dense: what the goal asks of TN
    for name in ALL:
        runs = sorted((r for r in results if r["dataset"] == name and "PLR" in r),
                      key=lambda r: r["seed"])
        if not runs:
            continue
        classification = runs[0]["task"] == "classification"
        tn = np.array([r["TN"] for r in runs])
        cells, beats = [], {}
        for kind in CONTROLS:
            other = np.array([r[kind] for r in runs])
            verdict, wins, is_better = compare(tn, other, classification)
            key = {"TN": "better", "within 1 std": "within", "LN": "worse"}[verdict]
            counts[kind][key] += 1
            counts[kind]["paired"] += is_better and wins >= 0.6 * len(runs)
            beats[kind] = is_better
            cells.append(f"{common.summary(other)} {'<' if is_better else '≥'} {wins}/{len(runs)}"
                         if not classification else
                         f"{common.summary(other)} {'>' if is_better else '≤'} {wins}/{len(runs)}")
        both_controls += beats["fixed"] and beats["random"]
        _, peer_wins, plr_better = compare(np.array([r["PLR"] for r in runs]),
                                           np.array([r["LN"] for r in runs]), classification)
        peer["better"] += plr_better
        peer["paired"] += plr_better and peer_wins >= 0.6 * len(runs)
        shares = np.mean([1.0 - r["TN shares"].get("x", 0.0) for r in runs])
        linear = sum(r["formula"] == "x" for r in runs)
        fixed = sum(r["formula"] == peers.FIXED for r in runs)
        controls_chosen += 2 * (linear + fixed) >= len(runs)
        rows.append([name, "{} × {}".format(*runs[0]["shape"]),
                     "acc ↑" if classification else "MSE ↓", common.summary(tn), *cells,
                     f"{100 * shares:.0f} %", f"{linear}/{len(runs)}", f"{fixed}/{len(runs)}",
                     f"`{runs[0]['formula']}`"[:60]])
    seeds = max((len([r for r in results if r["dataset"] == n and "PLR" in r]) for n in ALL),
                default=0)
    line = "; ".join(
        f"{kind}: better on {c['better']}, within one {kind} std on {c['within']}, worse by more "
        f"on {c['worse']} (better with ≥ 60 % of paired seeds: {c['paired']})"
        for kind, c in counts.items())
    text = common.header(title, argv) + "\n".join([
        intro or (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Seeds per dataset: up to {seeds}. Each control "
        "cell: its mean (std), whether TN is better (`<`/`>`: TN's mean better), and on how many "
        "paired seeds TN beat it. Bases' share: the share of the first layer's output variation "
        "carried by the bases other than x (mean over seeds). x chosen: seeds where no formula "
        "beat the linear neuron (the search then keeps x). x**2 found: seeds where the search "
        "chose the fixed control's formula itself (the two networks are then the same).",
        "",
        f"**TN against {line}. Searched formula better than both the fixed and the random one "
        f"on {both_controls} of {len(rows)} datasets.** On {controls_chosen} of {len(rows)} "
        "datasets the search returned `x` or `x**2` on at least half the seeds: there the "
        "searched network is a control itself (Dense on the search's map, or the fixed `x**2`). "
        f"For scale, the tabular peer against Dense: MLP-PLR better on {peer['better']} of "
        f"{len(rows)} (with ≥ 60 % of paired seeds: {peer['paired']}).",
        "",
        common.table(["dataset", "N × d", "metric", *networks,
                      "fixed x**2", "random formula", "MLP-PLR", "bases' share", "x chosen",
                      "x**2 found", "formula (seed 0)"], rows),
        "",
    ])
    common.write_results(stem, text, results, quick, lambda raw: None)


def arguments(doc, name):
    """The options of a benchmark over these datasets (also ``pruning.py``)
    and the dataset names chosen."""
    parser = common.argument_parser(doc, name)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--max-rows", type=int, default=4000)
    parser.add_argument("--datasets", default=None, help="comma-separated name parts")
    args = parser.parse_args()
    names = list(ALL)
    if args.datasets:
        names = [n for n in names if any(p.strip() in n for p in args.datasets.split(","))]
    return args, names


def main():
    args, names = arguments(__doc__, "tabular_recipe")
    if args.quick:
        results = [run(name, 0, 300, 2, True) for name in ("yacht hydrodynamics", "pima")]
        report(results, True, sys.argv)
        return
    report(stored_results(args, names, FOLDER, run_to_file), False, sys.argv)


if __name__ == "__main__":
    main()
