"""The search's two fitnesses side by side on the 20 tabular datasets.

Per dataset (seed 0, the split and row cap of ``tabular_recipe.py``): the
search with its defaults on the raw training rows, once with
``fitness="separable"`` (the default: the model one unit of the first layer
computes, a weight per input and basis) and once with ``fitness="shared"``
(the paper's ``a·Σ_i f(x_i) + b``). Reported: each search's time and their
ratio, the chosen formula, the test score of each estimator's own model
(R² for regression, accuracy for classes) and of the linear neuron alone
(the separable model with ``x``), and whether the separable search kept
``x`` because no formula beat it on held-out rows. One result file per
dataset (``results/fitness/``), merged by the report step.

    python benchmarks/fitness.py
    python benchmarks/fitness.py --report-only
    python benchmarks/fitness.py --quick        # CI: tiny sizes
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import tabular_recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "fitness")


def run(name, seed, max_rows, quick=False):
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    task, shape, X, y, X_test, y_test = tabular_recipe.split(name, seed, max_rows)
    Search = VectorizedSymbolicClassifier if task == "classification" else VectorizedSymbolicRegressor
    small = dict(population_size=100, generations=2) if quick else {}
    result = {"dataset": name, "seed": seed, "task": task, "shape": shape}
    for fitness in ("separable", "shared"):
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = Search(random_state=seed, fitness=fitness, **small).fit(X, y)
        result[fitness] = {
            "seconds": time.perf_counter() - started,
            "formula": found.formula_.format(3),
            "test": float(found.score(X_test, y_test)),
            "kept x": any("beats the linear neuron" in str(w.message) for w in caught),
        }
        if fitness == "separable":
            linear = found.equations_.index("x")
            result["linear test"] = float(
                found.score(X_test, y_test) if linear == found.equations_.chosen else
                _score(found, X_test, y_test, linear, task))
    print(f"{name}: " + "  ".join(
        f"{k} {result[k]['formula']} {result[k]['test']:.3f} ({result[k]['seconds']:.1f} s)"
        for k in ("separable", "shared")), flush=True)
    return result


def _score(found, X, y, index, task):
    predicted = found.predict(X, index=index)
    if task == "classification":
        return np.mean(predicted == y)
    return 1 - np.mean((predicted - y) ** 2) / np.var(y)


def report(results, quick, argv):
    rows, ratios = [], []
    for r in results:
        sep, shared = r["separable"], r["shared"]
        ratios.append(sep["seconds"] / shared["seconds"])
        rows.append([r["dataset"], "accuracy" if r["task"] == "classification" else "R²",
                     f"{r['linear test']:.3f}", f"{sep['test']:.3f}", f"{shared['test']:.3f}",
                     "yes" if sep["kept x"] else "", f"`{sep['formula']}`"[:50],
                     f"`{shared['formula']}`"[:50],
                     f"{sep['seconds']:.1f} / {shared['seconds']:.1f}"])
    better = sum(r["separable"]["test"] > r["shared"]["test"] for r in results)
    kept = sum(r["separable"]["kept x"] for r in results)
    text = common.header("The search's fitness: the layer's unit against the paper's sum",
                         argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"**The separable search's own model scores better on the test rows than the shared "
        f"one on {better} of {len(rows)} datasets; it kept x on {kept}. Search time, separable "
        f"/ shared: median {np.median(ratios):.2f}x (range {min(ratios):.2f}–"
        f"{max(ratios):.2f}x).**",
        "",
        common.table(["dataset", "score", "x alone (unit)", "separable", "shared", "kept x",
                      "separable formula", "shared formula", "seconds sep / shared"], rows),
        "",
    ])
    common.write_results("fitness", text, results, quick, lambda raw: None)


def main():
    args, names = tabular_recipe.arguments(__doc__, "fitness")
    if args.quick:
        report([run(n, 0, 300, True) for n in ("yacht hydrodynamics", "pima")], True, sys.argv)
        return
    os.makedirs(FOLDER, exist_ok=True)
    results = []
    for name in names:
        path = tabular_recipe.result_path(FOLDER, name, 0)
        results.append(common.result_file(path, lambda n=name: run(n, 0, args.max_rows),
                                          report_only=args.report_only))
    report([r for r in results if r is not None], False, sys.argv)


if __name__ == "__main__":
    main()
