"""Interaction terms on a target a separable neuron cannot form.

Synthetic target ``y = 2 (aᵀu)(bᵀu) + Σ_i sin(2 u_i) + noise``, ``u`` in
U(-1, 1)^8, ``a`` and ``b`` random unit directions, the features given on
raw scales (column ``i`` is ``u_i · s_i + o_i``, ``s_i = 10**U(-1, 3)``, as
in ``handoff.py``), 2,000 rows (1,500 train, 500 test), noise std 0.05. Per
seed, three networks of the README recipe (``recipe.py``: the search's
defaults on the raw rows, ``layer_factory``, hidden 32 and 16, ReLU): the
task network whose first layer takes the search's suggested
``interaction_rank_`` (``layer_factory(interactions=True)``), the same
without (the default), and the narrowest Dense network with at least the
first one's parameters (given an adapted ``Normalization``); and ONE
task-neuron unit (``make(1)``, a linear model of the bases) with and
without the suggested rank, which shows the term itself. The recipe's
training (Adam 1e-3, 300 epochs) leaves that unit far from converged, so it
is also trained with Adam 1e-2 (``CONVERGED_RATE``), with and without the
term, beside the narrowest one-hidden-layer Dense network with at least its
parameters (ReLU, adapted ``Normalization``), trained the same. One result
file per seed (``results/interactions/``), merged by the report step.

    python benchmarks/interactions.py --seeds 5
    python benchmarks/interactions.py --report-only
    python benchmarks/interactions.py --quick      # CI: tiny sizes
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402

N, D, TRAIN, NOISE = 2000, 8, 1500, 0.05
FOLDER = os.path.join(common.RESULTS, "interactions")
CONVERGED_RATE = 1e-2


def data(seed, n=N):
    rng = np.random.default_rng(seed)
    U = rng.uniform(-1, 1, (n, D))
    a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, D)))
    y = 2 * (U @ a) * (U @ b) + np.sin(2 * U).sum(axis=1) + NOISE * rng.normal(size=n)
    scales = 10.0 ** rng.uniform(-1, 3, D)
    X = (U * scales + rng.uniform(-2, 2, D) * scales).astype("float32")
    train = int(n * TRAIN / N)
    return X[:train], y[:train].astype("float32"), X[train:], y[train:].astype("float32")


def run(seed, quick):
    X, y, X_test, y_test = data(seed, 300 if quick else N)
    epochs = 2 if quick else 300
    found, seconds = recipe.search(X, y, "regression", seed, quick)
    built, widths = recipe.readme_networks(found, X, 1, "regression", seed, interactions=True)
    without, _ = recipe.readme_networks(found, X, 1, "regression", seed)
    units = one_units(found, X, seed)
    result = {
        "seed": seed, "formula": found.formula_.format(3), "search_seconds": seconds,
        "suggested rank": found.interaction_rank_, "gain": found.interaction_gain_,
        "check losses": {str(k): v for k, v in found.interaction_losses_.items()},
        "LN widths": widths,
    }
    for name, model in (("TN", built["TN"]), ("TN without", without["TN"]), ("LN", built["LN"]),
                        *units.items()):
        result[name] = recipe.fit_and_score(model, X, y, X_test, y_test, "regression", epochs,
                                            seed)
        result[name + " params"] = model.count_params()
    result["converged"] = converged_units(found, X, y, X_test, y_test, seed, epochs)
    print(f"seed {seed}: {result['formula']} rank {result['suggested rank']}  TN "
          f"{result['TN']:.4f}  without {result['TN without']:.4f}  LN {result['LN']:.4f}  "
          f"one unit {result['unit']:.4f} / without {result['unit without']:.4f}",
          flush=True)
    return result


def one_units(found, X, seed):
    """``{"unit": ..., "unit without": ...}``: ONE task-neuron unit
    (``make(1)``) with and without the suggested interaction rank."""
    import keras

    units = {}
    for name, rank in (("unit", found.interaction_rank_), ("unit without", 0)):
        keras.utils.set_random_seed(seed)
        units[name] = keras.Sequential(
            [keras.Input((X.shape[1],)), found.layer_factory(interaction_rank=rank)(1, first=True)])
    return units


def converged_units(found, X, y, X_test, y_test, seed, epochs):
    """One unit with and without the suggested rank and the narrowest
    one-hidden-layer Dense network with at least as many parameters, each
    trained with Adam ``CONVERGED_RATE``: ``{name: score, name + " params":
    count}``."""
    import keras

    from keras_taskneurons import networks

    models = one_units(found, X, seed)
    (width,) = networks.matching_linear_widths([1], X.shape[1], 1, models["unit"].count_params())
    keras.utils.set_random_seed(seed)
    normalization = keras.layers.Normalization()
    normalization.adapt(X)
    models["Dense"] = keras.Sequential([keras.Input((X.shape[1],)), normalization,
                                        keras.layers.Dense(width, activation="relu"),
                                        keras.layers.Dense(1)])
    scores = {}
    for name, model in models.items():
        scores[name] = recipe.fit_and_score(model, X, y, X_test, y_test, "regression", epochs,
                                            seed, learning_rate=CONVERGED_RATE)
        scores[name + " params"] = model.count_params()
    return scores


def _converged_for(seed):
    X, y, X_test, y_test = data(seed)
    found, _ = recipe.search(X, y, "regression", seed)
    return converged_units(found, X, y, X_test, y_test, seed, 300)


def report(results, quick, argv):
    import keras

    rows, converged = [], []
    if results:
        tn, without, ln = (np.array([r[k] for r in results]) for k in ("TN", "TN without", "LN"))
        goal = [t <= 0.5 * min(w, linear) for t, w, linear in zip(tn, without, ln)]
        rows.append([
            len(results), common.summary(ln), common.summary(without), common.summary(tn),
            f"{int(np.sum(tn < without))}/{len(results)}", f"{int(np.sum(tn < ln))}/{len(results)}",
            f"{sum(goal)}/{len(results)}",
            ", ".join(str(r["suggested rank"]) for r in results),
            f"{results[0]['TN params']} / {results[0]['TN without params']} / "
            f"{results[0]['LN params']}",
        ])
        unit, unit_without = (np.array([r[k] for r in results]) for k in ("unit", "unit without"))
        unit_rows = [[len(results), common.summary(unit_without), common.summary(unit),
                      f"{int(np.sum(unit < unit_without))}/{len(results)}",
                      f"{results[0]['unit without params']} / {results[0]['unit params']}"]]
        converged = [r["converged"] for r in results if "converged" in r]
    if converged:
        c_unit, c_without, c_dense = (np.array([c[k] for c in converged])
                                      for k in ("unit", "unit without", "Dense"))
        converged_rows = [[
            len(converged), common.summary(c_dense), common.summary(c_without),
            common.summary(c_unit),
            f"{sum(u <= 0.5 * min(w, d) for u, w, d in zip(c_unit, c_without, c_dense))}"
            f"/{len(converged)}",
            f"{converged[0]['unit params']} / {converged[0]['unit without params']} / "
            f"{converged[0]['Dense params']}"]]
    text = common.header("Interaction terms: a product of two projections", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Test MSE, mean (std) over seeds. Goal: the "
        "task network with the suggested interactions at most half the test MSE of both "
        "the same without them and Dense.",
        "",
        common.table(["seeds", "Dense + Normalization", "TN, recipe (no interactions)",
                      "TN, suggested rank (interactions=True)", "seeds better than without",
                      "seeds better than Dense", "goal met (≤ half of both)",
                      "suggested ranks", "params TN / without / Dense"], rows),
        "",
        "One task-neuron unit (a linear model of the bases), without and with the suggested "
        "interaction rank:",
        "",
        common.table(["seeds", "without", "with the suggested rank", "seeds better",
                      "params without / with"], unit_rows if results else []),
        "",
        f"The same unit trained with Adam {CONVERGED_RATE:g} (converged), against the "
        "narrowest one-hidden-layer Dense network with at least its parameters:",
        "",
        common.table(["seeds", "Dense + Normalization", "unit without", "unit with the "
                      "suggested rank", "≤ half of both", "params with / without / Dense"],
                     converged_rows if converged else []),
        "",
        "Formulas: " + "; ".join(f"seed {r['seed']}: `{r['formula']}`" for r in results),
        "",
    ])
    common.write_results("interactions", text, results, quick, lambda raw: None)
    print(text)


def main():
    parser = common.argument_parser(__doc__, "interactions")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.quick:
        report([run(0, True)], True, sys.argv)
        return
    os.makedirs(FOLDER, exist_ok=True)
    results = [common.result_file(os.path.join(FOLDER, f"seed{seed}.json"),
                                  lambda seed=seed: run(seed, False), args.report_only)
               for seed in range(args.seeds)]
    for seed, result in enumerate(results):  # files written before the converged units
        if result is not None and "converged" not in result and not args.report_only:
            result["converged"] = _converged_for(seed)
            common.store(os.path.join(FOLDER, f"seed{seed}.json"), result)
    report([r for r in results if r is not None], False, sys.argv)


if __name__ == "__main__":
    main()
