"""VSR against plain gplearn (and an earlier VSR) on synthetic shared targets.

Targets ``y = Σ_i g(x_i) + noise`` with ``x`` uniform in [-2, 2], ``n = 1000``,
``d ∈ {5, 20, 100}``, ``g ∈ {x² − 0.5x, x³ − x, sin(2x), exp(−x²)}`` and
noise of 1% of the signal's standard deviation. Two counts per case:

* **R² ≥ 0.99** on held-out samples (they carry the same noise, so the best
  possible R² is ≈ 0.9999);
* **exact form**: the run returned the target's own form. ``a·f + b`` (least
  squares) matches ``g`` with R² ≥ 0.999 on a dense grid of the data range
  (``f`` applied after the estimator's input scaling); ``f`` uses the
  target's transcendental function (sin or cos for sin(2x): ``cos(2x − π/2)``
  is ``sin(2x)``; exp for exp(−x²)) and none for a polynomial target; nests
  such functions no deeper than the target; and has at most two basis terms
  more than the target (in the scaled variable ``x² − 0.5x`` still has two
  terms, ``x³ − x`` may need an ``x²``).

VSR runs with its default settings, under both fitnesses: ``"separable"``
(the estimators' default: the model a layer's unit computes, a weight per
input on ``x`` and on each basis, so for it the exact-form check judges the
formula as the unit uses it: ``Σ_k a_k·g_k + c·x + b`` over its bases ``g_k``,
the formula's own coefficients only choosing them) and ``"shared"`` (the paper's
``a·Σ f + b``). Six more targets at d = 20 only (``x·sin(x)``,
``tanh(2x)``, ``|x|``, ``x·exp(−x²)``, ``sin(x) + x²``, and ``sin(2x)``
with 10 % noise); ``tanh`` and ``abs`` are not in the default function
set, so their targets search with it plus that function. References:
gplearn's ``SymbolicRegressor`` on the unstacked data (same population,
generations and function set), and optionally an earlier version of this
package (``--reference SRC``: a source tree, such as a ``git worktree`` of an
old commit, imported in a subprocess).

One result file per case (``results/search/``), so an interrupted run
resumes; the report merges whatever is there:

    python benchmarks/search.py --jobs 2                  # full (resumes)
    python benchmarks/search.py --report-only             # merge the result files
    python benchmarks/search.py --quick                   # CI
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

TARGETS = {
    "x² − 0.5x": lambda x: x**2 - 0.5 * x,
    "x³ − x": lambda x: x**3 - x,
    "sin(2x)": lambda x: np.sin(2 * x),
    "exp(−x²)": lambda x: np.exp(-(x**2)),
}
"""The targets run at every d."""
MORE_TARGETS = {
    "x·sin(x)": lambda x: x * np.sin(x),
    "tanh(2x)": lambda x: np.tanh(2 * x),
    "|x|": np.abs,
    "x·exp(−x²)": lambda x: x * np.exp(-(x**2)),
    "sin(x) + x²": lambda x: np.sin(x) + x**2,
    "sin(2x), 10 % noise": lambda x: np.sin(2 * x),
}
"""The targets run at d = 20 only."""
ALL_TARGETS = {**TARGETS, **MORE_TARGETS}
NOISE = {"sin(2x), 10 % noise": 0.1}
"""Noise as a fraction of the signal's standard deviation (default 0.01)."""
EXTRA_FUNCTIONS = {"tanh(2x)": ("tanh",), "|x|": ("abs",)}
"""Functions added to the default set for a target that needs them."""
# target: (transcendental functions allowed, their nesting depth, basis terms)
FORMS = {
    "x² − 0.5x": (frozenset(), 0, 2),
    "x³ − x": (frozenset(), 0, 2),
    "sin(2x)": (frozenset({"sin", "cos"}), 1, 1),
    "exp(−x²)": (frozenset({"exp"}), 1, 1),
    "x·sin(x)": (frozenset({"sin", "cos"}), 1, 1),
    "tanh(2x)": (frozenset({"tanh"}), 1, 1),
    "|x|": (frozenset({"abs"}), 1, 1),
    "x·exp(−x²)": (frozenset({"exp"}), 1, 1),
    "sin(x) + x²": (frozenset({"sin", "cos"}), 1, 2),
    "sin(2x), 10 % noise": (frozenset({"sin", "cos"}), 1, 1),
}
FITNESSES = ("separable", "shared")
FOLDER = os.path.join(common.RESULTS, "search")
TRANSCENDENTAL = frozenset({"sin", "cos", "tanh", "exp", "log", "sqrt", "inv", "div", "abs"})
LOW, HIGH = -2.0, 2.0


def make_data(g, n, d, seed, noise=0.01):
    rng = np.random.default_rng(seed)
    X = rng.uniform(LOW, HIGH, (2 * n, d))
    signal = g(X).sum(axis=1)
    y = signal + noise * signal.std() * rng.normal(size=2 * n)
    return X[:n], y[:n], X[n:], y[n:]


def nesting(tree):
    """Deepest chain of transcendental functions in a formula tree."""
    if tree[0] in ("x", "const"):
        return 0
    inner = max(nesting(arg) for arg in tree[1:])
    return inner + (tree[0] in TRANSCENDENTAL)


def exact_form(text, x_mean, x_scale, target, unit=False):
    """Whether the formula ``text`` (on the scaled input) is ``target``'s
    form; ``unit``: judged as the layer's unit uses it (the separable
    fitness): a weight on ``x`` and on each basis of ``f``, so
    ``Σ_k a_k·g_k + c·x + b`` is matched (the formula's own coefficients only
    choose its bases)."""
    from keras_taskneurons import Formula

    try:
        formula = Formula(text)
        _, terms = formula.terms()
    except ValueError:
        return False
    allowed, depth, count = FORMS[target]
    grid = np.linspace(LOW, HIGH, 2001)
    u = (grid - x_mean) / x_scale
    g = ALL_TARGETS[target](grid)
    if unit:
        design = np.column_stack([np.broadcast_to(basis.evaluate(u), u.shape) for _, basis in terms]
                                 + [grid, np.ones_like(grid)])
    else:
        f = formula.evaluate(u)
        design = np.column_stack([f, np.ones_like(f)])
    fitted = design @ np.linalg.lstsq(design, g, rcond=None)[0]
    r2 = 1 - np.mean((g - fitted) ** 2) / np.var(g)
    used = formula.functions & TRANSCENDENTAL
    right_functions = (used <= allowed and bool(used)) if allowed else not used
    return bool(
        r2 >= 0.999 and right_functions and nesting(formula.tree) <= depth
        and len(terms) <= count + 2
    )


def fit_vsr(X, y, X_test, seed, settings):
    from keras_taskneurons import VectorizedSymbolicRegressor

    model = VectorizedSymbolicRegressor(random_state=seed, **settings)
    start = time.perf_counter()
    model.fit(X, y)
    took = time.perf_counter() - start
    return dict(prediction=model.predict(X_test), seconds=took, formula=str(model.formula_),
                shown=model.formula_.format(3), x_mean=float(model.x_mean_[0]),
                x_scale=float(model.x_scale_[0]), front=len(model.equations_))


REFERENCE = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from keras_taskneurons import VectorizedSymbolicRegressor
data = np.load(sys.argv[1])
settings = json.loads(sys.argv[3])
model = VectorizedSymbolicRegressor(random_state=int(sys.argv[2]), **settings)
start = time.perf_counter()
model.fit(data["X"], data["y"])
took = time.perf_counter() - start
json.dump(dict(prediction=model.predict(data["X_test"]).tolist(), seconds=took,
               formula=str(model.formula_), shown=model.formula_.format(3),
               x_mean=float(model.x_mean_[0]), x_scale=float(model.x_scale_[0])),
          open(sys.argv[4], "w"))
"""


def fit_reference(source, X, y, X_test, seed, settings):
    """Fit the package found in ``source`` in a subprocess."""
    with tempfile.TemporaryDirectory() as folder:
        data, out = os.path.join(folder, "data.npz"), os.path.join(folder, "out.json")
        np.savez(data, X=X, y=y, X_test=X_test)
        env = dict(os.environ, PYTHONPATH=source, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run(
            [sys.executable, "-c", REFERENCE, data, str(seed), json.dumps(settings), out],
            check=True, env=env, cwd=folder, capture_output=True, timeout=3600,
        )
        with open(out, encoding="utf-8") as handle:
            result = json.load(handle)
    result["prediction"] = np.array(result["prediction"])
    return result


def fit_gplearn(X, y, X_test, seed, settings):
    from gplearn.genetic import SymbolicRegressor

    from keras_taskneurons.search import DEFAULT_FUNCTION_SET

    model = SymbolicRegressor(
        population_size=settings.get("population_size", 1000),
        generations=settings.get("generations", 20),
        function_set=[f for f in DEFAULT_FUNCTION_SET if f in ("add", "sub", "mul", "sin", "cos")],
        random_state=seed,
    )
    start = time.perf_counter()
    model.fit(X, y)
    took = time.perf_counter() - start
    text = str(model._program)
    return dict(prediction=model.predict(X_test), seconds=took, formula=None,
                shown=text[:60] + ("..." if len(text) > 60 else ""))


def run_case(method, d, target, seed, n, settings, reference, fitness="separable"):
    X, y, X_test, y_test = make_data(ALL_TARGETS[target], n, d, seed, NOISE.get(target, 0.01))
    if target in EXTRA_FUNCTIONS:
        from keras_taskneurons.search import DEFAULT_FUNCTION_SET

        settings = {**settings,
                    "function_set": tuple(DEFAULT_FUNCTION_SET) + EXTRA_FUNCTIONS[target]}
    if method == "VSR":
        result = fit_vsr(X, y, X_test, seed, {**settings, "fitness": fitness})
    elif method == "VSR 0.1":
        result = fit_reference(reference, X, y, X_test, seed, settings)
    else:
        result = fit_gplearn(X, y, X_test, seed, settings)
    prediction = result.pop("prediction")
    result["r2"] = float(1 - np.mean((y_test - prediction) ** 2) / np.var(y_test))
    result["exact"] = result["formula"] is not None and exact_form(
        result["formula"], result["x_mean"], result["x_scale"], target,
        unit=method == "VSR" and fitness == "separable")
    result.update(method=method, d=d, target=target, seed=seed,
                  fitness=fitness if method == "VSR" else None,
                  version=common.versions().split(",")[0], commit=common.commit())
    print(f"d={d} {target} {method} {fitness if method == 'VSR' else ''} seed {seed}: "
          f"R² {result['r2']:.4f} exact {result['exact']} {result['seconds']:.1f}s "
          f"{result['shown']}", flush=True)
    return result


def case_path(method, d, target, seed, fitness, quick):
    name = "-".join([common.slug(method), fitness if method == "VSR" else "ref", f"d{d}",
                     common.slug(target.replace("²", "2").replace("³", "3").replace("−", "-")
                                 .replace("·", "*").replace("|x|", "abs x")), f"s{seed}"])
    return os.path.join(FOLDER + ("_quick" if quick else ""), name + ".json")


def run_and_store(path, *case):
    """One case, computed and written to its own file unless it is there."""
    return common.result_file(path, lambda: run_case(*case))


def main():
    parser = common.argument_parser(__doc__, "search")
    parser.add_argument("--reference-seeds", type=int, default=3,
                        help="seeds for gplearn and the --reference version")
    parser.add_argument("--reference", help="source tree of an earlier version to compare")
    parser.add_argument("--dims", default="5,20,100")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--fitness", choices=("separable", "shared", "both"), default="both",
                        help="the VSR's fitness (see the module docstring)")
    parser.add_argument("--report-only", action="store_true",
                        help="merge the stored result files, run nothing")
    args = parser.parse_args()
    if args.plot_only:
        plot(common.read_results("search"))
        return
    n = 200 if args.quick else 1000
    dims = [5] if args.quick else [int(d) for d in args.dims.split(",")]
    seeds = 1 if args.quick else args.seeds
    reference_seeds = 1 if args.quick else args.reference_seeds
    settings = dict(population_size=100, generations=2) if args.quick else {}
    fitnesses = FITNESSES if args.fitness == "both" else (args.fitness,)
    methods = [("VSR", f, seeds) for f in fitnesses] + [("gplearn", None, reference_seeds)]
    if args.reference:
        methods.insert(len(fitnesses), ("VSR 0.1", None, reference_seeds))
    targets = {d: list(TARGETS) + (list(MORE_TARGETS) if d == 20 and not args.quick else [])
               for d in dims}
    cases = [(method, d, target, seed, n, settings, args.reference, fitness or "separable")
             for d in dims for target in targets[d] for method, fitness, count in methods
             for seed in range(count)]
    # d = 20 first (every target), then the smaller and the larger d; the
    # slowest cases first within each, so that the workers finish together.
    cases.sort(key=lambda c: (c[1] != 20, -c[1], c[0] != "VSR", c[7] != "separable"))
    if args.quick:  # CI: never reuse the cases of an earlier quick run
        shutil.rmtree(FOLDER + "_quick", ignore_errors=True)
    os.makedirs(FOLDER + ("_quick" if args.quick else ""), exist_ok=True)
    paths = [case_path(c[0], c[1], c[2], c[3], c[7], args.quick) for c in cases]
    if not args.report_only:
        todo = [(path, *case) for path, case in zip(paths, cases) if not os.path.exists(path)]
        common.parallel_map(run_and_store, todo, args.jobs)
    raw = [common.result_file(path, None, report_only=True) for path in paths]
    raw = [r for r in raw if r is not None]
    for r in raw:  # judged again: the check may be newer than the stored case
        if r["method"] == "VSR":
            r["exact"] = exact_form(r["formula"], r["x_mean"], r["x_scale"], r["target"],
                                    unit=r["fitness"] == "separable")
    report(raw, methods, dims, targets, args, n)


def report(raw, methods, dims, targets, args, n):
    rows = []
    for d in dims:
        for target in targets[d]:
            for method, fitness, count in methods:
                runs = sorted((r for r in raw if (r["d"], r["target"], r["method"]) == (d, target, method)
                               and (method != "VSR" or r.get("fitness") == fitness)),
                              key=lambda r: r["seed"])
                if not runs:
                    continue
                best = max(runs, key=lambda r: (r["exact"], r["r2"]))
                exact = f"{sum(r['exact'] for r in runs)}/{len(runs)}" if method != "gplearn" else "–"
                name = f"VSR ({fitness})" if method == "VSR" else method
                rows.append([d, target.replace("|", "\\|"), name, exact,
                             f"{sum(r['r2'] >= 0.99 for r in runs)}/{len(runs)}",
                             f"{np.median([r['r2'] for r in runs]):.4f}",
                             f"{np.median([r['seconds'] for r in runs]):.1f}", f"`{best['shown']}`"])
    totals = []
    for method, fitness, _ in methods:
        if method != "VSR":
            continue
        core = [r for r in raw if r["method"] == "VSR" and r.get("fitness") == fitness
                and r["target"] in TARGETS]
        more = [r for r in raw if r["method"] == "VSR" and r.get("fitness") == fitness
                and r["target"] in MORE_TARGETS]
        totals.append(f"- VSR ({fitness}): exact form on the four targets "
                      f"**{sum(r['exact'] for r in core)}/{len(core)}**; on the six more targets "
                      f"(d = 20) **{sum(r['exact'] for r in more)}/{len(more)}**")
    reference_note = (
        f" VSR 0.1: the package before the Pareto front (`{args.reference}`), same settings."
        if args.reference else "")
    title = "Vectorized symbolic regression: exact forms, accuracy, time"
    text = common.header(title, sys.argv) + "\n".join([
        f"Synthetic shared targets, n = {n} training and {n} held-out samples, x ~ U[-2, 2], "
        "noise 1% of the signal's std (10 % where the target says so). Exact form and R² ≥ 0.99 "
        "as defined in `benchmarks/search.py` (under the separable fitness as the unit uses the "
        "formula: a weight on x and on each basis, `Σ_k a_k·g_k + c·x + b`). VSR: default "
        "settings (population 1000, 20 generations, "
        "add/sub/mul/sin/cos/exp, plus tanh or abs for the targets that need them; Pareto front "
        "with model_selection=\"best\"). gplearn: "
        "`SymbolicRegressor` on the unstacked data, same population and generations, "
        "add/sub/mul/sin/cos (gplearn has no exp), default parsimony; its programs are in "
        "d variables, so the exact-form count does not apply." + reference_note,
        common.measured_at([r for r in raw if r["method"] == "VSR"], "The VSR cases"),
        "",
        *totals,
        "",
        common.table(["d", "target g", "method", "exact form", "R² ≥ 0.99", "median R²",
                      "median seconds", "a formula found (exact if any)"], rows),
        "",
    ])
    common.write_results("search", text, raw, args.quick, plot)


def plot(raw):
    """Held-out R² of every run per target and d, and the exact-form share."""
    plt = common.pyplot()

    def kind(r):
        return f"VSR ({r['fitness']})" if r["method"] == "VSR" else r["method"]

    order = ("VSR (separable)", "VSR (shared)", "VSR 0.1", "gplearn")
    methods = [m for m in order if any(kind(r) == m for r in raw)]
    colours = dict(zip(order, ("tab:blue", "tab:purple", "tab:green", "tab:orange")))
    figure, axis = plt.subplots(figsize=(14, 4))
    labels = []
    for index, (d, target) in enumerate(sorted({(r["d"], r["target"]) for r in raw})):
        labels.append(f"d={d}\n{target}")
        for offset, method in zip(np.linspace(-0.25, 0.25, len(methods)), methods):
            runs = [r for r in raw if (r["d"], r["target"], kind(r)) == (d, target, method)]
            axis.scatter([index + offset] * len(runs), [max(r["r2"], -0.1) for r in runs], s=12,
                         color=colours[method], label=method if index == 0 else None,
                         marker="o")
            exact = [r for r in runs if r.get("exact")]
            axis.scatter([index + offset] * len(exact), [max(r["r2"], -0.1) for r in exact],
                         s=40, facecolors="none", edgecolors="black",
                         label="exact form" if index == 0 and method == methods[0] else None)
    axis.axhline(0.99, color="gray", lw=0.5, ls="--")
    axis.set_xticks(range(len(labels)), labels, fontsize=7)
    axis.set_ylabel("held-out R² (clipped at -0.1)")
    axis.set_title("Shared-formula targets (circled: the target's exact form)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(os.path.join(common.RESULTS, "search.png"), dpi=100)
    print("wrote benchmarks/results/search.png")


if __name__ == "__main__":
    main()
