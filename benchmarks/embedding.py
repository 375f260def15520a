"""TaskNeuronEmbedding at full size: an MLP after each embedding against the plain MLP.

Every set at full size, quantile-normal inputs (PLR's protocol) for every
network, the target standardized on the training rows; a 60/20/20 split per
seed; the same MLP (128, 128, ReLU) after each first layer; Adam 1e-3, batch
256, at most 200 epochs, early stopping on the validation rows (patience 16,
best weights restored); untuned. First layers: none (the MLP); the presets
"periodic" (sigma chosen on the validation rows among 0.3, 1, 3), "rbf" and
"hinge" (the fixed-formula controls); "searched": the shape ``EmbeddingSearch``
chooses on the training rows (presets, ``x`` and the evolved front, each
scored by the embedding's random-feature ridge readout); "random": a random
formula from the search's function set (the random-formula control);
"recipe": the README's network (``recipe.py``: the search, then its layer
factory, hidden 32 and 16) in place of the whole MLP; "validated": the
searched network, or the MLP where the MLP's validation RMSE is lower (both
trained: its epoch is theirs together; the choice is read from their result
files, no network of its own). 16 copies, 16 values
per input. One result file per set, seed and network
(``results/embedding/``): an interrupted run resumes; ``--report-only``
merges them.
"""

import math
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402
import datasets  # noqa: E402
import peers  # noqa: E402
import recipe  # noqa: E402
from peers import quantile_normal  # noqa: E402

SETS = {
    "wine quality": datasets.wine_quality,
    "abalone": datasets.abalone,
    "skillcraft1": datasets.skillcraft,
    "bikeshare": datasets.bikeshare,
    "401k assets": datasets.k401_assets,
    "two-year college": datasets.two_year_college,
    "labor supply": datasets.labor_supply,
    "diamonds": datasets.diamonds,
}
"""Every set with at least 3,000 rows of the pinned packages (the first three
and diamonds: the paper's and #49's; the next four: at least 5,000 rows)."""
NETWORKS = ("MLP", "periodic", "searched", "rbf", "hinge", "random", "recipe")
VALIDATED = "validated"
"""The searched network kept only where it beats the MLP on the validation
rows (the choice a user makes before touching the test rows)."""
SIGMAS = (0.3, 1.0, 3.0)
COPIES, DIM, HIDDEN = 16, 16, (128, 128)
FOLDER = os.path.join(common.RESULTS, "embedding")


def split(n, seed):
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(0.6 * n), int(0.8 * n)
    return order[:a], order[a:b], order[b:]


def prepared(name, seed, quick):
    X, y = SETS[name]()
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
    from keras_taskneurons import EmbeddingSearch, TaskNeuronEmbedding

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
    elif kind == "searched":
        search = EmbeddingSearch(
            copies=COPIES, random_state=seed,
            search_params=dict(population_size=100, generations=2) if quick else None)
        search.fit(Xs[0], ys[0])
        shape, best = search.shape_, search.best_preset_
        result.update(shape=shape.name, formula=str(shape.formula), placement=shape.placement,
                      sigma=shape.sigma, proxy_loss=shape.loss, best_preset=best.name,
                      best_preset_sigma=best.sigma, best_preset_proxy_loss=best.loss,
                      evolution_seconds=search.search_seconds_,
                      scoring_seconds=search.scoring_seconds_)
        result.update(train(network(search.embedding(DIM), d, seed), Xs, ys, epochs, seed))
    elif kind == "random":
        from keras_taskneurons.search import DEFAULT_FUNCTION_SET

        drawn = peers.random_formula(DEFAULT_FUNCTION_SET, seed, dataset=name)
        result.update(formula=str(drawn))
        first = TaskNeuronEmbedding(DIM, drawn, copies=COPIES, seed=seed)
        result.update(train(network(first, d, seed), Xs, ys, epochs, seed))
    else:  # the README's recipe, trained under this protocol
        found, seconds = recipe.search(Xs[0], ys[0], "regression", seed, quick)
        result.update(formula=str(found.formula_), search_seconds=seconds)
        model = recipe.readme_networks(found, Xs[0], 1, "regression", seed)[0]["TN"]
        result.update(train(model, Xs, ys, epochs, seed))
    print(f"{name} seed {seed} {kind}: RMSE {result['rmse']:.4f} "
          f"({result['seconds_per_epoch']:.2f} s/epoch)", flush=True)
    return result


def case_path(name, seed, kind, quick):
    return os.path.join(FOLDER + ("_quick" if quick else ""),
                        f"{common.slug(name)}-{common.slug(kind)}-s{seed}.json")


def store_case(path, name, seed, kind, quick):
    return common.result_file(path, lambda: run_case(name, seed, kind, quick))


def _chosen(cases):
    """The formulas or shapes the seeds chose, most frequent first."""
    from keras_taskneurons import Formula

    names = [c.get("shape") if c.get("shape") in ("periodic", "rbf", "hinge", "polynomial", "x")
             else f"`{Formula(c['formula']).format(3)}`" for c in cases]
    counts = {n: names.count(n) for n in dict.fromkeys(names)}
    return ", ".join(f"{n} ×{k}" for n, k in sorted(counts.items(), key=lambda t: -t[1])[:3])


def validated(results):
    """The derived "validated" cases: per set and seed, the searched network's
    result where its validation RMSE is below the MLP's, else the MLP's; its
    epoch costs both networks' epochs."""
    runs = {(r["set"], r["seed"], r["network"]): r for r in results}
    derived = []
    for name, seed, kind in list(runs):
        if kind != "searched" or (name, seed, "MLP") not in runs:
            continue
        searched, mlp = runs[name, seed, "searched"], runs[name, seed, "MLP"]
        kept = searched if searched["val_rmse"] < mlp["val_rmse"] else mlp
        derived.append(dict(kept, network=VALIDATED, kept=kept["network"],
                            seconds_per_epoch=searched["seconds_per_epoch"]
                            + mlp["seconds_per_epoch"]))
    return derived


def report(results, quick):
    lines = [common.header("TaskNeuronEmbedding at full size", sys.argv), __doc__.split("\n\n", 1)[1],
             "| set | rows | network | test RMSE (mean ± std) | vs MLP | s / epoch vs MLP | seeds |",
             "|---|---|---|---|---|---|---|"]
    summary = []
    results = results + validated(results)
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]
        mlp = {r["seed"]: r for r in rows if r["network"] == "MLP"}
        for kind in NETWORKS + (VALIDATED,):
            cases = [r for r in rows if r["network"] == kind]
            if not cases:
                continue
            rmse = np.array([r["rmse"] for r in cases])
            diverged = [r["seed"] for r in cases if not np.isfinite(r["rmse"])]
            rmse = rmse[np.isfinite(rmse)]  # a diverged seed is named, not averaged
            paired = [(r["rmse"], mlp[r["seed"]]["rmse"], r["seconds_per_epoch"] /
                       mlp[r["seed"]]["seconds_per_epoch"]) for r in cases
                      if r["seed"] in mlp and np.isfinite(r["rmse"])]
            change = (f"{100 * np.mean([a / b - 1 for a, b, _ in paired]):+.1f} %"
                      if paired and kind != "MLP" else "—")
            ratio = f"{np.median([c for *_, c in paired]):.2f}" if paired and kind != "MLP" else "—"
            extra = f" ({_chosen(cases)})" if kind in ("searched", "random", "recipe") else ""
            if kind == VALIDATED:
                kept = [c["kept"] for c in cases]
                extra = f" (searched kept on {kept.count('searched')} of {len(kept)} seeds)"
            if diverged:
                extra += (f"; **diverged (NaN) on seed {', '.join(map(str, diverged))}**, "
                          "the figures are the other seeds'")
            mean, std = ((rmse.mean(), rmse.std()) if rmse.size else (math.nan, math.nan))
            lines.append(f"| {name} | {cases[0]['rows']} | {kind}{extra} | {mean:.4f} ± "
                         f"{std:.4f} | {change} | {ratio} | {len(cases)} |")
            summary.append(dict(set=name, network=kind, rmse=float(mean), std=float(std),
                                seeds=len(cases), diverged=diverged))
    lines += goals(results) + ["", common.measured_at(results)]
    common.write_results("embedding", "\n".join(lines) + "\n",
                         dict(cases=results, summary=summary), quick, lambda raw: None)


def goals(results):
    """#49's goals, on each set's seeds where the MLP, the searched network and
    every preset ran (paired seeds), for the searched network and for the
    validated choice."""
    kinds = ("MLP", "searched", VALIDATED, "periodic", "rbf", "hinge")
    means, counted = {}, []
    for name in dict.fromkeys(r["set"] for r in results):
        runs = {(r["seed"], r["network"]): r["rmse"] for r in results if r["set"] == name}
        seeds = [s for s in dict.fromkeys(k[0] for k in runs) if all((s, k) in runs for k in kinds)]
        if seeds:
            counted.append((name, len(seeds)))
            for kind in kinds:
                # A network that diverged on a seed (NaN) scores inf: it is worse than any
                # other there, so it is better than none and level with none.
                values = np.array([runs[s, kind] for s in seeds])
                values = np.where(np.isfinite(values), values, np.inf)
                means[name, kind] = ((values.mean(), values.std()) if np.all(np.isfinite(values))
                                     else (np.inf, 0.0))
    if not counted:
        return []
    names = [n for n, _ in counted]
    rmse = {key: value[0] for key, value in means.items()}
    seeds = ", ".join(f"{n} {k}" for n, k in counted)
    lines = ["", f"Goals over {len(names)} sets, on the seeds where every network ran ({seeds}):"]
    for kind, label in (("searched", "the searched embedding network"),
                        (VALIDATED, "the validated choice (searched or MLP)")):
        better_mlp = sum(rmse[n, kind] < rmse[n, "MLP"] for n in names)
        worse_std = sum(rmse[n, kind] > rmse[n, "MLP"] + means[n, "MLP"][1] for n in names)
        level = sum(rmse[n, kind] <= min(rmse[n, k] + means[n, k][1]
                                         for k in ("periodic", "rbf", "hinge")) for n in names)
        better_plr = sum(rmse[n, kind] < rmse[n, "periodic"] for n in names)
        diverged = [n for n in names if not np.isfinite(rmse[n, kind])]
        lines += [
            f"- {label}: better than the MLP on {better_mlp} (goal ≥ 75 %: "
            f"{'met' if better_mlp >= 0.75 * len(names) else 'not met'}), worse by more than "
            f"the MLP's std on {worse_std} (goal 0); level with the best preset (within its "
            f"std) on {level} (goal ≥ half); better than PLR (periodic, sigma chosen on "
            f"validation) on {better_plr} (goal ≥ a third)"] + (
            [f"  - it diverged (NaN) on a seed of {', '.join(diverged)}: counted as worse than "
             "every other network there"] if diverged else [])
    return lines


def main():
    parser = common.argument_parser(__doc__, "embedding")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument("--networks", default=",".join(NETWORKS),
                        help="comma-separated networks (the MLP is always run)")
    parser.add_argument("--report-only", action="store_true",
                        help="merge the stored result files, run nothing")
    args = parser.parse_args()
    unknown = set(args.sets.split(",")) - set(SETS)
    if unknown:
        parser.error(f"--sets: no set named {sorted(unknown)}; known: {sorted(SETS)}")
    seeds = 1 if args.quick else args.seeds
    names = args.sets.split(",")[:1] if args.quick else args.sets.split(",")
    kinds = ("MLP", "searched", "random") if args.quick else tuple(
        dict.fromkeys(["MLP"] + args.networks.split(",")))
    # seeds outermost: a run cut short leaves whole seeds of every set
    cases = [(name, seed, kind) for seed in range(seeds) for name in names for kind in kinds]
    folder = FOLDER + ("_quick" if args.quick else "")
    if args.quick:  # a quick run always runs: CI checks the code, not stored files
        shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    tasks = [(case_path(*c, args.quick), *c, args.quick) for c in cases]
    if not args.report_only:
        todo = [t for t in tasks if not os.path.exists(t[0])]
        common.parallel_map(store_case, todo, args.jobs)
    results = [common.result_file(t[0], None, report_only=True) for t in tasks]
    report([r for r in results if r is not None], args.quick)


if __name__ == "__main__":
    main()
