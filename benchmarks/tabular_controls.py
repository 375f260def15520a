"""The tuned tables' controls: does the searched formula beat a fixed one, a
random one and the tabular peer under the tuned protocol of ``tabular.py``?

Per dataset (the 7 of ``results/tabular.md`` and the 13 of
``results/tabular_more.md``) and seed: the same split, scaling and search
as ``tabular.py`` (polynomial function set, inputs scaled to [-1, 1]), its
structure S2 (hidden 32, 16) with each kind's tuned recipe read from that
table's stored results (activation, learning rate; tuned with the code of
that table's run, not re-tuned here), and five networks
trained alike in this one run: TN (the searched formula), LN (Dense, at
least as many parameters), the same TN layers with a FIXED ``x**2`` and with
a RANDOM formula from the function set (drawn per dataset and seed, never
the fixed formula's bases) on the search's map (TN's recipe),
and MLP-PLR (``peers.py``: periodic embeddings on quantile-normal inputs,
LN's recipe). Epochs as in the tables (300 for the paper's sets, 150 for the
further ones), early stopping with patience 20. Recorded too: each basis's
share of TN's first layer output on the training rows. One result file per
dataset and seed (``results/tabular_controls/``), merged by the report step,
so an interrupted run resumes; seeds run in order over all datasets.

    python benchmarks/tabular_controls.py --seeds 5 --jobs 2
    python benchmarks/tabular_controls.py --report-only
    python benchmarks/tabular_controls.py --quick        # CI: tiny sizes
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import datasets  # noqa: E402
import peers  # noqa: E402
import tabular  # noqa: E402
import tabular_recipe  # noqa: E402

FOLDER = os.path.join(common.RESULTS, "tabular_controls")
STRUCTURE = "S2"
EPOCHS = {**{name: 300 for name in datasets.DATASETS},
          **{name: 150 for name in datasets.MORE_DATASETS}}
"""The epochs of the tuned table each dataset comes from."""


def tuned_recipes():
    """``{dataset: {"TN": (activation, rate), "LN": ...}}`` from the tuned
    tables' stored results (``tabular.json``, ``tabular_more.json``)."""
    recipes = {}
    for stem in ("tabular", "tabular_more"):
        try:
            records = common.read_results(stem)
        except FileNotFoundError:
            continue
        for record in records:
            recipes.setdefault(record["dataset"], {})[record["network"]] = tuple(record["recipe"])
    return recipes


def run(name, seed, recipes, epochs, quick):
    from keras_taskneurons import networks as library

    task, shape, n_outputs, data = tabular._load(name, seed, quick)
    X, y, X_test, y_test = data
    search, seconds = tabular.search_formula(data, task, seed, quick)
    sizes = tabular.STRUCTURES["S1" if quick else STRUCTURE]
    built, widths = tabular.networks(sizes, shape[1], n_outputs, task, search, recipes, seed)
    drawn = peers.random_formula(tuple(search.function_set), seed, dataset=name,
                                 exclude=(peers.FIXED,))
    for kind, formula in (("fixed", peers.FIXED), ("random", drawn)):
        built[kind] = library.mlp("task", sizes, shape[1], n_outputs, formula=formula, task=task,
                                  activation=recipes["TN"][0], seed=seed,
                                  input_map=search.input_map_)
    built["PLR"] = peers.plr_network(sizes, shape[1], n_outputs, task, seed,
                                     activation=recipes["LN"][0])
    rates = {"TN": recipes["TN"][1], "fixed": recipes["TN"][1], "random": recipes["TN"][1],
             "LN": recipes["LN"][1], "PLR": recipes["LN"][1]}
    normal, normal_test = peers.quantile_normal(X, X_test)
    plr_data = (normal, y, normal_test, y_test)
    result = {"dataset": name, "seed": seed, "task": task, "shape": list(shape),
              "formula": search.formula_.format(3), "random formula": drawn.format(3),
              "search_seconds": seconds, "epochs": epochs, "recipes": recipes,
              "LN widths": widths}
    for kind, model in built.items():
        given = plr_data if kind == "PLR" else data
        tabular.train(model, given, task, epochs, rates[kind], seed)
        result[kind] = tabular.test_score(model, given, task)
        result[kind + " params"] = model.count_params()
    first = built["TN"].get_layer("task_0")
    result["TN shares"] = {k: float(v) for k, v in first.basis_contributions(X).items()}
    print(f"{name} seed {seed}: {result['formula']}  " + "  ".join(
        f"{k} {result[k]:.4f}" for k in ("TN", "LN", "fixed", "random", "PLR")), flush=True)
    return result


def run_to_file(name, seed, recipes):
    """The stored result of ``name`` and ``seed``, computed first when missing."""
    return common.result_file(tabular_recipe.result_path(FOLDER, name, seed),
                              lambda: run(name, seed, recipes, EPOCHS[name], False))


def main():
    parser = common.argument_parser(__doc__, "tabular_controls")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--datasets", default=None, help="comma-separated name parts")
    args = parser.parse_args()
    names = [n for n in EPOCHS if not args.datasets
             or any(p.strip() in n for p in args.datasets.split(","))]
    recipes = tuned_recipes()
    default = {"TN": tabular.RECIPES[3], "LN": tabular.RECIPES[3]}  # relu, 1e-3
    if args.quick:
        results = [run(name, 0, recipes.get(name, default), 2, True)
                   for name in ("yacht hydrodynamics", "vehicle")]
    else:
        os.makedirs(FOLDER, exist_ok=True)
        tasks = [(name, seed, recipes.get(name, default)) for seed in range(args.seeds)
                 for name in names]
        if not args.report_only:
            common.parallel_map(run_to_file, tasks, args.jobs)
        stored = (common.result_file(tabular_recipe.result_path(FOLDER, name, seed), None,
                                     report_only=True) for name, seed, _ in tasks)
        results = [r for r in stored if r is not None]
    tabular_recipe.report(
        results, args.quick, sys.argv, stem="tabular_controls",
        title="The tuned tables' controls (structure S2)",
        intro=(__doc__.split("\n\n")[1]).replace("\n", " "), networks=("TN (searched)", "LN (Dense)"))


if __name__ == "__main__":
    main()
