"""``keras-taskneurons fit``: split, search, train, compare, report, save.

``command_fit`` is a short pipeline of named steps: the options are checked,
the table read and the outputs checked (before any long work), the rows
split, the formula searched, the networks trained, and the model, its report
and its pictures written together.
"""

import math
import os
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np

from keras_taskneurons.cli.reports import (
    check_writable,
    functions_path,
    json_writer,
    plot_functions,
    plot_report,
    report_paths,
    verdict,
    write_together,
)
from keras_taskneurons.cli.saved_model import basis_shares
from keras_taskneurons.cli.tables import CommandError, load_bundled, load_csv


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
    options = check_options(args)
    table, outputs = read_input_and_check_outputs(args)
    split = split_rows(table, args)
    search = search_formula(table, split, options, args)
    run = train_networks(table, split, search, options, args)
    print_results(run.results, args.task)
    save(args, table, split, search, options, run, outputs)
    return 0


def check_options(args):
    """The options, checked before anything is read."""
    sizes = parse_hidden(args.hidden)
    functions = parse_functions(args.functions)
    for name in ("epochs", "generations", "population", "patience"):
        if getattr(args, name) <= 0:
            raise CommandError(f"--{name} must be positive, got {getattr(args, name)}")
    return SimpleNamespace(sizes=sizes, functions=functions,
                           rank=parse_interaction_rank(args.interaction_rank))


def read_input_and_check_outputs(args):
    """The table, then the outputs: a missing CSV is reported as such even
    when the outputs exist already."""
    table = (
        load_csv(args.csv, args.target, args.task, args.dropna)
        if args.csv else load_bundled(args.task)
    )
    check_writable(args.output, args.overwrite)
    report_json, report_png = report_paths(args.output)
    outputs = SimpleNamespace(json=report_json, png=report_png,
                              functions=functions_path(args.output))
    for path in (outputs.json, outputs.png, outputs.functions):
        check_writable(path, args.overwrite)
    if args.csv is None:
        print(f"no CSV given: using the {table.source} dataset")
    if len(table.y) < 20:
        raise CommandError(f"{table.source} has {len(table.y)} usable rows; at least 20 are needed")
    return table, outputs


def split_rows(table, args):
    """Train/validation/test indices (70/15/15, stratified for classes),
    the model's targets (standardized for a regression) and the arrays."""
    from sklearn.model_selection import train_test_split
    import keras

    keras.utils.set_random_seed(args.seed)
    n = len(table.y)
    classes, y = None, table.y
    if args.task == "classification":
        classes, y = np.unique(table.y.astype(str), return_inverse=True)
        if len(classes) < 2:
            raise CommandError(f"target {table.target_name!r} has a single class")
    stratify = y if args.task == "classification" else None
    try:
        train_idx, rest = train_test_split(
            np.arange(n), test_size=0.3, random_state=args.seed, stratify=stratify
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
    return SimpleNamespace(y=y, classes=classes, train=train_idx, validation=val_idx,
                           test=test_idx, data=data, target_mean=target_mean,
                           target_scale=target_scale)


def search_formula(table, split, options, args):
    """Step 1: the search on the raw training rows; its warnings said as notes."""
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    print(f"\nstep 1: vectorized symbolic regression ({args.generations} generations)")
    Search = (
        VectorizedSymbolicClassifier if args.task == "classification"
        else VectorizedSymbolicRegressor
    )
    search = Search(
        population_size=args.population, generations=args.generations,
        function_set=options.functions, parsimony_coefficient=args.parsimony,
        fitness=args.fitness, random_state=args.seed, verbose=1,
    )  # scaling="auto": each column standardized on the training rows (input_map_)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # said as notes, not warnings
        warnings.simplefilter("always", UserWarning)
        search.fit(table.X[split.train], split.y[split.train])
    search.seconds = time.perf_counter() - started
    for warning in caught:
        print(f"note: {warning.message}")
    formula = search.formula_
    # The search (verbose=1) has printed its Pareto front, the chosen formula marked ">".
    print(f"formula: f(x) = {formula.format(4)}")
    print(f"LaTeX:   f(x) = {formula.to_latex()}")
    if options.rank is None:
        options.rank = search.interaction_rank_
    print(interaction_line(search, options.rank))
    return search


def train_networks(table, split, search, options, args):
    """Step 2: the task-based network, and with ``--compare`` a Dense
    network with at least as many parameters, on the same recipe and seed."""
    n_features = len(table.feature_names)
    n_outputs = len(split.classes) if split.classes is not None else 1
    print(f"\nstep 2: train a task-based network, hidden layers {options.sizes}")
    task_model = build_network(
        "task", options.sizes, n_features, n_outputs, args.task, search.formula_,
        search.input_map_, activation=args.activation, seed=args.seed,
        interaction_rank=options.rank,
    )
    history, seconds = train(task_model, split.data, args.task, args.epochs,
                             args.learning_rate, args.patience, verbose=progress(args))
    task = {
        "parameters": int(task_model.count_params()),
        "metrics": evaluate(task_model, split.data, args.task, split.target_scale),
        "epochs": len(history["loss"]),
        "seconds": seconds,
        "basis_shares": basis_shares(task_model, split.data["x_train"]),
    }
    for name, shares in task["basis_shares"].items():
        print(f"  {name}: share of the output on the training rows: "
              + ", ".join(f"{basis} {share:.3f}" for basis, share in shares.items()))
    run = SimpleNamespace(task_model=task_model, results={"task_network": task},
                          histories={"task-based": history})
    if args.compare:
        from keras_taskneurons.networks import matching_linear_widths

        widths = matching_linear_widths(options.sizes, n_features, n_outputs,
                                        task_model.count_params())
        print(f"\ncomparison: a linear (Dense) network, hidden layers {widths}")
        linear_model = build_network(
            "linear", widths, n_features, n_outputs, args.task, None,
            search.input_map_, activation=args.activation, seed=args.seed,
        )
        history, seconds = train(linear_model, split.data, args.task, args.epochs,
                                 args.learning_rate, args.patience, verbose=progress(args))
        run.histories["linear"] = history
        run.results["linear_network"] = {
            "parameters": int(linear_model.count_params()),
            "hidden": widths,
            "metrics": evaluate(linear_model, split.data, args.task, split.target_scale),
            "epochs": len(history["loss"]),
            "seconds": seconds,
        }
    return run


def report(args, table, split, search, options, run):
    """The JSON report ``predict`` and ``inspect`` read beside the model."""
    import keras

    formula = search.formula_
    return {
        "formula": str(formula),
        "formula_latex": formula.to_latex(),
        "formula_display": formula.format(4),
        "search": {
            "seconds": search.seconds,
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
            "interaction_rank": options.rank,
        },
        "task": args.task,
        "source": table.source,
        "features": table.feature_names,
        "target": table.target_name,
        "classes": None if split.classes is None else [str(c) for c in split.classes],
        "split": {"train": len(split.train), "validation": len(split.validation),
                  "test": len(split.test)},
        "settings": {
            "hidden": options.sizes, "activation": args.activation,
            "epochs": args.epochs, "patience": args.patience,
            "learning_rate": args.learning_rate, "seed": args.seed,
            "population": args.population, "generations": args.generations,
            "functions": list(options.functions), "parsimony": args.parsimony,
            "fitness": args.fitness,
        },
        "results": run.results,
        "model": os.path.basename(args.output),
        "keras_backend": keras.backend.backend(),
    }


def save(args, table, split, search, options, run, outputs):
    """The model (predicting on the target's own scale) and its report,
    together or not at all, then the pictures."""
    import keras

    from keras_taskneurons.layers import TaskNeuronDense

    saved = run.task_model
    if args.task == "regression":
        outputs_scaled = keras.layers.Rescaling(
            split.target_scale, offset=split.target_mean, name="target_scale"
        )(saved.output)
        saved = keras.Model(saved.input, outputs_scaled, name="task_network")
    write_together([(args.output, saved.save, ".keras"),
                    (outputs.json, json_writer(report(args, table, split, search, options, run)),
                     ".json")])
    formula = search.formula_
    header = (f"{table.source}: {len(table.y)} rows, {len(table.feature_names)} features, "
              f"f(x) = {formula.format(3)}\n{verdict(run.results, args.task)}")
    drawn = plot_report(outputs.png, formula,
                        search.input_map_.transform(table.X[split.train]), run.histories,
                        search.equations_, run.results["task_network"]["basis_shares"],
                        header=header)
    first = next((layer for layer in run.task_model.layers
                  if isinstance(layer, TaskNeuronDense)), None)
    functions_drawn = drawn and first is not None and plot_functions(
        outputs.functions, first, table.feature_names)
    pictures = [path for path, made in ((outputs.png, drawn), (outputs.functions, functions_drawn))
                if made]
    print(f"\nsaved {args.output}")
    print(f"report {outputs.json}" + "".join(f", {path}" for path in pictures))


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




def progress(args):
    """Keras ``verbose``: a progress bar on a terminal, one line per epoch
    otherwise (logs, CI, notebooks) or with ``--quiet``."""
    return 1 if sys.stdout.isatty() and not args.quiet else 2
