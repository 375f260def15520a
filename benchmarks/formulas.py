"""The formulas the search finds on the seven tabular datasets, per function set.

For each dataset of ``benchmarks/tabular.py`` (the same split and [-1, 1]
scaling, seed 0) the search runs with its defaults, once with the polynomial
function set (add, sub, mul: the paper's) and once with the default set
(add, sub, mul, sin, cos, exp). Reported: the chosen formula, its
complexity, the front's size, the search model's R² (or accuracy) on the
test split, and the time. This decides the command line's default function
set.

    python benchmarks/formulas.py --jobs 2
    python benchmarks/formulas.py --quick
"""

import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import datasets  # noqa: E402
import tabular  # noqa: E402

FUNCTION_SETS = {
    "polynomial": ("add", "sub", "mul"),
    "default": ("add", "sub", "mul", "sin", "cos", "exp"),
}


def run(name, label, quick):
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    loader, task, _ = datasets.DATASETS[name]
    X, y = loader()
    X_train, y_train, X_test, y_test = tabular.prepare(X, y, task, 0, quick)
    Search = VectorizedSymbolicClassifier if task == "classification" else VectorizedSymbolicRegressor
    search = Search(function_set=FUNCTION_SETS[label], scaling="none", random_state=0,
                    **(dict(population_size=100, generations=2) if quick else {}))
    start = time.perf_counter()
    search.fit(X_train, y_train)
    took = time.perf_counter() - start
    score = search.score(X_test, y_test)
    print(f"{name} {label}: {search.formula_.format(3)} (score {score:.4f}, {took:.1f}s)", flush=True)
    return dict(dataset=name, functions=label, formula=str(search.formula_),
                shown=search.formula_.format(3), complexity=search.equations_.best.complexity,
                front=len(search.equations_), score=float(score), seconds=took,
                metric="accuracy" if task == "classification" else "R²")


def main():
    parser = common.argument_parser(__doc__, "formulas")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args()
    tasks = [(name, label, args.quick) for name in datasets.DATASETS for label in FUNCTION_SETS]
    raw = common.parallel_map(run, tasks, args.jobs)
    rows = [[r["dataset"], r["functions"], f"`{r['shown']}`", r["complexity"], r["front"],
             f"{r['metric']} {r['score']:.4f}", f"{r['seconds']:.1f}"] for r in raw]
    text = common.header("Formulas found on the tabular datasets", sys.argv) + "\n".join([
        "Training split of seed 0 of `benchmarks/tabular.py`, inputs scaled to [-1, 1], search "
        "defaults (population 1000, 20 generations, Pareto front, model_selection=\"best\"), "
        "`scaling=\"none\"`. Score: the search model itself (a·Σf + b, or the logistic map) "
        "on the test split.",
        "",
        common.table(["dataset", "function set", "formula", "complexity", "front",
                      "test score", "seconds"], rows),
        "",
    ])
    common.write_results("formulas", text, raw, args.quick, lambda raw: None)


if __name__ == "__main__":
    main()
