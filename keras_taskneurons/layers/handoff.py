"""Where the search's input map goes, checked when a model is built.

The search's ``input_map_`` belongs to the layer that reads the raw features
the search saw: ``make(units, first=True)`` (every factory method takes
``first``) builds it; every other call builds a layer without it, whatever
was built before. When a layer is called on a Keras tensor (a functional or
``Sequential`` model being built) two mistakes are caught:

- a layer holding an input map that reads the output of another layer
  holding one (the map applied twice): refused with a ``ValueError``;
- a layer a map-bearing factory built without ``first=True`` that reads
  the model's inputs directly (raw features without the map): a
  ``UserWarning`` naming the layer and the fix.

Layers called on plain arrays (eagerly, in a subclassed model) are not
checked: nothing says where their input came from.
"""

import warnings

import keras

HIDDEN = "hidden"
"""The mark ``layer_factory`` leaves on a layer it built without the
search's map although it holds one."""


def mark_hidden(layer):
    """Mark ``layer`` as built for inside a network (by a factory holding a
    map, without ``first=True``): reading the model's inputs is warned about."""
    layer._hand_off = HIDDEN
    return layer


def _producer(tensor):
    """The operation that produced the Keras tensor ``tensor`` (``None``
    for anything else)."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def _holds_map(layer):
    cell = getattr(layer, "cell", None)
    return getattr(layer, "input_map", None) is not None or (
        cell is not None and getattr(cell, "input_map", None) is not None)


def check_hand_off(layer, inputs):
    """Refuse a map applied twice and warn about a first layer without the
    map (module docstring), for ``layer`` called on ``inputs``."""
    producer = _producer(inputs)
    if producer is None:
        return
    if _holds_map(layer) and producer is not layer and _holds_map(producer):
        raise ValueError(
            f"Layer {layer.name!r} holds the search's input map, but it reads the output "
            f"of layer {producer.name!r}, which holds one too: the map would be applied "
            "twice. Only the layer that reads the raw features takes it "
            "(`make(units, first=True)`); build the others with `make(units)`."
        )
    if getattr(layer, "_hand_off", None) == HIDDEN and isinstance(
            producer, keras.layers.InputLayer):
        warnings.warn(
            f"Layer {layer.name!r} reads the model's inputs but was built without the "
            "search's input map (the factory holds one). If these are the raw features "
            "the search saw, build this layer with `first=True` "
            "(e.g. `make(units, first=True)`) so it maps them as the search did.",
            UserWarning,
            stacklevel=3,
        )


class HandOffMixin:
    """Runs ``check_hand_off()`` when the layer is called on a Keras
    tensor (before Keras's own ``__call__``)."""

    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs", kwargs.get("sequences"))
        if isinstance(inputs, keras.KerasTensor):
            check_hand_off(self, inputs)
        return super().__call__(*args, **kwargs)
