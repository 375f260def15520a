"""Which input map should the search and its first layer use? The affine map
(``scaling="auto"``: each column standardized, its domain cut at Tukey's
far-out fences) against the robust one for the bases (``scaling=
"quantile"``: x sees each column standardized as before; every other basis
sees it warped onto the normal law's quantiles, as tabular deep learning
feeds its networks).

Per dataset and seed: the README recipe of ``tabular_recipe.py`` (the same
20 datasets, 8:2 splits, row cap, standardized targets, search defaults,
network, training and seeds), with the search's ``scaling="quantile"``; the
affine map's TN, the Dense network (LN) and the PLR peer are read from
``tabular_recipe``'s result file of the same dataset and seed (the same
split, search seed and training: the runs are paired). Each dataset's
tail: the largest over its columns of the share of rows beyond the fences
(the rows the affine map clips for the bases). One result file per dataset
and seed (``results/robust_map/``), merged by the report step.

    python benchmarks/robust_map.py --seeds 3 --jobs 2 --max-rows 1500 --epochs 100
    python benchmarks/robust_map.py --quick        # CI: tiny sizes
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402
import tabular_recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "robust_map")
PAIRED = ("TN", "LN", "PLR")
"""What the report reads from ``tabular_recipe``'s result of the same run."""
SHARE = "bases' share"


def beyond_fences(X):
    """The largest share, over the columns of ``X``, of rows outside the
    affine map's per-column domain (Tukey's far-out fences)."""
    from keras_taskneurons.input_map import InputMap

    m = InputMap.fit(X, "standard")
    u = m.transform(X)
    return float(np.max(np.mean((u < m.low) | (u > m.high), axis=0)))


def run(name, seed, max_rows, epochs, quick):
    task, shape, X, y, X_test, y_test = tabular_recipe.split(name, seed, max_rows)
    found, seconds = recipe.search(X, y, task, seed, quick, scaling="quantile")
    n_outputs = len(np.unique(y)) if task == "classification" else 1
    built, _ = recipe.readme_networks(found, X, n_outputs, task, seed)
    score = recipe.fit_and_score(built["TN"], X, y, X_test, y_test, task, epochs, seed)
    shares = built["TN"].layers[0].basis_contributions(X)
    result = {"dataset": name, "seed": seed, "task": task, "shape": shape,
              "formula": found.formula_.format(3), "search_seconds": seconds,
              "TN quantile": score, "beyond fences": beyond_fences(X),
              SHARE: 1.0 - float(shares.get("x", 0.0))}
    print(f"{name} seed {seed}: {result['formula']}  TN quantile {score:.4f}", flush=True)
    return result


def run_to_file(name, seed, max_rows, epochs):
    return common.result_file(tabular_recipe.result_path(FOLDER, name, seed),
                              lambda: run(name, seed, max_rows, epochs, False))


def paired(result):
    """``result`` with the affine run's scores of the same dataset and seed
    (``None`` where ``tabular_recipe`` has no result file for it)."""
    stored = common.result_file(
        tabular_recipe.result_path(tabular_recipe.FOLDER, result["dataset"], result["seed"]),
        None, report_only=True)
    if stored is None:
        return None
    return {**result, **{kind: stored[kind] for kind in PAIRED}}


def report(results, quick, argv):
    rows, counts = [], {"better": 0, "within": 0, "worse": 0, "paired": 0}
    heavy = {"better": 0, "worse": 0, "sets": 0}
    versus_plr = 0
    for name in tabular_recipe.ALL:
        runs = sorted((r for r in results if r["dataset"] == name), key=lambda r: r["seed"])
        if not runs:
            continue
        classification = runs[0]["task"] == "classification"
        quantile = np.array([r["TN quantile"] for r in runs])
        affine = np.array([r["TN"] for r in runs])
        verdict, wins, is_better = tabular_recipe.compare(quantile, affine, classification)
        key = {"TN": "better", "within 1 std": "within", "LN": "worse"}[verdict]
        counts[key] += 1
        counts["paired"] += is_better and wins >= 0.6 * len(runs)
        tail = float(np.mean([r["beyond fences"] for r in runs]))
        if tail > 0.01:
            heavy["sets"] += 1
            heavy["better" if is_better else "worse"] += 1
        plr = np.array([r["PLR"] for r in runs])
        versus_plr += tabular_recipe.compare(quantile, plr, classification)[2]
        sign = (">" if is_better else "≤") if classification else ("<" if is_better else "≥")
        rows.append([name, "acc ↑" if classification else "MSE ↓", f"{100 * tail:.1f} %",
                     common.summary(quantile), f"{common.summary(affine)} {sign} {wins}/{len(runs)}",
                     common.summary(np.array([r["LN"] for r in runs])), common.summary(plr),
                     f"{100 * np.mean([r[SHARE] for r in runs]):.0f} %",
                     f"`{runs[0]['formula']}`"[:50]])
    seeds = max((len([r for r in results if r["dataset"] == n]) for n in tabular_recipe.ALL),
                default=0)
    text = common.header("Robust input map: quantile warp against the affine map", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Seeds per dataset: up to {seeds}. The affine cell: its mean (std), whether the "
        "quantile map's TN is better, and on how many paired seeds.",
        "",
        f"**Quantile map's TN against the affine map's: better on {counts['better']}, within "
        f"one std on {counts['within']}, worse by more on {counts['worse']} (better with ≥ 60 % "
        f"of paired seeds: {counts['paired']}). On the {heavy['sets']} sets with more than 1 % "
        f"of some column's rows beyond the fences: better on {heavy['better']}, worse on "
        f"{heavy['worse']}. Better than MLP-PLR on {versus_plr} of {len(rows)}.**",
        "",
        common.table(["dataset", "metric", "rows beyond fences", "TN, quantile map",
                      "TN, affine map", "LN + Normalization", "MLP-PLR", "bases' share",
                      "formula (seed 0)"], rows),
        "",
    ])
    common.write_results("robust_map", text, results, quick, lambda raw: None)


def main():
    args, names = tabular_recipe.arguments(__doc__, "robust_map")
    if args.quick:
        results = []
        for name in ("yacht hydrodynamics", "pima"):
            result = run(name, 0, 300, 2, True)
            results.append({**result, **{k: result["TN quantile"] for k in PAIRED}})
        report(results, True, sys.argv)
        return
    stored = tabular_recipe.stored_results(args, names, FOLDER, run_to_file)
    report([r for r in map(paired, stored) if r is not None], False, sys.argv)


if __name__ == "__main__":
    main()
