"""``layer_factory``: task-neuron layers of one formula, dense or convolutional."""

from keras_taskneurons.formula import as_formula
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers.conv import (
    TaskNeuronConv1D,
    TaskNeuronConv2D,
    TaskNeuronConv3D,
)
from keras_taskneurons.layers.dense import TaskNeuronDense


class TaskNeuronLayerFactory:
    """Builds task-neuron layers that share one formula, its domain and
    defaults.

    Returned by :func:`layer_factory`. Call it with ``units`` (and any
    keyword overrides) for a :class:`TaskNeuronDense`; ``conv1d``,
    ``conv2d`` and ``conv3d`` take ``filters, kernel_size`` (and overrides)
    for the task-based convolutions.

    With an ``input_map`` (the search's ``input_map_``), the FIRST layer the
    factory builds holds it: it maps the raw features to the values the
    formula was searched on and computes the searched bases there; every
    layer gets the map's domain as ``basis_domain``, so the later ones
    bring what they see into that range by running statistics
    (``basis_range="auto"``). Pass ``input_map=...`` to a call to choose
    otherwise.
    """

    def __init__(self, formula, input_map=None, **defaults):
        for name in ("units", "name"):
            if name in defaults:
                raise TypeError(
                    f"Pass `{name}` when calling the factory, not to "
                    "layer_factory()."
                )
        self.formula = as_formula(formula)
        self.input_map = None if input_map is None else InputMap.from_config(input_map)
        if self.input_map is not None:  # the later layers' domain too
            defaults.setdefault("basis_domain", self.input_map.domain)
        self.defaults = defaults
        self._map_pending = self.input_map is not None
        # Fail now, not at the first call, on bad defaults. An explicit name
        # keeps Keras's automatic layer names (task_neuron_dense, ...) unused.
        TaskNeuronDense(1, self.formula, name="layer_factory_check", **defaults)

    def _options(self, overrides, channels=False):
        """The defaults, the overrides and, for the first layer, the map."""
        options = {**self.defaults, **overrides}
        if self._map_pending and "input_map" not in overrides:
            options["input_map"] = self.input_map.uniform() if channels else self.input_map
        self._map_pending = False
        return options

    def __call__(self, units, **overrides):
        return TaskNeuronDense(units, self.formula, **self._options(overrides))

    def _conv(self, cls, filters, kernel_size, overrides):
        options = self._options(overrides, channels=True)
        parameterization = options.pop("parameterization", "terms")
        if parameterization != "terms":
            raise ValueError(
                "Task-based convolutions have the 'terms' parameterization only. "
                f"Received: parameterization={parameterization!r}"
            )
        return cls(filters, kernel_size, formula=self.formula, **options)

    def conv1d(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv1D` with the factory's formula and defaults."""
        return self._conv(TaskNeuronConv1D, filters, kernel_size, overrides)

    def conv2d(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv2D` with the factory's formula and defaults."""
        return self._conv(TaskNeuronConv2D, filters, kernel_size, overrides)

    def conv3d(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv3D` with the factory's formula and defaults."""
        return self._conv(TaskNeuronConv3D, filters, kernel_size, overrides)

    def __repr__(self):
        settings = "".join(f", {k}={v!r}" for k, v in self.defaults.items())
        mapped = "" if self.input_map is None else f", input_map={self.input_map!r}"
        return f"layer_factory('{self.formula}'{mapped}{settings})"


def layer_factory(formula, input_map=None, **defaults):
    """Return ``make(units, **overrides)`` building ``TaskNeuronDense`` layers
    (and ``make.conv1d/conv2d/conv3d(filters, kernel_size, **overrides)``
    building task-based convolutions).

    Every layer is one of the registered classes, so saved models load by
    name. ``search.layer_factory()`` passes the search's formula and input
    map.

    Args:
        formula: A :class:`~keras_taskneurons.Formula` or formula string.
        input_map: ``None`` or the search's ``input_map_``: the first layer
            built holds it (see :class:`TaskNeuronLayerFactory`).
        **defaults: Keyword arguments of :class:`TaskNeuronDense` applied to
            every layer (``activation``, ``parameterization``, ...).

    Returns:
        A callable ``make(units, **overrides)``.

    >>> import keras, keras_taskneurons
    >>> make = keras_taskneurons.layer_factory("x**2 + x", activation="relu")
    >>> model = keras.Sequential([keras.Input((8,)), make(16), make(1, activation=None)])
    >>> model.output_shape
    (None, 1)
    >>> make.conv2d(8, 3, padding="same").kernel_size
    (3, 3)
    """
    return TaskNeuronLayerFactory(formula, input_map, **defaults)
