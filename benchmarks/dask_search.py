"""The search on a Dask cluster: one worker against two, same formula.

A ``VectorizedSymbolicRegressor`` with a large population runs three times on
the same data and seed: serially (``n_jobs=1``, no cluster), and through
``joblib.parallel_config(backend="dask")`` on a ``dask.distributed``
``LocalCluster`` of one and of two single-threaded worker processes
(``n_jobs=2`` both: gplearn splits each generation into two batches, which
one worker takes in turn or two take at once). gplearn's evolution is what runs
on the workers; the sparse combination of bases, the constant tuning and the front
run in the calling process, so they bound the speed-up (Amdahl). Reported:
wall-clock seconds of ``fit`` (cluster start and the workers' first import
of the package excluded) and of its evolution, the speed-up of two
workers over one, and whether every run found the same formula.

    python benchmarks/dask_search.py            # full: population 10,000
    python benchmarks/dask_search.py --quick    # CI: population 500
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

JOBS = 2
"""``n_jobs`` of the cluster runs: gplearn splits each generation into this
many batches, which the cluster's workers take."""


def data(seed=0, n=2000, d=10):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    return X, (X**3 - X).sum(axis=1) + 0.01 * rng.normal(size=n)


def fit(population, generations, n_jobs):
    from keras_taskneurons import VectorizedSymbolicRegressor

    started = time.perf_counter()
    regressor = VectorizedSymbolicRegressor(
        population_size=population, generations=generations, n_jobs=n_jobs, random_state=0,
    ).fit(*data())
    return (str(regressor.formula_), time.perf_counter() - started,
            regressor.run_details_["seconds"][-1])


def on_cluster(workers, population, generations):
    import importlib

    import distributed
    import joblib

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # Each worker imports the package (and Keras) once, when it first
        # unpickles a primitive: part of starting the cluster, not of the fit.
        client.run(importlib.import_module, "keras_taskneurons")
        with joblib.parallel_config(backend="dask"):
            return fit(population, generations, n_jobs=JOBS)


def main():
    parser = common.argument_parser(__doc__, "dask_search")
    parser.add_argument("--population", type=int, default=10_000)
    parser.add_argument("--generations", type=int, default=5)
    args = parser.parse_args()
    population = 500 if args.quick else args.population
    generations = 2 if args.quick else args.generations

    runs = {"serial (n_jobs=1, no cluster)": fit(population, generations, n_jobs=1)}
    for workers in (1, 2):
        label = f"Dask LocalCluster, {workers} worker{'s' * (workers > 1)}"
        print(label, flush=True)
        runs[label] = on_cluster(workers, population, generations)
    one, two = (runs[f"Dask LocalCluster, {w}"] for w in ("1 worker", "2 workers"))
    same = len({formula for formula, _, _ in runs.values()}) == 1
    from keras_taskneurons import Formula

    rows = [[label, f"{seconds:.1f}", f"{evolution:.1f}", f"{seconds - evolution:.1f}",
             f"`{Formula.parse(formula).format(4)}`"]
            for label, (formula, seconds, evolution) in runs.items()]
    text = common.header("The search on a Dask cluster", sys.argv) + "\n".join([
        " ".join(__doc__.split("\n\n")[1].split()),
        "",
        f"Data: 2,000 samples, 10 variables, y = Σ (x³ − x) + 1 % noise (20,000 stacked values "
        f"per program). Population {population}, {generations} generations, seed 0.",
        "",
        common.table(["run", "fit seconds", "of which evolution", "after the evolution",
                      "formula"], rows),
        "",
        f"Two workers against one: fit **{one[1] / two[1]:.2f}x** faster, the evolution "
        f"**{one[2] / two[2]:.2f}x**. Same formula in every run: **{'yes' if same else 'NO'}**.",
        "",
    ])
    raw = {"population": population, "generations": generations,
           "runs": {label: {"formula": f, "seconds": s, "evolution_seconds": e}
                    for label, (f, s, e) in runs.items()}}
    common.write_results("dask_search", text, raw, args.quick, plot=lambda raw: None)
    if not same:
        raise SystemExit("the runs found different formulas")


if __name__ == "__main__":
    main()
