"""Where the bases are evaluated: how much of what a task-neuron layer's
bases see falls outside their basis domain.

A basis clipped to its domain is a constant beyond it, so a layer fed
values mostly outside the domain (raw features without the search's input
map, say) has lost its task-based part without a word. Every layer checks
its first training batch seen eagerly (PyTorch's ``fit``, custom loops) and
warns once; compiled training (TensorFlow's and JAX's ``fit``) has no value
to look at inside the step, so [BasisRangeMonitor][keras_taskneurons.BasisRangeMonitor] checks after the
first epoch, and [basis_range_report][keras_taskneurons.basis_range_report] tells on any data.
"""

import contextlib

import keras
import numpy as np

from keras_taskneurons.layers.basis import SATURATION_WARNING, BasisLayer


def _basis_layers(model):
    """``{name: basis layer}``: the task-neuron layers in ``model`` (itself
    included), in order, each under a name of its own: a recurrent layer's
    cell under the recurrent layer's name, a name met twice with ``_2``,
    ``_3``, ... appended."""
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    cells = {id(layer.cell): layer.name for layer in layers
             if isinstance(getattr(layer, "cell", None), BasisLayer)}
    named = {}
    for layer in layers:
        if not isinstance(layer, BasisLayer):
            continue
        name = cells.get(id(layer), layer.name)
        unique, count = name, 1
        while unique in named:
            count += 1
            unique = f"{name}_{count}"
        named[unique] = layer
    return named


def basis_range_report(model, x, batch_size=256):
    """The fraction of what each task-neuron layer's bases see that falls
    outside its basis domain, on data ``x`` (inference mode).

    Args:
        model: A Keras model or layer holding task-neuron layers.
        x: Input data of ``model`` (an array, or what ``model`` takes).
        batch_size: Rows per forward pass.

    Returns:
        ``{layer name: fraction}`` for every layer whose bases are bounded
        (``basis_range`` not ``None``, some basis but ``x``): one entry per
        layer (a recurrent layer under its own name, the fraction of its
        input's values, not its state's; names met twice get ``_2``, ...).

    >>> import numpy as np, keras, keras_taskneurons
    >>> layer = keras_taskneurons.TaskNeuronDense(
    ...     2, "sin(x)", basis_range="clip", name="first")
    >>> keras_taskneurons.basis_range_report(layer, np.full((4, 3), 5.0, "float32"))
    {'first': 1.0}
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(
            f"Received an invalid value for `batch_size`, expected a positive integer. "
            f"Received: batch_size={batch_size!r}"
        )
    layers = _basis_layers(model) if hasattr(model, "_flatten_layers") else {}
    if not layers:
        raise ValueError(
            f"The model holds no task-neuron layer. Received: model={type(model).__name__}"
        )
    with contextlib.ExitStack() as probing:
        probes = {name: probing.enter_context(layer.probing_range([]))
                  for name, layer in layers.items()}
        if isinstance(x, np.ndarray) or hasattr(x, "shape"):
            for start in range(0, len(x), int(batch_size)):
                model(x[start:start + int(batch_size)], training=False)
        else:
            model(x, training=False)
    return {
        name: float(sum(f * n for f, n in seen) / sum(n for _, n in seen))
        for name, seen in probes.items() if seen
    }


class BasisRangeMonitor(keras.callbacks.Callback):
    """Warns, once per layer, when a task-neuron layer's bases see mostly
    values outside their basis domain (checked on ``x`` after the first
    epoch, when running statistics have settled, and at the end of
    training).

    Args:
        x: A sample of the training inputs (a few hundred rows suffice).
        threshold: The fraction above which a layer warns (default
            ``SATURATION_WARNING``).

    >>> import keras, keras_taskneurons
    >>> monitor = keras_taskneurons.BasisRangeMonitor(x_train[:256])  # doctest: +SKIP
    >>> model.fit(x_train, y_train, callbacks=[monitor])  # doctest: +SKIP
    """

    def __init__(self, x, threshold=SATURATION_WARNING):
        super().__init__()
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not (
                0 <= threshold < 1):
            raise ValueError(
                f"Received an invalid value for `threshold`, expected a number in [0, 1). "
                f"Received: threshold={threshold!r}"
            )
        self.x = x
        self.threshold = float(threshold)
        self.fractions = {}

    def _check(self):
        self.fractions = basis_range_report(self.model, self.x)
        for name, layer in _basis_layers(self.model).items():
            fraction = self.fractions.get(name)
            if fraction is not None:
                layer.warn_range(fraction, self.threshold)

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self._check()

    def on_train_end(self, logs=None):
        self._check()
