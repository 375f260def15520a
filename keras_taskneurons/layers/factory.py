"""``layer_factory``: task-neuron layers of one formula: dense, einsum,
convolutional and transposed-convolutional."""

import inspect

import keras

from keras_taskneurons.formula import as_formula
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers.conv import (
    TaskNeuronConv1D,
    TaskNeuronConv2D,
    TaskNeuronConv3D,
    check_data_format,
    check_padding,
)
from keras_taskneurons.layers.conv_transpose import (
    TaskNeuronConv1DTranspose,
    TaskNeuronConv2DTranspose,
    TaskNeuronConv3DTranspose,
)
from keras_taskneurons.layers.dense import TaskNeuronDense, check_parameterization
from keras_taskneurons.layers.einsum import TaskNeuronEinsumDense
from keras_taskneurons.layers.embedding import TaskNeuronEmbedding
from keras_taskneurons.layers.handoff import mark_hidden
from keras_taskneurons.layers.options import LAYER_OPTIONS, invalid
from keras_taskneurons.layers.recurrent import TaskNeuronGRU, TaskNeuronLSTM, TaskNeuronSimpleRNN

KINDS = (
    TaskNeuronDense, TaskNeuronEinsumDense, TaskNeuronConv1D, TaskNeuronConv2D, TaskNeuronConv3D,
    TaskNeuronConv1DTranspose, TaskNeuronConv2DTranspose, TaskNeuronConv3DTranspose,
    TaskNeuronSimpleRNN, TaskNeuronLSTM, TaskNeuronGRU, TaskNeuronEmbedding,
)
"""The layer kinds a factory builds."""


_BASE_LAYER_ARGUMENTS = ("dtype", "trainable", "autocast")


def _activation(name):
    def check(value):
        try:
            return keras.activations.get(value)
        except (ValueError, TypeError) as error:
            raise invalid(name, f"what keras.activations.get() reads ({error})", value,
                          type(error)) from None
    return check


DEFAULT_CHECKS = {
    "activation": _activation("activation"),
    "recurrent_activation": _activation("recurrent_activation"),
    "parameterization": check_parameterization,
    "padding": check_padding,
    "data_format": check_data_format,
    **{name: option.check for name, option in LAYER_OPTIONS.items()},
}
"""The checks a factory runs on its defaults when it is made (a bad value
fails there, not at the first layer); the other arguments are checked by
the layer a call builds."""


def _check_defaults(options):
    for name, value in options.items():
        if name in DEFAULT_CHECKS:
            DEFAULT_CHECKS[name](value)


def _accepts(cls):
    parameters = inspect.signature(cls.__init__).parameters
    return set(parameters) | set(_BASE_LAYER_ARGUMENTS)


class TaskNeuronLayerFactory:
    """Builds task-neuron layers that share one formula, its domain and
    defaults.

    Returned by [layer_factory][keras_taskneurons.layer_factory]. Call it (or ``dense``) with
    ``units`` (and any keyword overrides) for a [TaskNeuronDense][keras_taskneurons.TaskNeuronDense];
    ``einsum_dense`` takes ``equation, output_shape``; ``embedding`` takes ``dim``; ``simple_rnn``,
    ``lstm`` and ``gru`` take ``units``; ``conv1d``,
    ``conv2d``, ``conv3d`` and their ``*_transpose`` take ``filters,
    kernel_size`` (and overrides). Each kind takes the defaults it has
    (``padding`` goes to the convolutions only).

    With an ``input_map`` (the search's ``input_map_``), the layer built
    with ``first=True`` holds it: it maps the raw features to the values
    the formula was searched on and computes the searched bases there.
    Place it where the raw features come in, as you would a
    ``Normalization`` layer. Every layer gets the map's domain as its
    basis domain, so the others bring what they see into that range by
    running statistics (``basis_range="auto"``). ``first_layer`` (a dict)
    holds options for the ``first=True`` layers only (the search's
    first-layer ``basis_scale`` and suggested ``interaction_rank``); a
    call's overrides win over both.

    The factory keeps no state: a call gives the same layer whatever was
    built before, so one factory serves several models. Building a model
    checks the hand-off (``keras_taskneurons.layers.handoff``): a map
    applied twice is refused, and a layer built without ``first=True``
    that reads the model's inputs is warned about.
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
        accepted = set().union(*(_accepts(c) for c in KINDS))
        for what, options in (("defaults", defaults), ("first_layer options", first_layer)):
            unknown = sorted(set(options) - accepted)
            if unknown:
                raise TypeError(
                    f"layer_factory() got {what} no task-neuron layer takes: {unknown}")
        self.defaults = defaults
        self.first_layer = first_layer
        for options in (defaults, first_layer):
            _check_defaults(options)

    @staticmethod
    def _own(cls, options):
        """The options ``cls`` takes (the factory's defaults serve every kind)."""
        accepted = _accepts(cls)
        return {k: v for k, v in options.items() if k in accepted or k == "parameterization"}

    def _options(self, cls, overrides, channels=False, first=False):
        """The defaults ``cls`` takes, the overrides and, for the first
        layer (``first=True``), its options and the map: a convolution's
        must be one for every channel (``channels=True``); a sequence
        layer (``channels="sequence"``) takes a map searched on flattened
        sequences (uniform: one map for every step and feature) as one
        channel, another as it is (one column per feature)."""
        if not isinstance(first, bool):
            raise TypeError(
                f"Received an invalid value for `first`, expected a bool. Received: first={first!r}")
        options = {**self._own(cls, self.defaults),
                   **(self._own(cls, self.first_layer) if first else {}), **overrides}
        if first and self.input_map is not None and "input_map" not in overrides:
            mapped = self.input_map
            if channels is True or (channels == "sequence" and mapped.is_uniform):
                mapped = mapped.uniform()
            options["input_map"] = mapped
        return options

    def _mark(self, layer, first):
        """Leave the hand-off mark on a layer built without the map the
        factory holds (see ``handoff``)."""
        return mark_hidden(layer) if self.input_map is not None and not first else layer

    def __call__(self, units, first=False, **overrides):
        """A [TaskNeuronDense][keras_taskneurons.TaskNeuronDense]; ``first=True`` for the layer that
        reads the raw features (it holds the map and the first-layer
        options)."""
        options = self._options(TaskNeuronDense, overrides, first=first)
        return self._mark(TaskNeuronDense(units, self.formula, **options), first)

    def dense(self, units, first=False, **overrides):
        """A [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] (the same as calling the factory)."""
        return self(units, first=first, **overrides)

    def einsum_dense(self, equation, output_shape, first=False, **overrides):
        """A [TaskNeuronEinsumDense][keras_taskneurons.TaskNeuronEinsumDense] with the factory's formula and
        defaults (the map applies along the equation's first summed axis)."""
        options = self._options(TaskNeuronEinsumDense, overrides, "sequence", first)
        options.pop("parameterization", None)
        return self._mark(
            TaskNeuronEinsumDense(equation, output_shape, formula=self.formula, **options), first)

    def embedding(self, dim, first=False, **overrides):
        """A [TaskNeuronEmbedding][keras_taskneurons.TaskNeuronEmbedding] of the
        factory's formula: every input in copies at trainable inner
        constants; ``first=True`` where the raw features come in (it holds
        the map)."""
        options = self._options(TaskNeuronEmbedding, overrides, first=first)
        options.pop("parameterization", None)
        return self._mark(TaskNeuronEmbedding(dim, formula=self.formula, **options), first)

    def _recurrent(self, cls, units, first, overrides):
        options = self._options(cls, overrides, "sequence", first)
        if options.pop("parameterization", "terms") != "terms":
            raise ValueError("Task-based recurrent layers have the 'terms' parameterization only.")
        if options.get("basis_range") == "running" and "basis_range" not in overrides:
            options.pop("basis_range")  # a default for the dense layers; cells clip
        return self._mark(cls(units, formula=self.formula, **options), first)

    def simple_rnn(self, units, first=False, **overrides):
        """A ``TaskNeuronSimpleRNN`` with the factory\'s formula and defaults."""
        return self._recurrent(TaskNeuronSimpleRNN, units, first, overrides)

    def lstm(self, units, first=False, **overrides):
        """A ``TaskNeuronLSTM`` with the factory\'s formula and defaults."""
        return self._recurrent(TaskNeuronLSTM, units, first, overrides)

    def gru(self, units, first=False, **overrides):
        """A ``TaskNeuronGRU`` with the factory\'s formula and defaults."""
        return self._recurrent(TaskNeuronGRU, units, first, overrides)

    def _conv(self, cls, filters, kernel_size, first, overrides):
        options = self._options(cls, overrides, True, first)
        parameterization = options.pop("parameterization", "terms")
        if parameterization != "terms":
            raise ValueError(
                "Task-based convolutions have the 'terms' parameterization only. "
                f"Received: parameterization={parameterization!r}"
            )
        return self._mark(cls(filters, kernel_size, formula=self.formula, **options), first)

    def conv1d(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv1D`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv1D, filters, kernel_size, first, overrides)

    def conv2d(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv2D`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv2D, filters, kernel_size, first, overrides)

    def conv3d(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv3D`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv3D, filters, kernel_size, first, overrides)

    def conv1d_transpose(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv1DTranspose`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv1DTranspose, filters, kernel_size, first, overrides)

    def conv2d_transpose(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv2DTranspose`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv2DTranspose, filters, kernel_size, first, overrides)

    def conv3d_transpose(self, filters, kernel_size, first=False, **overrides):
        """A ``TaskNeuronConv3DTranspose`` with the factory\'s formula and defaults."""
        return self._conv(TaskNeuronConv3DTranspose, filters, kernel_size, first, overrides)

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
        formula: A [Formula][keras_taskneurons.Formula] or formula string.
        input_map: ``None`` or the search's ``input_map_``: the layer
            built with ``first=True`` holds it (see
            ``TaskNeuronLayerFactory``).
        first_layer: ``None`` or a dict of options for the ``first=True``
            layers only (``search.layer_factory()`` passes its first-layer
            ``basis_scale`` and suggested ``interaction_rank`` there).
        **defaults: Keyword arguments of [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] applied to
            every layer (``activation``, ``parameterization``, ...).

    Returns:
        A callable ``make(units, first=False, **overrides)``.

    >>> import keras, keras_taskneurons
    >>> make = keras_taskneurons.layer_factory("x**2 + x", activation="relu")
    >>> model = keras.Sequential(
    ...     [keras.Input((8,)), make(16, first=True), make(1, activation=None)])
    >>> model.output_shape
    (None, 1)
    >>> make.conv2d(8, 3, padding="same").kernel_size
    (3, 3)
    """
    return TaskNeuronLayerFactory(formula, input_map, first_layer, **defaults)
