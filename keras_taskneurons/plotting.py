"""Look at what a trained task-neuron layer learned: one small panel per
input with the function its units apply there (pykan's ``plot`` for
task-based layers). Needs matplotlib (the ``cli`` extra)."""

import numbers

import numpy as np

from keras_taskneurons.layers import readout


def _check_layer(layer):
    from keras_taskneurons.layers.dense import TaskNeuronDense
    from keras_taskneurons.layers.embedding import TaskNeuronEmbedding

    if isinstance(layer, TaskNeuronEmbedding):
        if not layer.built:
            raise ValueError(f"{layer.name} is not built yet: call it on data first.")
        return layer.n_inputs
    if not isinstance(layer, TaskNeuronDense):
        raise TypeError(
            "plot_learned_functions() reads a TaskNeuronDense layer (one function per "
            "unit and input) or a TaskNeuronEmbedding (one per input and value). "
            f"Received: {type(layer).__name__} {getattr(layer, 'name', '')!r}")
    readout._check_built(layer)
    return layer.input_dim


def _curves(layer, points):
    """``(grids, values, x label, what, noun)``: each input's grid and its curves."""
    if hasattr(layer, "function_grids"):  # an embedding: its values per input
        grids, values = layer.function_grids(points)
        return grids, values, "u (the input on the map)", "the values embedding", "values"
    low, high = readout.seen_ranges(layer)
    grids = np.linspace(low, high, points, axis=1)
    values = readout.function_values(layer, grids)  # (inputs, points, units)
    values = values - values[:, points // 2:points // 2 + 1, :]  # each φ up to a constant
    return grids, values, "the layer's input", "what each unit applies to", "units"


def _names(inputs, feature_names):
    if feature_names is None:
        return [f"input {i}" for i in range(inputs)]
    if isinstance(feature_names, str):
        raise TypeError(
            f"feature_names must be a list of strings, not one string. "
            f"Received: feature_names={feature_names!r}")
    names = [str(n) for n in feature_names]
    if len(names) != inputs:
        raise ValueError(
            f"feature_names must name the layer's {inputs} inputs. "
            f"Received {len(names)} names: {names[:5]}{'...' if len(names) > 5 else ''}")
    return names


def _positive_int(name, value, least=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected an integer >= {least}. "
            f"Received: {name}={value!r}")
    return int(value)


def plot_learned_functions(layer, feature_names=None, points=200, columns=4, units=3):
    """One panel per input of ``layer``: the function its units apply to
    that input (``φ_ij`` of ``learned_functions()``,
    centred at the range's middle), over the range the layer saw; for a
    [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding], the
    ``dim`` values it embeds that input by (after the activation), over
    each column's domain of ``u`` (``function_grids()``).

    Each panel shows the units' average (a thick line), the spread between
    the units (the band from the 10th to the 90th percentile) and ``units``
    single units (the ones whose function varies most there). The range is
    where the layer's bases see their domain: the search's per-column
    domains for a first layer holding the input map, mean ± 2 std of the
    running statistics for a later layer.

    Args:
        layer: A built [TaskNeuronDense][keras_taskneurons.TaskNeuronDense]
            or [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding].
        feature_names: ``None`` or one name per input (the search's
            ``feature_names_in_``, a DataFrame's columns).
        points: Grid points per panel (at least 2).
        columns: Panels per row.
        units: How many single units to draw per panel (0 for none).

    Returns:
        A matplotlib ``Figure`` with one axes per input (``figure.axes``).

    Examples:
        >>> import numpy as np, keras_taskneurons as ktn
        >>> layer = ktn.TaskNeuronDense(4, "x**2", basis_initializer="ones")
        >>> _ = layer(np.zeros((1, 3)))
        >>> figure = ktn.plot_learned_functions(layer, ["age", "bmi", "bp"])
        >>> [axes.get_title() for axes in figure.axes]
        ['age', 'bmi', 'bp']
    """
    inputs = _check_layer(layer)
    names = _names(inputs, feature_names)
    points = _positive_int("points", points, 2)
    columns = _positive_int("columns", columns)
    units = _positive_int("units", units, 0)
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "plot_learned_functions() needs matplotlib: pip install 'keras-taskneurons[cli]'"
        ) from error
    grids, values, x_label, what, noun = _curves(layer, points)
    rows = -(-inputs // columns)
    width = min(columns, inputs)
    figure, axes = plt.subplots(rows, width, figsize=(3.2 * width, 2.6 * rows), squeeze=False)
    for index, name in enumerate(names):
        ax = axes[index // columns][index % columns]
        grid, curves = grids[index], values[index]
        band = np.percentile(curves, [10, 90], axis=1)
        ax.fill_between(grid, band[0], band[1], alpha=0.25, label=f"{noun}, 10-90 %")
        spread = np.ptp(curves, axis=0)
        for rank, j in enumerate(np.argsort(spread)[::-1][:units]):
            ax.plot(grid, curves[:, j], linewidth=0.8, alpha=0.7,
                    label=f"single {noun} (most varying)" if rank == 0 else None)
        ax.plot(grid, curves.mean(axis=1), color="black", linewidth=2, label=f"mean of the {noun}")
        ax.set_title(name)
        ax.set_xlabel(x_label, fontsize=7)
        if index % columns == 0:
            ax.set_ylabel("learned function\n(up to a constant)", fontsize=7)
        if index == 0:
            ax.legend(fontsize=6)
        ax.tick_params(labelsize=7)
    for index in range(inputs, rows * width):
        figure.delaxes(axes[index // columns][index % columns])
    figure.suptitle(f"{layer.name}: {what} each input "
                    f"(f = {layer.formula.format(4)})",
                    fontsize=10)
    figure.tight_layout()
    return figure
