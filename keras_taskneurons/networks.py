"""Networks of task-based neurons and their linear counterparts.

One place builds the pair the paper compares: a multilayer perceptron of
[TaskNeuronDense][keras_taskneurons.TaskNeuronDense] layers (TN) and the narrowest
``Dense`` network (LN) of the same shape with at least as many parameters,
both with the same activation and seeded the same way. The command line's
``--compare`` and ``benchmarks/tabular.py`` use it.

>>> from keras_taskneurons import networks
>>> tn = networks.mlp("task", [16], 8, 1, formula="x**2 + x")
>>> widths = networks.matching_linear_widths([16], 8, 1, tn.count_params())
>>> ln = networks.mlp("linear", widths, 8, 1)
>>> ln.count_params() >= tn.count_params()
True
"""

import math

KINDS = ("task", "linear")


def mlp(kind, widths, n_features, n_outputs, formula=None, task="regression",
        activation="relu", seed=0, preprocessing=None, name=None, input_map=None,
        first_layer=None, **layer_options):
    """A multilayer perceptron of task-based (``kind="task"``) or ``Dense``
    (``"linear"``) hidden layers and a ``Dense`` head.

    Args:
        kind: ``"task"`` or ``"linear"``.
        widths: Hidden layer widths.
        n_features: Inputs.
        n_outputs: Outputs (classes for classification).
        formula: The task-based layers' formula (``kind="task"`` only).
        task: ``"regression"`` (linear head) or ``"classification"``
            (softmax head).
        activation: Hidden activation, the same for both kinds.
        seed: Set (``keras.utils.set_random_seed``) before any layer is
            built, so the initial weights are reproducible.
        preprocessing: Optional layer applied to the inputs first (for
            example a ``Normalization``).
        name: The model's name (default ``"<kind>_network"``).
        input_map: The search's ``input_map_``: the task-based network's
            first layer holds it and every layer gets its domain (as
            ``search.layer_factory()`` builds them); the linear network
            gets the same map as a ``Normalization`` layer first, so both
            see the same inputs.
        first_layer: Options for the first task-based layer only (the
            search's suggested ``interaction_rank``); with ``input_map``,
            on top of the options ``search.layer_factory()`` gives it
            (its bases at full scale, sized by their spread).
        **layer_options: More ``TaskNeuronDense`` arguments.

    Returns:
        A functional ``keras.Model``.
    """
    import keras

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got kind={kind!r}.")
    if kind == "task" and formula is None:
        raise ValueError("A task-based network needs a formula.")
    from keras_taskneurons.layers import layer_factory

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_features,), name="features")
    hidden = inputs if preprocessing is None else preprocessing(inputs)
    if kind == "task":
        if input_map is not None:  # the search's first layer, as its layer_factory() builds it
            from keras_taskneurons.search.base import first_layer_options

            first_layer = {**first_layer_options(layer_options), **(first_layer or {})}
        make = layer_factory(formula, input_map, first_layer, activation=activation,
                             **layer_options)
    elif input_map is not None:  # what the task network's linear basis sees
        center, scale = input_map.linear_map()
        hidden = keras.layers.Normalization(mean=center, variance=scale**2, name="input_map")(
            hidden)
    for index, width in enumerate(widths):
        if kind == "task":
            layer = make(width, first=index == 0, name=f"task_{index}")
        else:
            layer = keras.layers.Dense(width, activation=activation, name=f"dense_{index}")
        hidden = layer(hidden)
    head = "softmax" if task == "classification" else None
    outputs = keras.layers.Dense(n_outputs, activation=head, name="head")(hidden)
    return keras.Model(inputs, outputs, name=name or f"{kind}_network")


def linear_parameters(widths, n_features, n_outputs):
    """Parameters of a ``Dense`` MLP with these hidden widths."""
    total, previous = 0, n_features
    for width in list(widths) + [n_outputs]:
        total += previous * width + width
        previous = width
    return total


def matching_linear_widths(widths, n_features, n_outputs, target_parameters):
    """The hidden widths, scaled up together by 5 % steps, until the
    ``Dense`` MLP has at least ``target_parameters`` parameters."""
    scale = 1.0
    while True:
        scaled = [max(1, math.ceil(width * scale)) for width in widths]
        if linear_parameters(scaled, n_features, n_outputs) >= target_parameters:
            return scaled
        scale *= 1.05
