"""What the command line writes: files written safely, and the report's plot.

Every output goes through a temporary file in its folder and is renamed into
place, so a failed run never leaves a half-written file, and a model never
stands without its report.
"""

import json
import os
import tempfile

import numpy as np

from keras_taskneurons.cli.tables import CommandError

# --- writing files ----------------------------------------------------------------------------


def _stem(model_path):
    return model_path[: -len(".keras")] if model_path.endswith(".keras") else model_path


def report_paths(model_path):
    """The JSON report and the report picture beside ``model_path``."""
    stem = _stem(model_path)
    return stem + ".report.json", stem + ".report.png"


def functions_path(model_path):
    """The picture of the first layer's learned functions beside ``model_path``."""
    return _stem(model_path) + ".functions.png"


PRIMARY_METRICS = {"regression": ("mse_normalized", False), "classification": ("accuracy", True)}
"""Per task, the test metric that decides who won and whether higher is better."""


def verdict(results, task):
    """One line: each network's primary test metric and parameter count,
    and which won (by how much)."""
    metric, higher = PRIMARY_METRICS[task]
    names = {"task_network": "task-based", "linear_network": "linear (Dense)"}
    parts = [f"{names[key]} {r['metrics'][metric]:.4f} ({r['parameters']:,} parameters)"
             for key, r in results.items()]
    line = f"test {metric}: " + ", ".join(parts)
    if len(results) < 2:
        return line
    task_value = results["task_network"]["metrics"][metric]
    linear_value = results["linear_network"]["metrics"][metric]
    if task_value == linear_value:
        return line + " - a tie"
    task_won = (task_value > linear_value) == higher
    best, other = (task_value, linear_value) if task_won else (linear_value, task_value)
    margin = abs(best - other) / max(abs(other), 1e-12) * 100
    winner = "the task-based network" if task_won else "the linear network"
    return line + f" - {winner} wins by {margin:.1f} %"


def check_writable(path, overwrite):
    """Fail before any long work if ``path`` cannot be written."""
    if os.path.exists(path) and not overwrite:
        raise CommandError(f"{path} exists; pass --overwrite to replace it")
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CommandError(f"cannot write {path}: folder {folder} is not writable")


def write_atomically(path, write, suffix=""):
    """Write through a temporary file in the same folder, then rename, so a
    failed run leaves any existing file intact."""
    write_together([(path, write, suffix)])


def json_writer(data):
    """A ``write(path)`` for ``write_together()``: ``data`` as indented JSON."""
    def write(path):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2))

    return write


def write_together(files):
    """Write several files so that either all of them appear or none.

    ``files`` holds ``(path, write, suffix)``; ``write(temporary_path)``
    writes one. Every file is first written to a temporary name in its
    folder; only when all have been written are they renamed into place. If
    anything fails, the temporaries and any file already renamed are
    removed, so a model never stands without its report.
    """
    written, renamed = [], []
    try:
        for path, write, suffix in files:
            folder = os.path.dirname(os.path.abspath(path))
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
            os.close(handle)
            written.append((temporary, path))
            write(temporary)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes files private
        for temporary, path in written:
            os.replace(temporary, path)
            renamed.append(path)
    except BaseException:
        for temporary, _ in written:
            if os.path.exists(temporary):
                os.unlink(temporary)
        for path in renamed:
            os.unlink(path)
        raise


# --- the report's plot -----------------------------------------------------------------


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or ``None`` when
    matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_report(path, formula, x_train, histories, equations, shares=None, header=None):
    """f(x) over the data range, the search's Pareto front, the learning
    curves and (``shares``: ``{layer: {part: share}}``) each basis's share
    of each task-neuron layer's output, as one PNG, under ``header`` (the
    dataset, the test metrics and parameter counts, who won)."""
    plt = _pyplot()
    if plt is None:
        print("matplotlib is not installed: no plot (pip install 'keras-taskneurons[cli]')")
        return False
    low, high = np.percentile(x_train, [0.5, 99.5])
    grid = np.linspace(low, high, 200)
    panels = 4 if shares else 3
    figure, axes = plt.subplots(1, panels, figsize=(14 + 4 * (panels - 3), 4.2))
    left, middle, right = axes[:3]
    lowest = min(equations, key=lambda e: e.loss)
    left.plot(grid, formula.evaluate(grid), label=f"chosen: {formula.format(3)}")
    if lowest.formula != formula:
        left.plot(grid, lowest.formula.evaluate(grid), "--", color="tab:gray",
                  label=f"front's lowest loss: {lowest.formula.format(3)}")
    left.set_title("the searched neuron's function f", fontsize=9)
    left.set_xlabel("x (each input mapped by the search's input map)")
    left.set_ylabel("f(x)")
    left.legend(fontsize=7)
    complexities = [e.complexity for e in equations]
    losses = [max(e.loss, 1e-16) for e in equations]
    middle.step(complexities, losses, where="post", color="tab:blue", label="front")
    middle.scatter(complexities, losses, color="tab:blue", s=15)
    chosen = equations.best
    middle.scatter([chosen.complexity], [max(chosen.loss, 1e-16)], s=80,
                   facecolors="none", edgecolors="tab:red", label="chosen")
    if max(losses) / min(losses) > 10:  # else a log axis labels one decade in 10⁻¹ steps
        middle.set_yscale("log")
    middle.set_xlabel("complexity")
    middle.set_ylabel("held-out loss (1 - R²)")
    middle.set_title("search: Pareto front", fontsize=9)
    middle.legend(fontsize=8)
    for name, history in histories.items():
        right.plot(history["loss"], label=f"{name} train")
        right.plot(history["val_loss"], "--", label=f"{name} validation")
    right.set_xlabel("epoch")
    right.set_ylabel("loss")
    right.set_yscale("log")
    right.legend(fontsize=8)
    right.set_title("learning curves", fontsize=9)
    if shares:
        _plot_shares(axes[3], shares)
    if header:
        figure.suptitle(header, fontsize=10, fontweight="bold")
    figure.tight_layout()
    write_atomically(path, lambda p: figure.savefig(p, format="png", dpi=100), suffix=".png")
    plt.close(figure)
    return True


def _plot_shares(bars, shares):
    """Each basis's share of each task-neuron layer's output: one group of
    bars per basis, one bar per layer (the first layer reads the inputs)."""
    from keras_taskneurons.formula import Formula

    parts = list(dict.fromkeys(part for layer in shares.values() for part in layer))
    width = 0.8 / len(shares)
    for position, layer in enumerate(shares.values()):
        bars.bar(np.arange(len(parts)) + position * width,
                 [layer.get(part, 0.0) for part in parts], width,
                 label=f"hidden layer {position + 1}" + (" (reads the inputs)" if position == 0
                                                         else ""))
    bars.set_xticks(np.arange(len(parts)) + 0.4 - width / 2)
    labels = [part if part.startswith("interaction") else Formula(part).format(3)
              for part in parts]
    bars.set_xticklabels([label[:24] for label in labels], fontsize=8)
    bars.set_xlabel("basis of f")
    bars.set_ylabel("share of the layer's output")
    bars.set_ylim(0, 1.15)
    bars.set_title("each basis's share of the layer's output (training rows)", fontsize=9)
    bars.legend(fontsize=7, loc="upper right")
    if parts == ["x"]:
        bars.text(0.5, 0.5, "x carries everything:\nthese layers compute\nwhat Dense layers do",
                  transform=bars.transAxes, ha="center", va="center", fontsize=8)


def plot_functions(path, layer, feature_names):
    """[plot_learned_functions][keras_taskneurons.plot_learned_functions] of ``layer`` as a
    PNG at ``path``; ``False`` without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return False
    from keras_taskneurons.plotting import plot_learned_functions

    figure = plot_learned_functions(layer, feature_names)
    write_atomically(path, lambda p: figure.savefig(p, format="png", dpi=100), suffix=".png")
    plt.close(figure)
    return True
