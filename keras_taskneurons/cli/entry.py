"""The ``keras-taskneurons`` command line: the parser and the entry point.

``fit`` runs the whole method on a CSV file (or a dataset bundled with
scikit-learn; ``keras_taskneurons.cli.fit``); ``predict``, ``inspect`` and
``prune`` work on a saved model and the JSON report beside it
(``keras_taskneurons.cli.saved_model``).
"""

import argparse
import os
import sys

import keras_taskneurons
from keras_taskneurons.cli import startup
from keras_taskneurons.cli.tables import CommandError

PROGRAM = "keras-taskneurons"


def _fit(args):
    from keras_taskneurons.cli.fit import command_fit

    return command_fit(args)


def _saved_model_command(name):
    def run(args):
        from keras_taskneurons.cli import saved_model

        return getattr(saved_model, name)(args)

    return run


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
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="predict a CSV file with a saved model")
    predict.add_argument("model")
    predict.add_argument("csv")
    predict.add_argument("--output", help="predictions CSV (default: standard output)")
    predict.add_argument("--overwrite", action="store_true")
    predict.set_defaults(run=_saved_model_command("command_predict"))

    inspect = commands.add_parser("inspect", help="show the task-neuron layers of a model")
    inspect.add_argument("model")
    inspect.add_argument("--data", help="a CSV of the model's features: each basis's share "
                         "of each layer's output on it")
    inspect.set_defaults(run=_saved_model_command("command_inspect"))

    prune = commands.add_parser(
        "prune", help="remove the basis blocks a model does not need on given data")
    prune.add_argument("model")
    prune.add_argument("csv", help="rows of the model's features (held-out rows, say)")
    prune.add_argument("--tolerance", type=float, default=0.01,
                       help="largest change of the predictions on the CSV, relative to "
                       "their standard deviation (default 0.01)")
    prune.add_argument("--output", required=True, help="the pruned model (.keras)")
    prune.add_argument("--overwrite", action="store_true")
    prune.set_defaults(run=_saved_model_command("command_prune"))
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    output = getattr(args, "output", None)
    if output and args.command in ("fit", "prune") and not output.endswith(".keras"):
        parser.error(f"--output must end in .keras, got {args.output!r}")
    try:
        # Keras, its backend and every layer's registration only now
        # (``--help`` and usage errors need none of them), quietly unless
        # --verbose (keras_taskneurons.cli.startup).
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
