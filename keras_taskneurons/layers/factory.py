"""``layer_factory``: task-neuron layers of one formula: dense, einsum,
convolutional and transposed-convolutional."""

import inspect

from keras_taskneurons.formula import as_formula
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers.conv import TaskNeuronConv1D, TaskNeuronConv2D, TaskNeuronConv3D
from keras_taskneurons.layers.conv_transpose import (
    TaskNeuronConv1DTranspose,
    TaskNeuronConv2DTranspose,
    TaskNeuronConv3DTranspose,
)
from keras_taskneurons.layers.dense import TaskNeuronDense
from keras_taskneurons.layers.einsum import TaskNeuronEinsumDense
from keras_taskneurons.layers.recurrent import TaskNeuronGRU, TaskNeuronLSTM, TaskNeuronSimpleRNN

KINDS = {
    "dense": (TaskNeuronDense, (1,)),
    "einsum_dense": (TaskNeuronEinsumDense, ("ab,bc->ac", 1)),
    "conv1d": (TaskNeuronConv1D, (1, 1)),
    "conv2d": (TaskNeuronConv2D, (1, 1)),
    "conv3d": (TaskNeuronConv3D, (1, 1)),
    "conv1d_transpose": (TaskNeuronConv1DTranspose, (1, 1)),
    "conv2d_transpose": (TaskNeuronConv2DTranspose, (1, 1)),
    "conv3d_transpose": (TaskNeuronConv3DTranspose, (1, 1)),
    "simple_rnn": (TaskNeuronSimpleRNN, (1,)),
    "lstm": (TaskNeuronLSTM, (1,)),
    "gru": (TaskNeuronGRU, (1,)),
}
"""The layer kinds a factory builds, with the positional arguments its
defaults are checked with."""

RECURRENT = (TaskNeuronSimpleRNN, TaskNeuronLSTM, TaskNeuronGRU)

_BASE_LAYER_ARGUMENTS = ("dtype", "trainable", "autocast")


def _accepts(cls):
    parameters = inspect.signature(cls.__init__).parameters
    return set(parameters) | set(_BASE_LAYER_ARGUMENTS)


class TaskNeuronLayerFactory:
    """Builds task-neuron layers that share one formula, its domain and
    defaults.

    Returned by :func:`layer_factory`. Call it (or ``dense``) with
    ``units`` (and any keyword overrides) for a :class:`TaskNeuronDense`;
    ``einsum_dense`` takes ``equation, output_shape``; ``simple_rnn``,
    ``lstm`` and ``gru`` take ``units``; ``conv1d``,
    ``conv2d``, ``conv3d`` and their ``*_transpose`` take ``filters,
    kernel_size`` (and overrides). Each kind takes the defaults it has
    (``padding`` goes to the convolutions only).

    With an ``input_map`` (the search's ``input_map_``), the FIRST layer the
    factory builds holds it: it maps the raw features to the values the
    formula was searched on and computes the searched bases there; every
    layer gets the map's domain as ``basis_domain``, so the later ones
    bring what they see into that range by running statistics
    (``basis_range="auto"``). Pass ``input_map=...`` to a call to choose
    otherwise. ``first_layer`` (a dict) holds options for the first layer
    only (the search's suggested ``interaction_rank``); a call's overrides
    win over it.
    """

    def __init__(self, formula, input_map=None, first_layer=None, **defaults):
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
        first_layer = dict(first_layer or {})
        accepted = set().union(*(_accepts(c) for c, _ in KINDS.values()))
        for what, options in (("defaults", defaults), ("first_layer options", first_layer)):
            unknown = sorted(set(options) - accepted)
            if unknown:
                raise TypeError(
                    f"layer_factory() got {what} no task-neuron layer takes: {unknown}")
        self.defaults = defaults
        self.first_layer = first_layer
        self._map_pending = self.input_map is not None
        self._first_pending = True
        # Fail now, not at the first call, on bad defaults: each kind is
        # checked with the defaults it takes (padding is a convolution's, ...).
        # An explicit name keeps Keras's automatic layer names unused.
        for cls, arguments in KINDS.values():
            options = self._own(cls, {**defaults, **first_layer})
            if cls is not TaskNeuronDense and options.pop("parameterization", "terms") != "terms":
                continue  # refused when such a layer is asked for
            if cls in RECURRENT and options.get("basis_range") == "running":
                options.pop("basis_range")  # cells clip (see _recurrent)
            cls(*arguments, formula=self.formula, name="layer_factory_check", **options)

    @staticmethod
    def _own(cls, options):
        """The options ``cls`` takes (the factory's defaults serve every kind)."""
        accepted = _accepts(cls)
        return {k: v for k, v in options.items() if k in accepted or k == "parameterization"}

    def _options(self, cls, overrides, channels=False):
        """The defaults ``cls`` takes, the overrides and, for the first
        layer, the map: a convolution's must be one for every channel
        (``channels=True``); a sequence layer (``channels="sequence"``)
        takes a map searched on flattened sequences (uniform: one map
        for every step and feature) as one channel, another as it is (one
        column per feature)."""
        first = self._own(cls, self.first_layer) if self._first_pending else {}
        self._first_pending = False
        options = {**self._own(cls, self.defaults), **first, **overrides}
        if self._map_pending and "input_map" not in overrides:
            mapped = self.input_map
            if channels is True or (channels == "sequence" and mapped.is_uniform):
                mapped = mapped.uniform()
            options["input_map"] = mapped
        self._map_pending = False
        return options

    def __call__(self, units, **overrides):
        options = self._options(TaskNeuronDense, overrides)
        return TaskNeuronDense(units, self.formula, **options)

    def dense(self, units, **overrides):
        """A :class:`TaskNeuronDense` (the same as calling the factory)."""
        return self(units, **overrides)

    def einsum_dense(self, equation, output_shape, **overrides):
        """A :class:`TaskNeuronEinsumDense` with the factory's formula and
        defaults (the map applies along the equation's first summed axis)."""
        options = self._options(TaskNeuronEinsumDense, overrides, channels="sequence")
        options.pop("parameterization", None)
        return TaskNeuronEinsumDense(equation, output_shape, formula=self.formula, **options)

    def _recurrent(self, cls, units, overrides):
        options = self._options(cls, overrides, channels="sequence")
        if options.pop("parameterization", "terms") != "terms":
            raise ValueError("Task-based recurrent layers have the 'terms' parameterization only.")
        if options.get("basis_range") == "running" and "basis_range" not in overrides:
            options.pop("basis_range")  # a default for the dense layers; cells clip
        return cls(units, formula=self.formula, **options)

    def simple_rnn(self, units, **overrides):
        """A :class:`TaskNeuronSimpleRNN` with the factory's formula and defaults."""
        return self._recurrent(TaskNeuronSimpleRNN, units, overrides)

    def lstm(self, units, **overrides):
        """A :class:`TaskNeuronLSTM` with the factory's formula and defaults."""
        return self._recurrent(TaskNeuronLSTM, units, overrides)

    def gru(self, units, **overrides):
        """A :class:`TaskNeuronGRU` with the factory's formula and defaults."""
        return self._recurrent(TaskNeuronGRU, units, overrides)

    def _conv(self, cls, filters, kernel_size, overrides):
        options = self._options(cls, overrides, channels=True)
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

    def conv1d_transpose(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv1DTranspose` with the factory's formula."""
        return self._conv(TaskNeuronConv1DTranspose, filters, kernel_size, overrides)

    def conv2d_transpose(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv2DTranspose` with the factory's formula."""
        return self._conv(TaskNeuronConv2DTranspose, filters, kernel_size, overrides)

    def conv3d_transpose(self, filters, kernel_size, **overrides):
        """A :class:`TaskNeuronConv3DTranspose` with the factory's formula."""
        return self._conv(TaskNeuronConv3DTranspose, filters, kernel_size, overrides)

    def __repr__(self):
        settings = "".join(f", {k}={v!r}" for k, v in self.defaults.items())
        mapped = "" if self.input_map is None else f", input_map={self.input_map!r}"
        first = f", first_layer={self.first_layer!r}" if self.first_layer else ""
        return f"layer_factory('{self.formula}'{mapped}{first}{settings})"


def layer_factory(formula, input_map=None, first_layer=None, **defaults):
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
        first_layer: ``None`` or a dict of options for the first layer
            built only (``search.layer_factory()`` passes its suggested
            ``interaction_rank`` there).
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
    return TaskNeuronLayerFactory(formula, input_map, first_layer, **defaults)
