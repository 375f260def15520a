"""The command line's commands on a saved model: predict, inspect, prune.

Each reads the model ``fit`` saved and, where it takes a CSV, the JSON report
beside the model (feature names, classes), so a CSV's columns are matched by
name. Part of the command line (``keras_taskneurons.cli``), which parses the arguments.
"""

import csv
import json
import math
import os
import sys

import numpy as np

from keras_taskneurons.cli.reports import (
    check_writable,
    json_writer,
    report_paths,
    write_atomically,
    write_together,
)
from keras_taskneurons.cli.tables import CommandError, features_from_columns, read_csv_columns


def load_model(path):
    if not os.path.isfile(path):
        raise CommandError(f"model file not found: {path}")
    import keras

    import keras_taskneurons

    keras_taskneurons._load_public()  # every layer registered, however the process started

    try:
        return keras.models.load_model(path)
    except Exception as error:  # a corrupt or tampered file: say so, briefly
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CommandError(f"cannot load model {path}: {message}") from None


def read_report(model_path, command):
    """The report ``fit`` wrote beside ``model_path``, and its features."""
    report_json, _ = report_paths(model_path)
    if not os.path.isfile(report_json):
        raise CommandError(
            f"report {report_json} not found: {command} needs the report that "
            "'fit' writes beside the model (feature names, classes)"
        )
    try:
        with open(report_json, encoding="utf-8") as handle:
            report = json.load(handle)
        features = [str(name) for name in report["features"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CommandError(f"cannot read report {report_json}: {error}") from None
    return report, features


def read_model_input(csv_path, features):
    """The model's feature columns of a CSV, every value present."""
    header, columns = read_csv_columns(csv_path)
    X = features_from_columns(header, columns, features, csv_path)
    missing = np.isnan(X).any(axis=1)
    if missing.any():
        raise CommandError(
            f"{csv_path}: {int(missing.sum())} row(s) have missing feature values"
        )
    return X


def command_predict(args):
    report, features = read_report(args.model, "predict")
    classes = report.get("classes")
    X = read_model_input(args.csv, features)
    if args.output:
        check_writable(args.output, args.overwrite)
    model = load_model(args.model)
    expected = model.input_shape[-1]
    if expected != len(features):
        raise CommandError(
            f"the model takes {expected} features but its report lists {len(features)}"
        )
    outputs = np.asarray(model.predict(X.astype("float32"), verbose=0))
    if classes:
        names = ["prediction"] + [f"probability_{c}" for c in classes]
        rows = [
            [classes[int(np.argmax(row))]] + [f"{p:.6g}" for p in row] for row in outputs
        ]
    else:
        names = ["prediction"]
        rows = [[f"{value:.8g}"] for value in outputs[:, 0]]

    def write(path):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            writer.writerows(rows)

    if args.output:
        write_atomically(args.output, write, suffix=".csv")
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows)
    return 0


INSPECT_INPUTS = 12
"""``inspect`` prints the first layer's average function of this many inputs."""


def basis_shares(model, X):
    """``{layer name: {basis: share}}`` of the model's TaskNeuronDense
    layers on the rows ``X`` (what [prune][keras_taskneurons.prune] reads)."""
    from keras_taskneurons.layers import TaskNeuronDense
    from keras_taskneurons.pruning import layer_inputs

    layers = [layer for layer in model.layers if isinstance(layer, TaskNeuronDense)]
    if not layers:
        return {}
    seen = layer_inputs(model, layers, np.asarray(X, dtype="float32"))
    return {layer.name: layer.basis_contributions(np.reshape(values, (-1, layer.input_dim)))
            for layer, values in zip(layers, seen)}


def command_inspect(args):
    from keras_taskneurons.layers import TaskNeuronDense

    X, names = None, None
    if args.data:
        names = read_report(args.model, "inspect --data")[1]
        X = read_model_input(args.data, names)
    else:  # the report's feature names, where fit left one beside the model
        try:
            names = read_report(args.model, "inspect")[1]
        except CommandError:
            names = None
    model = load_model(args.model)
    layers = [layer for layer in _all_layers(model) if isinstance(layer, TaskNeuronDense)]
    print(f"{args.model}: {model.name}, {model.count_params()} parameters")
    if not layers:
        print("no TaskNeuronDense layers")
    shares = basis_shares(model, X) if X is not None else {}
    for layer in layers:
        print(
            f"  {layer.name}: units={layer.units}, "
            f"parameterization={layer.parameterization}, "
            f"parameters={layer.count_params()}\n"
            f"    formula: {layer.formula}\n"
            f"    basis terms: {', '.join(str(b) for b in layer.bases)}"
        )
        if layer.name in shares:
            print(f"    share of the output on {args.data}: "
                  + ", ".join(f"{basis} {share:.3f}" for basis, share in shares[layer.name].items()))
        if layer is layers[0] and not layer.parametric_bases:
            named = names is not None and len(names) == layer.input_dim
            print("    on average over its units, each input goes through (x: its value):")
            for i, function in enumerate(layer.average_functions()[:INSPECT_INPUTS]):
                text = "0" if function is None else function.format(3)
                print(f"      {names[i] if named else i}: {text[:120]}")
            if layer.input_dim > INSPECT_INPUTS:
                print(f"      ... ({layer.input_dim - INSPECT_INPUTS} more inputs)")
    return 0


def command_prune(args):
    from keras_taskneurons.pruning import prune

    report, features = read_report(args.model, "prune")
    X = read_model_input(args.csv, features)
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise CommandError(f"--tolerance must be a non-negative number, got {args.tolerance}")
    check_writable(args.output, args.overwrite)
    report_json, _ = report_paths(args.output)
    model = load_model(args.model)
    pruned, removed = prune(model, X.astype("float32"), tolerance=args.tolerance)
    before, after = model.count_params(), pruned.count_params()
    for name, bases in removed.items():
        print(f"  {name}: removed {', '.join(bases)}")
    if not removed:
        print(f"  nothing removed: every basis moves the predictions by more than "
              f"--tolerance {args.tolerance:g}")
    print(f"parameters: {before} -> {after} ({100 * (before - after) / before:.1f} % fewer)")
    report = dict(report, model=os.path.basename(args.output),
                  pruned={"from": os.path.basename(args.model), "data": args.csv,
                          "tolerance": args.tolerance, "removed": removed,
                          "parameters": [before, after]})

    write_together([(args.output, pruned.save, ".keras"), (report_json, json_writer(report), ".json")])
    print(f"saved {args.output}\nreport {report_json}")
    return 0


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
