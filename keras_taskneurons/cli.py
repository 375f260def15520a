"""The ``keras-taskneurons`` command line: fit, predict, inspect, prune.

``fit`` runs the whole method on a CSV file (or a dataset bundled with
scikit-learn): split, normalize, search the formula, train a network of
``TaskNeuronDense`` layers, report, save. The saved ``.keras`` model holds the
input normalization and the formula; a JSON report beside it holds the feature
names, the target, the classes and the metrics, which ``predict`` uses to check
a new CSV file (those commands on a saved model:
``keras_taskneurons.saved_model_commands``).
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

import keras_taskneurons
from keras_taskneurons import startup
from keras_taskneurons.reports import (
    check_writable,
    functions_path,
    json_writer,
    plot_functions,
    plot_report,
    report_paths,
    verdict,
    write_together,
)
from keras_taskneurons.saved_model_commands import (
    basis_shares,
    command_inspect,
    command_predict,
    command_prune,
)
from keras_taskneurons.tables import (
    CommandError,
    load_bundled,
    load_csv,
)

PROGRAM = "keras-taskneurons"


# --- fit ----------------------------------------------------------------------------------


def parse_hidden(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size <= 0 for size in sizes):
        raise CommandError(
            f"--hidden must be positive integers separated by commas, got {text!r}"
        )
    return sizes


def parse_functions(text):
    from keras_taskneurons.primitives import PRIMITIVES

    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in PRIMITIVES]
    if not names or unknown:
        raise CommandError(
            f"--functions: unknown function(s) {', '.join(unknown) or text!r}; "
            f"choose from {', '.join(sorted(PRIMITIVES))}"
        )
    return tuple(names)


def build_network(kind, sizes, n_features, n_outputs, task, formula, input_map,
                  activation="relu", seed=0, interaction_rank=0):
    """An MLP of task-based (``kind="task"``) or linear (``"linear"``) layers
    (``keras_taskneurons.networks.mlp()``): the same activation and the
    search's input map for both, the seed set before any layer is built."""
    from keras_taskneurons import networks

    return networks.mlp(kind, sizes, n_features, n_outputs, formula=formula, task=task,
                        activation=activation, seed=seed, input_map=input_map,
                        first_layer={"interaction_rank": interaction_rank})


def parse_interaction_rank(text):
    """``None`` for ``"auto"`` (the search's suggestion), else the rank."""
    if text == "auto":
        return None
    if text.isdigit() and len(text) < 4:
        return int(text)
    raise CommandError(
        f"--interaction-rank expected 'auto' or a non-negative integer, got {text!r}")


def interaction_line(search, rank):
    """What the interaction check measured and the rank the network gets."""
    losses = search.interaction_losses_
    if not losses:
        measured = "not checked (too many inputs or too few rows)"
    else:
        measured = "held-out loss " + ", ".join(
            ("separable" if r == 0 else f"rank {r}") + f" {loss:.4g}" for r, loss in losses.items())
        measured += f"; suggested rank {search.interaction_rank_}"
        if search.interaction_rank_:
            measured += f" ({search.interaction_gain_:.3g}x lower)"
    return f"interactions: {measured}; the first layer gets interaction_rank={rank}"


def train(model, data, task, epochs, learning_rate, patience, verbose):
    import keras

    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    metrics = ["accuracy"] if task == "classification" else []
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    started = time.perf_counter()
    history = model.fit(
        data["x_train"], data["y_train"],
        validation_data=(data["x_val"], data["y_val"]),
        epochs=epochs, batch_size=32, callbacks=[stop], verbose=verbose,
    )
    seconds = time.perf_counter() - started
    return history.history, seconds


def evaluate(model, data, task, target_scale):
    predictions = np.asarray(model.predict(data["x_test"], verbose=0))
    truth = data["y_test"]
    if task == "classification":
        labels = predictions.argmax(axis=1)
        probabilities = np.clip(predictions[np.arange(len(truth)), truth], 1e-12, 1)
        return {
            "accuracy": float(np.mean(labels == truth)),
            "log_loss": float(-np.mean(np.log(probabilities))),
        }
    predictions = predictions[:, 0]
    mse = float(np.mean((predictions - truth) ** 2))
    total = float(np.mean((truth - truth.mean()) ** 2))
    return {
        "mse_normalized": mse,
        "rmse": float(math.sqrt(mse) * target_scale),
        "r2": 1.0 - mse / total if total > 0 else float("nan"),
    }


def command_fit(args):
    from sklearn.model_selection import train_test_split

    # The options, then the input, then the outputs: a missing CSV is reported as
    # such even when the outputs exist already.
    sizes = parse_hidden(args.hidden)
    functions = parse_functions(args.functions)
    for name in ("epochs", "generations", "population", "patience"):
        if getattr(args, name) <= 0:
            raise CommandError(f"--{name} must be positive, got {getattr(args, name)}")
    chosen_rank = parse_interaction_rank(args.interaction_rank)

    table = (
        load_csv(args.csv, args.target, args.task, args.dropna)
        if args.csv else load_bundled(args.task)
    )
    check_writable(args.output, args.overwrite)
    report_json, report_png = report_paths(args.output)
    functions_png = functions_path(args.output)
    for path in (report_json, report_png, functions_png):
        check_writable(path, args.overwrite)
    if args.csv is None:
        print(f"no CSV given: using the {table.source} dataset")
    n = len(table.y)
    if n < 20:
        raise CommandError(f"{table.source} has {n} usable rows; at least 20 are needed")

    import keras

    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor
    from keras_taskneurons.layers import TaskNeuronDense

    keras.utils.set_random_seed(args.seed)
    classes = None
    y = table.y
    if args.task == "classification":
        classes, y = np.unique(table.y.astype(str), return_inverse=True)
        if len(classes) < 2:
            raise CommandError(f"target {table.target_name!r} has a single class")
    stratify = y if args.task == "classification" else None
    indices = np.arange(n)
    try:
        train_idx, rest = train_test_split(
            indices, test_size=0.3, random_state=args.seed, stratify=stratify
        )
        val_idx, test_idx = train_test_split(
            rest, test_size=0.5, random_state=args.seed,
            stratify=None if stratify is None else y[rest],
        )
    except ValueError as error:
        raise CommandError(f"cannot split the data: {error}") from None
    print(
        f"{table.source}: {n} rows, {len(table.feature_names)} features, target "
        f"{table.target_name!r}; train/validation/test {len(train_idx)}/"
        f"{len(val_idx)}/{len(test_idx)}"
    )

    target_mean, target_scale = 0.0, 1.0
    if args.task == "regression":
        target_mean = float(y[train_idx].mean())
        target_scale = float(y[train_idx].std()) or 1.0
        y_model = ((y - target_mean) / target_scale).astype("float32")
    else:
        y_model = y.astype("int64")
    data = {
        "x_train": table.X[train_idx].astype("float32"), "y_train": y_model[train_idx],
        "x_val": table.X[val_idx].astype("float32"), "y_val": y_model[val_idx],
        "x_test": table.X[test_idx].astype("float32"), "y_test": y_model[test_idx],
    }

    print(f"\nstep 1: vectorized symbolic regression ({args.generations} generations)")
    Search = (
        VectorizedSymbolicClassifier if args.task == "classification"
        else VectorizedSymbolicRegressor
    )
    search = Search(
        population_size=args.population, generations=args.generations,
        function_set=functions, parsimony_coefficient=args.parsimony,
        fitness=args.fitness, random_state=args.seed, verbose=1,
    )  # scaling="auto": each column standardized on the training rows (input_map_)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # said as notes, not warnings
        warnings.simplefilter("always", UserWarning)
        search.fit(table.X[train_idx], y[train_idx])
    search_seconds = time.perf_counter() - started
    for warning in caught:
        print(f"note: {warning.message}")
    formula = search.formula_
    # The search (verbose=1) has printed its Pareto front, the chosen formula marked ">".
    print(f"formula: f(x) = {formula.format(4)}")
    print(f"LaTeX:   f(x) = {formula.to_latex()}")
    rank = search.interaction_rank_ if chosen_rank is None else chosen_rank
    print(interaction_line(search, rank))

    n_outputs = len(classes) if classes is not None else 1
    print(f"\nstep 2: train a task-based network, hidden layers {sizes}")
    task_model = build_network(
        "task", sizes, len(table.feature_names), n_outputs, args.task, formula,
        search.input_map_, activation=args.activation, seed=args.seed,
        interaction_rank=rank,
    )
    task_history, task_seconds = train(
        task_model, data, args.task, args.epochs, args.learning_rate, args.patience,
        verbose=progress(args),
    )
    results = {
        "task_network": {
            "parameters": int(task_model.count_params()),
            "metrics": evaluate(task_model, data, args.task, target_scale),
            "epochs": len(task_history["loss"]),
            "seconds": task_seconds,
            "basis_shares": basis_shares(task_model, data["x_train"]),
        }
    }
    for name, shares in results["task_network"]["basis_shares"].items():
        print(f"  {name}: share of the output on the training rows: "
              + ", ".join(f"{basis} {share:.3f}" for basis, share in shares.items()))
    histories = {"task-based": task_history}
    if args.compare:
        from keras_taskneurons.networks import matching_linear_widths

        widths = matching_linear_widths(
            sizes, len(table.feature_names), n_outputs, task_model.count_params()
        )
        print(f"\ncomparison: a linear (Dense) network, hidden layers {widths}")
        linear_model = build_network(
            "linear", widths, len(table.feature_names), n_outputs, args.task, None,
            search.input_map_, activation=args.activation, seed=args.seed,
        )
        linear_history, linear_seconds = train(
            linear_model, data, args.task, args.epochs, args.learning_rate,
            args.patience, verbose=progress(args),
        )
        histories["linear"] = linear_history
        results["linear_network"] = {
            "parameters": int(linear_model.count_params()),
            "hidden": widths,
            "metrics": evaluate(linear_model, data, args.task, target_scale),
            "epochs": len(linear_history["loss"]),
            "seconds": linear_seconds,
        }
    print_results(results, args.task)

    saved = task_model
    if args.task == "regression":
        # The saved model predicts on the target's own scale.
        outputs = keras.layers.Rescaling(
            target_scale, offset=target_mean, name="target_scale"
        )(task_model.output)
        saved = keras.Model(task_model.input, outputs, name="task_network")
    report = {
        "formula": str(formula),
        "formula_latex": formula.to_latex(),
        "formula_display": formula.format(4),
        "search": {
            "seconds": search_seconds,
            "generations": search.n_generations_,
            "fitness_1_minus_r2": search.fitness_,
            "evolved_formula": str(search.evolved_formula_),
            "pareto_front": [
                {"complexity": e.complexity, "loss": e.loss, "score": e.score,
                 "formula": str(e.formula), "equation": search.equations_.choices[i],
                 "chosen": i == search.equations_.chosen}
                for i, e in enumerate(search.equations_)
            ],
            "interaction_losses": {str(r): v for r, v in search.interaction_losses_.items()},
            "interaction_rank_suggested": search.interaction_rank_,
            "interaction_rank": rank,
        },
        "task": args.task,
        "source": table.source,
        "features": table.feature_names,
        "target": table.target_name,
        "classes": None if classes is None else [str(c) for c in classes],
        "split": {"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
        "settings": {
            "hidden": sizes, "activation": args.activation,
            "epochs": args.epochs, "patience": args.patience,
            "learning_rate": args.learning_rate, "seed": args.seed,
            "population": args.population, "generations": args.generations,
            "functions": list(functions), "parsimony": args.parsimony,
            "fitness": args.fitness,
        },
        "results": results,
        "model": os.path.basename(args.output),
        "keras_backend": keras.backend.backend(),
    }

    # The model and its report appear together or not at all: predict needs both.
    write_together([(args.output, saved.save, ".keras"), (report_json, json_writer(report), ".json")])
    header = (f"{table.source}: {n} rows, {len(table.feature_names)} features, "
              f"f(x) = {formula.format(3)}\n{verdict(results, args.task)}")
    drawn = plot_report(report_png, formula, search.input_map_.transform(table.X[train_idx]),
                        histories, search.equations_, results["task_network"]["basis_shares"],
                        header=header)
    first = next((layer for layer in task_model.layers if isinstance(layer, TaskNeuronDense)),
                 None)
    functions = drawn and first is not None and plot_functions(
        functions_png, first, table.feature_names)
    pictures = [path for path, made in ((report_png, drawn), (functions_png, functions)) if made]
    print(f"\nsaved {args.output}")
    print(f"report {report_json}" + "".join(f", {path}" for path in pictures))
    return 0


def print_results(results, task):
    print("\ntest results")
    rows = [("network", "parameters", "epochs")]
    metric_names = list(next(iter(results.values()))["metrics"])
    for name, result in results.items():
        rows.append((name.replace("_", " "), str(result["parameters"]), str(result["epochs"])))
    header = rows[0] + tuple(metric_names)
    print("  ".join(f"{h:>16}" for h in header))
    for (name, result), row in zip(results.items(), rows[1:]):
        values = [f"{result['metrics'][m]:.5f}" for m in metric_names]
        print("  ".join(f"{v:>16}" for v in list(row) + values))
    print(verdict(results, task))


# --- entry point ----------------------------------------------------------------------------


def progress(args):
    """Keras ``verbose``: a progress bar on a terminal, one line per epoch
    otherwise (logs, CI, notebooks) or with ``--quiet``."""
    return 1 if sys.stdout.isatty() and not args.quiet else 2



def make_parser():
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Task-based neurons: search a formula, train, save, predict.",
    )
    parser.add_argument(
        "--verbose", action="store_true",
        help="show the frameworks' start-up messages too (also: "
        f"{startup.VERBOSE_VARIABLE}=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser(
        "fit", help="search a formula and train a task-based network",
        description="Without CSV, uses scikit-learn's diabetes (regression) or "
        "breast cancer (classification) data, which ship with scikit-learn.",
    )
    fit.add_argument("csv", nargs="?", help="CSV file with a header row")
    fit.add_argument("--target", help="target column (default: the last column)")
    fit.add_argument("--output", default="model.keras", help="model path (.keras)")
    fit.add_argument("--hidden", default="64,32", help="hidden layer sizes, e.g. 64,32")
    fit.add_argument("--task", choices=["regression", "classification"], default="regression")
    fit.add_argument(
        "--activation", choices=["relu", "tanh"], default="relu",
        help="hidden activation of both networks (default relu)",
    )
    fit.add_argument("--epochs", type=int, default=200)
    fit.add_argument("--patience", type=int, default=20, help="early-stopping patience")
    fit.add_argument("--learning-rate", type=float, default=1e-3)
    fit.add_argument("--generations", type=int, default=20, help="search generations")
    fit.add_argument("--population", type=int, default=1000, help="search population")
    fit.add_argument(
        "--interaction-rank", default="0",
        help="interaction rank of the first layer: a non-negative integer (default "
        "0) or 'auto' (the rank the search's check suggests)",
    )
    fit.add_argument(
        "--functions", default="add,sub,mul,sin,cos,exp",
        help="search's function set (default: the estimators' add,sub,mul,sin,cos,exp; "
        "add,sub,mul for polynomials, as in the paper)",
    )
    fit.add_argument(
        "--parsimony", type=float, default=0.0005,
        help="search's penalty per formula node (higher: shorter formulas)",
    )
    fit.add_argument(
        "--fitness", choices=("separable", "shared"), default="separable",
        help="what the search scores a formula by: 'separable' (default) the model one unit of "
        "the first layer computes, a weight per input and basis; 'shared' the paper's "
        "a*sum_i f(x_i) + b",
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--compare", action="store_true",
                     help="also train a Dense network with at least as many parameters")
    fit.add_argument("--dropna", action="store_true", help="drop rows with missing values")
    fit.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    fit.add_argument(
        "--quiet", action="store_true",
        help="one line per epoch, no progress bar (the default when output is not a terminal)",
    )
    fit.set_defaults(run=command_fit)

    predict = commands.add_parser("predict", help="predict a CSV file with a saved model")
    predict.add_argument("model")
    predict.add_argument("csv")
    predict.add_argument("--output", help="predictions CSV (default: standard output)")
    predict.add_argument("--overwrite", action="store_true")
    predict.set_defaults(run=command_predict)

    inspect = commands.add_parser("inspect", help="show the task-neuron layers of a model")
    inspect.add_argument("model")
    inspect.add_argument("--data", help="a CSV of the model's features: each basis's share "
                         "of each layer's output on it")
    inspect.set_defaults(run=command_inspect)

    prune = commands.add_parser(
        "prune", help="remove the basis blocks a model does not need on given data")
    prune.add_argument("model")
    prune.add_argument("csv", help="rows of the model's features (held-out rows, say)")
    prune.add_argument("--tolerance", type=float, default=0.01,
                       help="largest change of the predictions on the CSV, relative to "
                       "their standard deviation (default 0.01)")
    prune.add_argument("--output", required=True, help="the pruned model (.keras)")
    prune.add_argument("--overwrite", action="store_true")
    prune.set_defaults(run=command_prune)
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if getattr(args, "output", None) and args.command in ("fit", "prune") and not args.output.endswith(".keras"):
        parser.error(f"--output must end in .keras, got {args.output!r}")
    try:
        # Keras, its backend and every layer's registration only now
        # (``--help`` and usage errors need none of them), quietly unless
        # --verbose (keras_taskneurons.startup).
        keras_taskneurons._load_public(command_line=True, verbose=args.verbose)
        return args.run(args)
    except CommandError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, never a traceback
        if os.environ.get("KERAS_TASKNEURONS_DEBUG"):
            raise
        print(f"{PROGRAM}: error: {type(error).__name__}: {error}".splitlines()[0],
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
