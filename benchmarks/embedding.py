"""TaskNeuronEmbedding at full size: an MLP with each embedding against the plain MLP.

Every set at full size, quantile-normal inputs (PLR's protocol) for every
network, the target standardized on the training rows; a 60/20/20 split per
seed; the same MLP (128, 128, ReLU) after each first layer; Adam 1e-3, batch
256, at most 200 epochs, early stopping on the validation rows (patience 16,
best weights restored); untuned. First layers: none (the MLP), the presets
"periodic" (sigma chosen on the validation rows among 0.3, 1, 3), "rbf" and
"hinge", and the formula today's search finds on the training rows ("searched",
centres placement; the search scores one copy, not this structure: #49's
item 3 is not built yet). 16 copies, 16 values per input. One result file per
set, seed and network (``results/embedding/``): an interrupted run resumes;
``--report-only`` merges them.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
import datasets  # noqa: E402
from peers import quantile_normal  # noqa: E402

SETS = {
    "wine quality": datasets.wine_quality,
    "abalone": datasets.abalone,
    "skillcraft1": datasets.skillcraft,
}
"""The sets with at least 3,000 rows that load from the pinned packages (diamonds
is the fourth: add it with ``--sets``)."""
EXTRA_SETS = {"diamonds": datasets.diamonds}
NETWORKS = ("MLP", "periodic", "rbf", "hinge", "searched")
SIGMAS = (0.3, 1.0, 3.0)
COPIES, DIM, HIDDEN = 16, 16, (128, 128)
FOLDER = os.path.join(common.RESULTS, "embedding")


def split(n, seed):
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(0.6 * n), int(0.8 * n)
    return order[:a], order[a:b], order[b:]


def prepared(name, seed, quick):
    X, y = (SETS | EXTRA_SETS)[name]()
    if quick:
        X, y = X[:600], y[:600]
    train, val, test = split(len(y), seed)
    Xs = quantile_normal(X[train], X[val], X[test])
    mean, std = y[train].mean(), y[train].std()
    ys = [((y[part] - mean) / std).astype("float32") for part in (train, val, test)]
    return Xs, ys


def network(first, n_features, seed):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((n_features,))] + ([first] if first is not None else [])
    layers += [keras.layers.Dense(w, activation="relu") for w in HIDDEN] + [keras.layers.Dense(1)]
    return keras.Sequential(layers)


def train(model, Xs, ys, epochs, seed):
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    started = time.perf_counter()
    history = model.fit(Xs[0], ys[0], validation_data=(Xs[1], ys[1]), epochs=epochs,
                        batch_size=256, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(patience=16,
                                                                 restore_best_weights=True)])
    seconds = time.perf_counter() - started
    run = len(history.history["loss"])
    predict = [np.asarray(model.predict(X, verbose=0, batch_size=4096))[:, 0] for X in Xs[1:]]
    val, test = (float(np.sqrt(np.mean((p - t) ** 2))) for p, t in zip(predict, ys[1:]))
    return dict(val_rmse=val, rmse=test, epochs=run, seconds_per_epoch=seconds / run)


def run_case(name, seed, kind, quick):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from keras_taskneurons import TaskNeuronEmbedding, VectorizedSymbolicRegressor

    Xs, ys = prepared(name, seed, quick)
    epochs = 3 if quick else 200
    d = Xs[0].shape[1]
    result = dict(set=name, seed=seed, network=kind, rows=int(sum(len(y) for y in ys)),
                  features=d, version=common.versions().split(",")[0], commit=common.commit())
    if kind == "MLP":
        result.update(train(network(None, d, seed), Xs, ys, epochs, seed))
    elif kind == "periodic":
        tries = []
        for sigma in SIGMAS:
            first = TaskNeuronEmbedding(DIM, "periodic", copies=COPIES, sigma=sigma, seed=seed)
            tries.append(dict(sigma=sigma, **train(network(first, d, seed), Xs, ys, epochs, seed)))
        best = min(tries, key=lambda t: t["val_rmse"])
        result.update(best, tries=tries)
    elif kind in ("rbf", "hinge"):
        first = TaskNeuronEmbedding(DIM, kind, copies=COPIES, seed=seed)
        result.update(train(network(first, d, seed), Xs, ys, epochs, seed))
    else:
        started = time.perf_counter()
        search = VectorizedSymbolicRegressor(
            random_state=seed, **(dict(population_size=100, generations=2) if quick else {}))
        search.fit(Xs[0], ys[0])
        result.update(formula=str(search.formula_), search_seconds=time.perf_counter() - started)
        first = TaskNeuronEmbedding(DIM, search.formula_, copies=COPIES, seed=seed,
                                    input_map=search.input_map_)
        result.update(train(network(first, d, seed), Xs, ys, epochs, seed))
    print(f"{name} seed {seed} {kind}: RMSE {result['rmse']:.4f} "
          f"({result['seconds_per_epoch']:.2f} s/epoch)", flush=True)
    return result


def case_path(name, seed, kind, quick):
    return os.path.join(FOLDER + ("_quick" if quick else ""),
                        f"{common.slug(name)}-{common.slug(kind)}-s{seed}.json")


def store_case(path, name, seed, kind, quick):
    return common.result_file(path, lambda: run_case(name, seed, kind, quick))


def report(results, quick):
    lines = [common.header("TaskNeuronEmbedding at full size", sys.argv), __doc__.split("\n\n", 1)[1],
             "| set | rows | network | test RMSE (mean ± std) | vs MLP | s / epoch vs MLP | seeds |",
             "|---|---|---|---|---|---|---|"]
    summary = []
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]
        mlp = {r["seed"]: r for r in rows if r["network"] == "MLP"}
        for kind in NETWORKS:
            cases = [r for r in rows if r["network"] == kind]
            if not cases:
                continue
            rmse = np.array([r["rmse"] for r in cases])
            paired = [(r["rmse"], mlp[r["seed"]]["rmse"], r["seconds_per_epoch"] /
                       mlp[r["seed"]]["seconds_per_epoch"]) for r in cases if r["seed"] in mlp]
            change = (f"{100 * np.mean([a / b - 1 for a, b, _ in paired]):+.1f} %"
                      if paired and kind != "MLP" else "—")
            ratio = f"{np.median([c for *_, c in paired]):.2f}" if paired and kind != "MLP" else "—"
            extra = f" (`{cases[0]['formula']}`)" if kind == "searched" else ""
            lines.append(f"| {name} | {cases[0]['rows']} | {kind}{extra} | {rmse.mean():.4f} ± "
                         f"{rmse.std():.4f} | {change} | {ratio} | {len(cases)} |")
            summary.append(dict(set=name, network=kind, rmse=float(rmse.mean()),
                                std=float(rmse.std()), seeds=len(cases)))
    common.write_results("embedding", "\n".join(lines) + "\n",
                         dict(cases=results, summary=summary), quick, lambda raw: None)


def main():
    parser = common.argument_parser(__doc__, "embedding")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--report-only", action="store_true",
                        help="merge the stored result files, run nothing")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    names = args.sets.split(",")[:1] if args.quick else args.sets.split(",")
    kinds = ("MLP", "periodic", "searched") if args.quick else NETWORKS
    cases = [(name, seed, kind) for name in names for seed in range(seeds) for kind in kinds]
    os.makedirs(FOLDER + ("_quick" if args.quick else ""), exist_ok=True)
    tasks = [(case_path(*c, args.quick), *c, args.quick) for c in cases]
    if not args.report_only:
        todo = [t for t in tasks if not os.path.exists(t[0])]
        common.parallel_map(store_case, todo, args.jobs)
    results = [common.result_file(t[0], None, report_only=True) for t in tasks]
    report([r for r in results if r is not None], args.quick)


if __name__ == "__main__":
    main()
