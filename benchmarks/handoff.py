"""The hand-off from search to layer on raw features of different units.

Synthetic targets ``y = Σ_i g(u_i) + noise`` with inner constants, ``u`` in
U(-1, 1)^8, the features given on raw scales: column ``i`` is ``u_i · s_i +
o_i`` with ``s_i = 10**U(-1, 3)`` (0.1 to 1000) and ``o_i = U(-2, 2)·s_i``,
2,000 rows (1,500 train, 500 test), noise std 0.05. Per target and seed: the
README recipe (``recipe.py``: the search's defaults on the raw rows, its
``layer_factory``, hidden 32 and 16, ReLU) against the narrowest Dense network
with at least as many parameters given an adapted ``Normalization``; and the
task network under each input scaling of the search (``scaling=``), to choose
the default. With the default scaling, the controls of ``peers.py``: the
same layers with a fixed ``x**2`` and with a random formula on the search's
map, and an MLP with periodic (PLR) embeddings. One result file per target
and seed (``results/handoff/``), merged by the report step, so an
interrupted run resumes.

    python benchmarks/handoff.py --seeds 5         # full
    python benchmarks/handoff.py --report-only     # merge the result files
    python benchmarks/handoff.py --quick           # CI: tiny sizes
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import peers  # noqa: E402
import recipe  # noqa: E402

TARGETS = {
    "sin(2.5u)": (lambda u: np.sin(2.5 * u), {"sin", "cos"}),
    "exp(-2u²)": (lambda u: np.exp(-2 * u**2), {"exp"}),
    "u³ - u": (lambda u: u**3 - u, 3),
    "u² - 0.5u": (lambda u: u**2 - 0.5 * u, 2),
}
"""name: (g, its family: the functions a formula of it calls, or a
polynomial's degree)."""
NON_POLYNOMIAL = {"sin", "cos", "exp", "log", "sqrt", "div", "inv", "abs", "tanh"}
SCALINGS = ("minmax", "standard", "global", "quantile")
DEFAULT = "standard"
"""What the estimators' default (``scaling="auto"``) picks for these
columns of different units: the README recipe's column."""
N, D, TRAIN, NOISE = 2000, 8, 1500, 0.05
FOLDER = os.path.join(common.RESULTS, "handoff")


def data(target, seed):
    rng = np.random.default_rng(seed)
    U = rng.uniform(-1, 1, (N, D))
    y = TARGETS[target][0](U).sum(axis=1) + NOISE * rng.normal(size=N)
    scales = 10.0 ** rng.uniform(-1, 3, D)
    X = (U * scales + rng.uniform(-2, 2, D) * scales).astype("float32")
    return X[:TRAIN], y[:TRAIN].astype("float32"), X[TRAIN:], y[TRAIN:].astype("float32")


def in_family(formula, target):
    family = TARGETS[target][1]
    names = set(formula.functions) & NON_POLYNOMIAL
    if isinstance(family, int):
        return not names and formula.to_sympy().as_poly().degree() == family
    return bool(names) and names <= family


def run(target, seed, quick):
    X, y, X_test, y_test = data(target, seed)
    epochs = 2 if quick else 300
    result = {"target": target, "seed": seed, "scalings": {}}
    for scaling in (SCALINGS[0], DEFAULT) if quick else SCALINGS:
        found, seconds = recipe.search(X, y, "regression", seed, quick, scaling=scaling)
        built, widths = recipe.readme_networks(found, X, 1, "regression", seed)
        entry = {"formula": found.formula_.format(3), "family": in_family(found.formula_, target),
                 "search_seconds": seconds,
                 "TN": recipe.fit_and_score(built["TN"], X, y, X_test, y_test, "regression",
                                            epochs, seed),
                 "TN params": built["TN"].count_params()}
        if scaling == "minmax":
            entry["LN"] = recipe.fit_and_score(built["LN"], X, y, X_test, y_test, "regression",
                                               epochs, seed)
            entry["LN params"] = built["LN"].count_params()
            entry["LN widths"] = widths
        if scaling == DEFAULT:
            controls, drawn = peers.control_networks(found, X, 1, "regression", seed,
                                                     recipe.HIDDEN, found.function_set)
            entry["random formula"] = drawn.format(3)
            inputs = {"PLR": peers.quantile_normal(X, X_test)}
            for kind, model in controls.items():
                train, test = inputs.get(kind, (X, X_test))
                entry[kind] = recipe.fit_and_score(model, train, y, test, y_test, "regression",
                                                   epochs, seed)
            entry["TN shares"] = {k: float(v) for k, v in
                                  built["TN"].layers[0].basis_contributions(X).items()}
        result["scalings"][scaling] = entry
        print(f"{target} seed {seed} {scaling}: {entry['formula']}  TN {entry['TN']:.4f}"
              + (f"  LN {entry['LN']:.4f}" if "LN" in entry else ""), flush=True)
    return result


def report(results, quick, argv):
    import keras

    rows, choice, controls = [], [], []
    goal_met = goal_cells = 0
    for target in TARGETS:
        runs = [r for r in results if r["target"] == target]
        if not runs:
            continue
        default = [r["scalings"][DEFAULT] for r in runs]
        tn = np.array([e["TN"] for e in default])
        ln = np.array([r["scalings"][SCALINGS[0]]["LN"] for r in runs])  # LN: one per run
        family = [e["family"] for e in default]
        halved = [t <= 0.5 * linear for t, linear, f in zip(tn, ln, family) if f]
        goal_met += sum(halved)
        goal_cells += len(halved)
        rows.append([
            target, len(runs), common.summary(ln), common.summary(tn),
            f"{np.median(ln / tn):.1f}x", f"{int(np.sum(tn < ln))}/{len(runs)}",
            f"{sum(family)}/{len(runs)}", f"{sum(halved)}/{len(halved)}",
            f"`{default[0]['formula']}`",
            f"{default[0]['TN params']} / {runs[0]['scalings'][SCALINGS[0]]['LN params']}",
        ])
        if all("PLR" in e for e in default):
            cells = []
            for kind in ("fixed", "random", "PLR"):
                other = np.array([e[kind] for e in default])
                cells.append(f"{common.summary(other)}, TN better {int(np.sum(tn < other))}"
                             f"/{len(runs)}")
            share = np.mean([1 - e["TN shares"].get("x", 0.0) for e in default])
            controls.append([target, common.summary(tn), *cells, f"{100 * share:.0f} %"])
        choice.append([target] + [
            f"{np.mean([r['scalings'][s]['TN'] for r in runs if s in r['scalings']]):.4f}"
            if all(s in r["scalings"] for r in runs) else "–" for s in SCALINGS])
    text = common.header("Search-to-layer hand-off on raw features", argv) + "\n".join([
        (__doc__.split("\n\n")[1]).replace("\n", " "),
        "",
        f"Backend: {keras.backend.backend()}. Test MSE, mean (std) over seeds. The README "
        f"recipe's column uses the default scaling ({DEFAULT!r}); the Dense network does not "
        "depend on the search.",
        "",
        f"**Goal (task network at most half Dense's test MSE wherever the search found the "
        f"target's family): met in {goal_met} of {goal_cells} runs.**",
        "",
        common.table(["target", "seeds", "Dense + Normalization", "README recipe (TN)",
                      "median LN/TN", "seeds TN better", "family found", "TN ≤ LN/2 (in family)",
                      "formula (seed 0)", "params TN / LN"], rows),
        "",
        "## Controls (default scaling; test MSE, mean (std) over seeds)",
        "",
        "The same layers with a fixed `x**2` and with a random formula on the search's map, "
        "and an MLP with periodic (PLR) embeddings on quantile-normal inputs (`peers.py`); "
        "bases' share: of the first layer's output variation, all bases but x.",
        "",
        common.table(["target", "README recipe (TN)", "fixed x**2", "random formula",
                      "MLP-PLR", "bases' share"], controls),
        "",
        "## The search's input scaling (task network's test MSE, mean over seeds)",
        "",
        common.table(["target"] + [f"scaling={s!r}" for s in SCALINGS], choice),
        "",
    ])
    common.write_results("handoff", text, results, quick, lambda raw: None)


def main():
    parser = common.argument_parser(__doc__, "handoff")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--targets", default=None, help="comma-separated subset (by index)")
    args = parser.parse_args()
    os.makedirs(FOLDER, exist_ok=True)
    targets = list(TARGETS)
    if args.targets:
        targets = [targets[int(i)] for i in args.targets.split(",")]
    seeds = 1 if args.quick else args.seeds
    if args.quick:
        targets = targets[:1]
    results = []
    for seed in range(seeds):
        for index, target in enumerate(targets):
            path = os.path.join(FOLDER, f"target{list(TARGETS).index(target)}_seed{seed}.json")
            if args.quick:
                results.append(run(target, seed, True))
                continue
            if not os.path.exists(path) and not args.report_only:
                with open(path + ".tmp", "w") as handle:
                    json.dump(run(target, seed, False), handle, indent=1)
                os.replace(path + ".tmp", path)
            if os.path.exists(path):
                with open(path) as handle:
                    results.append(json.load(handle))
    report(results, args.quick, sys.argv)


if __name__ == "__main__":
    main()
