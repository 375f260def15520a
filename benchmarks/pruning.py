"""Pruning the README recipe's task network: parameters saved, accuracy kept.

Per dataset and seed: the split, search and task network of
``tabular_recipe.py`` (raw features, the README recipe, hidden 32 and 16,
trained alike), then ``keras_taskneurons.prune(model, X_train, tolerance)``
for each tolerance, on the training rows (the predictions may move by at
most that fraction of their standard deviation there). Reported: the
trainable parameters before and after, the bases removed and the test score
(MSE on the standardized target, or accuracy) before and after, without any
fine-tuning afterwards. One result file per dataset and seed
(``results/pruning/``), merged by the report step, so an interrupted run
resumes.

    python benchmarks/pruning.py --seeds 2 --jobs 2
    python benchmarks/pruning.py --report-only
    python benchmarks/pruning.py --quick        # CI: tiny sizes
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402
import tabular_recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "pruning")
TOLERANCES = (0.01, 0.05)


def score(model, X, y, task):
    prediction = np.asarray(model.predict(X, verbose=0, batch_size=4096))
    if task == "classification":
        return float(np.mean(prediction.argmax(axis=1) == y))
    return float(np.mean((prediction[:, 0] - y) ** 2))


def run(name, seed, max_rows, epochs, quick):
    import keras_taskneurons

    task, shape, X, y, X_test, y_test = tabular_recipe.split(name, seed, max_rows)
    found, _ = recipe.search(X, y, task, seed, quick)
    n_outputs = len(np.unique(y)) if task == "classification" else 1
    model = recipe.readme_networks(found, X, n_outputs, task, seed)[0]["TN"]
    before = recipe.fit_and_score(model, X, y, X_test, y_test, task, epochs, seed)
    result = {"dataset": name, "seed": seed, "task": task, "shape": shape,
              "formula": found.formula_.format(3), "score": before,
              "params": recipe.trainable_parameters(model), "pruned": {}}
    for tolerance in TOLERANCES:
        pruned, removed = keras_taskneurons.prune(model, X, tolerance=tolerance)
        result["pruned"][str(tolerance)] = {
            "score": score(pruned, X_test, y_test, task),
            "params": recipe.trainable_parameters(pruned),
            "removed": removed,
        }
    line = "  ".join(f"tol {t}: {v['params']} params, {v['score']:.4f}"
                     for t, v in result["pruned"].items())
    print(f"{name} seed {seed}: {result['params']} params, {before:.4f}; {line}", flush=True)
    return result


def run_to_file(name, seed, max_rows, epochs):
    common.result_file(tabular_recipe.result_path(FOLDER, name, seed),
                       lambda: run(name, seed, max_rows, epochs, False))


def report(results, quick, argv):
    import keras

    rows, saved, kept = [], {t: [] for t in TOLERANCES}, {t: 0 for t in TOLERANCES}
    for name in tabular_recipe.ALL:
        runs = sorted((r for r in results if r["dataset"] == name), key=lambda r: r["seed"])
        if not runs:
            continue
        classification = runs[0]["task"] == "classification"
        cells = [name, "accuracy ↑" if classification else "MSE ↓",
                 f"`{runs[0]['formula']}`"[:50], common.summary([r["score"] for r in runs]),
                 str(runs[0]["params"])]
        for t in TOLERANCES:
            after = [r["pruned"][str(t)] for r in runs]
            fraction = [1 - a["params"] / r["params"] for a, r in zip(after, runs)]
            saved[t] += fraction
            change = [a["score"] - r["score"] for a, r in zip(after, runs)]
            spread = np.std([r["score"] for r in runs]) if len(runs) > 1 else 0.0
            worse = [(-c if classification else c) for c in change]
            kept[t] += all(w <= max(spread, 1e-12) for w in worse)
            cells += [f"{100 * np.mean(fraction):.0f} %", common.summary([a["score"] for a in after])]
        rows.append(cells)
    headers = ["dataset", "metric", "formula (seed 0)", "score", "params"]
    for t in TOLERANCES:
        headers += [f"params saved, tol {t}", f"score, tol {t}"]
    seeds = max((len([r for r in results if r["dataset"] == n]) for n in tabular_recipe.ALL),
                default=0)
    summary = "; ".join(
        f"tolerance {t}: {100 * np.mean(saved[t]) if saved[t] else 0:.0f} % of the parameters "
        f"saved on average (most {100 * max(saved[t], default=0):.0f} %), test score worse by "
        f"at most one std of the seeds on {kept[t]} of {len(rows)} datasets"
        for t in TOLERANCES)
    text = common.header("Pruning the README recipe's task network", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Seeds per dataset: up to {seeds}.",
        "",
        f"**{summary}.**",
        "",
        common.table(headers, rows),
        "",
    ])
    common.write_results("pruning", text, results, quick, lambda raw: None)


def main():
    args, names = tabular_recipe.arguments(__doc__, "pruning")
    if args.quick:
        results = [run(name, 0, 300, 2, True) for name in ("yacht hydrodynamics", "pima")]
        report(results, True, sys.argv)
        return
    report(tabular_recipe.stored_results(args, names, FOLDER, run_to_file), False, sys.argv)


if __name__ == "__main__":
    main()
