"""VSR against plain gplearn on synthetic shared targets; fit-time scaling.

Targets ``y = Σ_i g(x_i) + noise`` with ``x`` uniform in [-2, 2], ``n = 1000``,
``d ∈ {5, 20, 100}``, ``g ∈ {x² − 0.5x, x³ − x, sin(2x), exp(−x²)}`` and
noise of 1% of the signal's standard deviation. Success: held-out R² ≥ 0.99
(held-out targets carry the same noise, so the best possible R² is ≈ 0.9999).
VSR runs with its default settings; the reference is gplearn's
``SymbolicRegressor`` on the unstacked data with the same population,
generations and function set.

    python benchmarks/search.py                 # full: 10 seeds (3 for gplearn)
    python benchmarks/search.py --quick         # CI: tiny sizes
"""

import os
import sys
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


def make_data(g, n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (2 * n, d))
    signal = g(X).sum(axis=1)
    y = signal + 0.01 * signal.std() * rng.normal(size=2 * n)
    return X[:n], y[:n], X[n:], y[n:]


def fit_vsr(X, y, seed, settings):
    from keras_taskneurons import VectorizedSymbolicRegressor

    model = VectorizedSymbolicRegressor(random_state=seed, **settings)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start, model.formula_.format(3)


def fit_gplearn(X, y, seed, settings):
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
    return model, time.perf_counter() - start, str(model._program)[:60]


def r2(model, X, y):
    prediction = model.predict(X)
    return 1 - np.mean((y - prediction) ** 2) / np.var(y)


def main():
    parser = common.argument_parser(__doc__, "search")
    parser.add_argument("--gplearn-seeds", type=int, default=3)
    parser.add_argument("--dims", default="5,20,100")
    args = parser.parse_args()
    if args.plot_only:
        plot(common.read_results("search"))
        return
    n = 200 if args.quick else 1000
    dims = [5] if args.quick else [int(d) for d in args.dims.split(",")]
    seeds = 1 if args.quick else args.seeds
    gplearn_seeds = 1 if args.quick else args.gplearn_seeds
    settings = dict(population_size=100, generations=2) if args.quick else {}
    rows, raw = [], []
    for d in dims:
        for name, g in TARGETS.items():
            for method, fit, count in (("VSR", fit_vsr, seeds), ("gplearn", fit_gplearn, gplearn_seeds)):
                scores, seconds, formulas = [], [], []
                for seed in range(count):
                    X, y, X_test, y_test = make_data(g, n, d, seed)
                    model, took, formula = fit(X, y, seed, settings)
                    scores.append(r2(model, X_test, y_test))
                    seconds.append(took)
                    formulas.append(formula)
                    raw.append({"d": d, "target": name, "method": method, "seed": seed,
                                "r2": scores[-1], "seconds": took, "formula": formula})
                successes = sum(s >= 0.99 for s in scores)
                print(f"d={d} {name} {method}: {successes}/{count} R²≥0.99, "
                      f"median {np.median(seconds):.1f}s", flush=True)
                rows.append([d, name, method, f"{successes}/{count}",
                             f"{np.median(scores):.4f}", f"{np.median(seconds):.1f}",
                             f"`{formulas[int(np.argmax(scores))]}`"])
    scaling = []
    if not args.quick:
        for d, size in [(20, 250), (20, 1000), (20, 4000), (5, 1000), (100, 1000)]:
            X, y, _, _ = make_data(TARGETS["x³ − x"], size, d, 0)
            _, took, _ = fit_vsr(X, y, 0, settings)
            scaling.append([size, d, size * d, f"{took:.1f}"])
            print(f"scaling n={size} d={d}: {took:.1f}s", flush=True)
    text = common.header("Vectorized symbolic regression vs plain gplearn", sys.argv) + "\n".join([
        f"Synthetic shared targets, n = {n} training and {n} held-out samples, x ~ U[-2, 2], "
        "noise 1% of the signal's std. Success = held-out R² ≥ 0.99. VSR: default settings "
        "(population 1000, 20 generations, add/sub/mul/sin/cos/exp). gplearn: "
        "`SymbolicRegressor` on the unstacked data, same population and generations, "
        "add/sub/mul/sin/cos (gplearn has no exp), default parsimony.",
        "",
        common.table(["d", "target g", "method", "successes", "median R²",
                      "median seconds", "best formula found"], rows),
        "",
    ])
    if scaling:
        text += "\n## Fit time against n and d (VSR, g = x³ − x, 1 seed)\n\n" + common.table(
            ["n", "d", "stacked values", "seconds"], scaling) + (
            "\n\nThe search caps the stacked data at 50,000 values (`max_samples=\"auto\"`), "
            "so past that size the time no longer grows with n·d.\n")
    common.write_results("search", text, raw, args.quick, plot)


def plot(raw):
    """Held-out R² of every run, VSR against gplearn, per target and d."""
    plt = common.pyplot()

    figure, axis = plt.subplots(figsize=(9, 4))
    labels = []
    for index, (d, target) in enumerate(sorted({(r["d"], r["target"]) for r in raw})):
        labels.append(f"d={d}\n{target}")
        for offset, method, colour in ((-0.15, "VSR", "tab:blue"), (0.15, "gplearn", "tab:orange")):
            scores = [max(r["r2"], -0.1) for r in raw
                      if r["d"] == d and r["target"] == target and r["method"] == method]
            axis.scatter([index + offset] * len(scores), scores, s=12, color=colour,
                         label=method if index == 0 else None)
    axis.axhline(0.99, color="gray", lw=0.5, ls="--")
    axis.set_xticks(range(len(labels)), labels, fontsize=7)
    axis.set_ylabel("held-out R² (clipped at -0.1)")
    axis.set_title("Shared-formula targets: VSR (10 seeds) vs plain gplearn (3 seeds)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(common.RESULTS, "search.png"), dpi=100)
    print("wrote benchmarks/results/search.png")


if __name__ == "__main__":
    main()
