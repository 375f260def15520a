"""Do interaction terms help the README recipe on real tabular data?

Per dataset and seed: the split, search and networks of
``tabular_recipe.py`` (raw features, the README recipe, hidden 32 and 16,
trained alike). The search's check suggests an interaction rank
(``interaction_rank_``); where it suggests one, the task network is trained
again with ``layer_factory(interactions=True)`` (its first layer takes that
rank), and compared with the same network without it and with the Dense
network, both read from ``tabular_recipe.py``'s result file for the same
dataset and seed (computed first when missing; same split, same search:
the formulas are checked to agree; that Dense network is matched to the
task network WITHOUT the term, so it may have fewer parameters than the one
with it; a second Dense network, re-matched to the network with the term,
is trained beside it). Where the check suggests rank 0,
``interactions=True`` builds the very network without them, so nothing is
trained again. One result file per dataset and seed
(``results/tabular_interactions/``), merged by the report step, so an
interrupted run resumes.

    python benchmarks/tabular_interactions.py --seeds 3 --jobs 2
    python benchmarks/tabular_interactions.py --report-only
    python benchmarks/tabular_interactions.py --quick        # CI: tiny sizes
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402
import tabular_recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "tabular_interactions")


def run(name, seed, max_rows, epochs, quick, without):
    """``without``: ``tabular_recipe.run``'s result for this dataset and seed."""
    task, _, X, y, X_test, y_test = tabular_recipe.split(name, seed, max_rows)
    found, _ = recipe.search(X, y, task, seed, quick)
    result = {"dataset": name, "seed": seed, "task": task,
              "formula": found.formula_.format(3), "suggested rank": found.interaction_rank_,
              "gain": found.interaction_gain_,
              "check losses": {str(k): v for k, v in found.interaction_losses_.items()},
              "TN without": without["TN"], "LN": without["LN"],
              "same search": found.formula_.format(3) == without["formula"]}
    result["TN with"] = without["TN"]
    result["TN with params"] = without["TN params"]
    result.update(_with_interactions(found, task, X, y, X_test, y_test, epochs, seed, without,
                                     kinds=("TN", "LN")))
    print(f"{name} seed {seed}: rank {result['suggested rank']}  with {result['TN with']:.4f}  "
          f"without {result['TN without']:.4f}  LN {result['LN']:.4f}", flush=True)
    return result


def _with_interactions(found, task, X, y, X_test, y_test, epochs, seed, without, kinds):
    """The README networks with ``interactions=True`` (``kinds`` of them:
    ``"TN"``, and ``"LN"``, the Dense network re-matched to it), trained:
    ``{"TN with": ..., "LN matched": ..., and their params}``; with rank 0
    they are ``without``'s networks."""
    names = {"TN": "TN with", "LN": "LN matched"}
    if not found.interaction_rank_:
        return {names[k] + key: without[k + key] for k in kinds for key in ("", " params")}
    n_outputs = len(np.unique(y)) if task == "classification" else 1
    built = recipe.readme_networks(found, X, n_outputs, task, seed, interactions=True)[0]
    scores = {}
    for kind in kinds:
        scores[names[kind]] = recipe.fit_and_score(built[kind], X, y, X_test, y_test, task,
                                                   epochs, seed)
        scores[names[kind] + " params"] = built[kind].count_params()
    return scores


def run_to_file(name, seed, max_rows, epochs):
    def compute():
        without = tabular_recipe.run_to_file(name, seed, max_rows, epochs)
        return run(name, seed, max_rows, epochs, False, without)

    path = tabular_recipe.result_path(FOLDER, name, seed)
    result = common.result_file(path, compute)
    if "LN matched" not in result:  # files written before the re-matched Dense network
        task, _, X, y, X_test, y_test = tabular_recipe.split(name, seed, max_rows)
        found = recipe.search(X, y, task, seed)[0] if result["suggested rank"] else None
        without = tabular_recipe.run_to_file(name, seed, max_rows, epochs)
        result.update(_with_interactions(found, task, X, y, X_test, y_test, epochs, seed,
                                         without, kinds=("LN",)) if found else
                      {"LN matched": without["LN"], "LN matched params": without["LN params"]})
        common.store(path, result)


def report(results, quick, argv):
    import keras

    rows, counts = [], {"helped": 0, "hurt": 0, "same": 0, "suggested": 0}
    against_counts = {"TN": 0, "within": 0, "LN": 0, "majority": 0}
    for name in tabular_recipe.ALL:
        runs = sorted((r for r in results if r["dataset"] == name), key=lambda r: r["seed"])
        if not runs:
            continue
        classification = runs[0]["task"] == "classification"
        sign = -1 if classification else 1  # lower is better after the sign
        with_, without, ln = (np.array([r[k] for r in runs]) for k in ("TN with", "TN without",
                                                                         "LN"))
        ranks = [r["suggested rank"] for r in runs]
        suggested = [r for r in runs if r["suggested rank"]]
        wins = sum(sign * r["TN with"] < sign * r["TN without"] for r in suggested)
        if not suggested:
            verdict = "no rank suggested"
            counts["same"] += 1
        else:
            counts["suggested"] += 1
            spread = without.std()
            delta = sign * (with_.mean() - without.mean())
            verdict = ("helps" if delta < 0 else
                       "within 1 std" if delta <= spread else "hurts")
            counts["helped"] += verdict == "helps"
            counts["hurt"] += verdict == "hurts"
        row = [name, "accuracy ↑" if classification else "MSE ↓", ", ".join(map(str, ranks)),
               f"{np.mean([r['gain'] for r in runs]):.2f}",
               common.summary(ln), common.summary(without), common.summary(with_),
               verdict, f"{wins}/{len(suggested)}", str(runs[0]["TN with params"])]
        if all("LN matched" in r for r in runs):
            matched = np.array([r["LN matched"] for r in runs])
            against, paired, is_better = tabular_recipe.compare(with_, matched, classification)
            for key, value in (("TN", against == "TN"), ("within", against == "within 1 std"),
                               ("LN", against == "LN"),
                               ("majority", is_better and paired >= 0.6 * len(runs))):
                against_counts[key] += value
            row += [common.summary(matched), against, f"{paired}/{len(runs)}"]
        rows.append(row)
    disagree = sum(not r["same search"] for r in results)
    seeds = max((len([r for r in results if r["dataset"] == n]) for n in tabular_recipe.ALL),
                default=0)
    text = common.header("Interaction terms in the README recipe on tabular data", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Seeds per dataset: up to {seeds}. Runs whose "
        f"search disagreed with tabular_recipe's: {disagree}.",
        "",
        f"**The check suggested a rank in at least one seed on {counts['suggested']} of "
        f"{len(rows)} datasets; there, `interactions=True` helped (mean over seeds) on "
        f"{counts['helped']}, was within one std of the network without on "
        f"{counts['suggested'] - counts['helped'] - counts['hurt']} and hurt on "
        f"{counts['hurt']}.**",
        "",
        f"**With `interactions=True` as the recipe, against the Dense network re-matched to "
        f"it (columns on the right; datasets with every seed measured: "
        f"{sum(against_counts[k] for k in ('TN', 'within', 'LN'))}): TN better (mean) on "
        f"{against_counts['TN']}, worse by at most one LN std on {against_counts['within']}, "
        f"worse by more on {against_counts['LN']}; better with TN winning at least 60 % of "
        f"the paired seeds: {against_counts['majority']}.**",
        "",
        common.table(["dataset", "metric", "suggested ranks", "mean gain (check)",
                      "LN + Normalization", "TN without", "TN, interactions=True", "verdict",
                      "seeds better (where suggested)", "params TN with (seed 0)",
                      "LN matched to TN with", "TN with vs it", "paired seeds TN with better"],
                     rows),
        "",
    ])
    common.write_results("tabular_interactions", text, results, quick, lambda raw: None)


def main():
    args, names = tabular_recipe.arguments(__doc__, "tabular_interactions")
    if args.quick:
        results = []
        for name in ("airfoil self noise", "breast cancer (scikit-learn)"):
            without = tabular_recipe.run(name, 0, 300, 2, True)
            results.append(run(name, 0, 300, 2, True, without))
        report(results, True, sys.argv)
        return
    report(tabular_recipe.stored_results(args, names, FOLDER, run_to_file), False, sys.argv)


if __name__ == "__main__":
    main()
