"""``prune``: drop the basis blocks a trained model does not need.

For every [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] layer, bases and
interaction ranks are tried in the order of their share of the layer's
output on the given data
(``output_shares()``), smallest first:
a part is removed when the model's predictions on that data stay
within ``tolerance`` of the unpruned model's (the root mean square change
over the predictions' standard deviation, per output). The result is a new model whose
pruned layers are smaller layers (their formula is the sum of the bases
kept; ``x`` dropped means ``linear_basis=False``), with the weights of the
kept blocks; the saved model shrinks accordingly.

Layers left as they are: those with an enabled LoRA adapter (its update
mixes the blocks), those quantized (``quantize("int8")``: prune the float
model, then quantize) and any layer that is not a ``TaskNeuronDense``. Every
layer keeps at least one basis; a removed interaction rank lowers the
layer's ``interaction_rank``.
"""

import keras
import numpy as np

from keras_taskneurons.layers.basis import LINEAR
from keras_taskneurons.layers.dense import TaskNeuronDense
from keras_taskneurons.layers.readout import output_shares

_GRAPH_MODELS = tuple(t for t in (keras.Sequential, getattr(keras, "Function", None)) if t)
"""Sequential and functional models (``keras.Function``: a functional model's
base), which ``keras.models.clone_model`` rebuilds layer by layer."""


def _prunable(layer):
    return (isinstance(layer, TaskNeuronDense) and layer.built and not layer.lora_enabled
            and layer.quantization_mode is None
            and (len(layer.bases) > 1 or layer.interaction_rank > 0))


RANK = "interaction rank "
"""How [prune][keras_taskneurons.prune] names an interaction rank among the removed parts."""


def _rank_of(part):
    return int(part[len(RANK):]) if part.startswith(RANK) else None


def _blocks(layer):
    """Per basis, the variables holding its weights and constants."""
    d = layer.input_dim
    blocks = {}
    for k, basis in enumerate(layer.matmul_bases):
        constants = layer.input_constants[k] or []
        blocks[str(basis)] = ("kernel", k, d, list(constants))
    for t, basis in enumerate(layer.parametric_bases):
        blocks[str(basis)] = ("term", t, d, list(layer.term_constants[t]))
    return blocks


def _zeroed(layer, basis):
    """Set the weights of ``basis`` (or of an interaction rank: its ``U_k``
    and ``a_k``, so the product is zero) to zero in place; return an undo."""
    rank = _rank_of(basis)
    if rank is not None:
        kernel, bias = layer.interaction_kernel, layer.interaction_bias
        saved = (keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(bias))
        columns = slice(rank * layer.units, (rank + 1) * layer.units)
        changed = [saved[0].copy(), saved[1].copy()]
        changed[0][:, columns] = 0.0
        changed[1][columns] = 0.0
        kernel.assign(changed[0])
        bias.assign(changed[1])
        return lambda: (kernel.assign(saved[0]), bias.assign(saved[1]))
    kind, index, d, _ = _blocks(layer)[str(basis)]
    if kind == "kernel":
        saved = np.array(keras.ops.convert_to_numpy(layer.kernel))
        changed = saved.copy()
        changed[index * d:(index + 1) * d] = 0.0
        layer.kernel.assign(changed)
        return lambda: layer.kernel.assign(saved)
    variable = layer.term_kernels[index]
    saved = keras.ops.convert_to_numpy(variable)
    variable.assign(np.zeros_like(saved))
    return lambda: variable.assign(saved)


def _deviation(reference, predicted):
    """The root mean square change over the spread (standard deviation) of
    the reference predictions, each output on its own scale."""
    spread = reference.std(axis=0)
    scale = np.where(spread > 0, spread, 1.0)
    return float(np.sqrt(np.mean(((predicted - reference) / scale) ** 2)))
    return float(np.sqrt(np.mean((predicted - reference) ** 2))) / scale


def _predict(model, X, batch_size):
    outputs = model.predict(X, batch_size=batch_size, verbose=0)
    if isinstance(outputs, (list, tuple)):
        return np.concatenate([np.reshape(o, (len(X), -1)) for o in outputs], axis=1).astype(np.float64)
    return np.reshape(outputs, (len(X), -1)).astype(np.float64)


def layer_inputs(model, layers, X, batch_size=256):
    """What each layer receives on ``X`` (for its basis shares)."""
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    values = probe.predict(X, batch_size=batch_size, verbose=0)
    return values if len(layers) > 1 else [values]


def _smaller_config(layer, kept, ranks):
    config = layer.get_config()
    for key in ("bases", "format_version"):
        config.pop(key, None)
    others = [b for b in kept if b != LINEAR]
    config["linear_basis"] = LINEAR in kept
    config["formula"] = " + ".join(str(b) for b in others) if others else "x"
    config["interaction_rank"] = len(ranks)
    return config


def _copy_kept(old, new, ranks):
    """The kept blocks' weights (rescaled to the new layer's factors), the
    kept interaction ranks, the bias and the running statistics, from
    ``old`` into ``new``."""
    old_blocks, new_blocks = _blocks(old), _blocks(new)
    old_factor = dict(zip(map(str, old.bases), old.multipliers))
    new_factor = dict(zip(map(str, new.bases), new.multipliers))
    kernel = None if new.kernel is None else np.zeros(tuple(new.kernel.shape))
    old_kernel = None if old.kernel is None else keras.ops.convert_to_numpy(old.kernel)
    for name, (kind, index, d, constants) in new_blocks.items():
        old_kind, old_index, _, old_constants = old_blocks[name]
        ratio = np.reshape(np.asarray(old_factor[name] / new_factor[name]), (-1, 1))
        if kind == "kernel":
            kernel[index * d:(index + 1) * d] = old_kernel[old_index * d:(old_index + 1) * d] * ratio
        else:
            new.term_kernels[index].assign(
                keras.ops.convert_to_numpy(old.term_kernels[old_index]) * ratio)
        for target, source in zip(constants, old_constants):
            target.assign(keras.ops.convert_to_numpy(source))
    if kernel is not None:
        new.kernel.assign(kernel)
    if ranks:
        units, rank = old.units, old.interaction_rank
        columns = [slice(k * units, (k + 1) * units) for k in ranks]
        columns += [slice((rank + k) * units, (rank + k + 1) * units) for k in ranks]
        kernel = keras.ops.convert_to_numpy(old.interaction_kernel)
        bias = keras.ops.convert_to_numpy(old.interaction_bias)
        new.interaction_kernel.assign(np.concatenate([kernel[:, c] for c in columns], axis=1))
        new.interaction_bias.assign(np.concatenate([bias[c] for c in columns]))
    for name in ("bias", "range_mean", "range_variance", "range_count"):
        target, source = getattr(new, name, None), getattr(old, name, None)
        if target is not None and source is not None:
            target.assign(keras.ops.convert_to_numpy(source))


def prune(model, X, tolerance=0.01, batch_size=256, verbose=False):
    """A smaller copy of ``model`` without the basis blocks it does not need.

    Args:
        model: A built Keras ``Sequential`` or functional model.
        X: Data the predictions are kept on (a numpy array, as the model
            takes; use held-out or training rows).
        tolerance: The largest root mean square change of the predictions on
            ``X``, relative to their standard deviation (0.01: one percent
            of their spread). Fine-tune the pruned model to win back more.
        batch_size: For the predictions.
        verbose: Print each removed part.

    Returns:
        ``(pruned_model, removed)``: the new model (the given one is left as
        it was) and a dict ``{layer name: [removed parts]}`` (basis strings,
        ``"interaction rank k"``).

    Raises:
        TypeError: for a model that is not ``Sequential`` or functional.
        ValueError: for a negative or non-finite ``tolerance``.

    For example, ``pruned, removed = keras_taskneurons.prune(model, X_val)``,
    then ``pruned.save("pruned.keras")``.
    """
    if not isinstance(model, _GRAPH_MODELS) or not isinstance(model, keras.Model):
        raise TypeError(
            "prune() takes a built Sequential or functional Keras model; "
            f"received {type(model).__name__}.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)) or not (
            np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(
            f"`tolerance` must be a non-negative finite number. Received: tolerance={tolerance!r}")
    X = np.asarray(X)
    if len(X) == 0:
        raise ValueError("prune() needs at least one row of data; received none.")
    reference = _predict(model, X, batch_size)
    layers = [layer for layer in model.layers if _prunable(layer)]
    removed = {layer.name: [] for layer in layers}
    undo_all = []
    if layers:
        shares = [output_shares(layer, np.reshape(values, (-1, layer.input_dim)))
                  for layer, values in zip(layers, layer_inputs(model, layers, X, batch_size))]
        order = sorted(
            ((share, position, basis) for position, layer_shares in enumerate(shares)
             for basis, share in layer_shares.items()),
            key=lambda item: (item[0], item[1]))
        for _, position, basis in order:
            layer = layers[position]
            gone = [part for part in removed[layer.name] if _rank_of(part) is None]
            if _rank_of(basis) is None and len(layer.bases) - len(gone) <= 1:
                continue  # every layer keeps a basis
            undo = _zeroed(layer, basis)
            if _deviation(reference, _predict(model, X, batch_size)) <= tolerance:
                removed[layer.name].append(basis)
                undo_all.append(undo)
                if verbose:
                    print(f"prune: {layer.name}: removed {basis}", flush=True)
            else:
                undo()
    try:
        pruned = _rebuild(model, layers, removed)
    finally:
        for undo in reversed(undo_all):  # the given model as it was
            undo()
    return pruned, {name: bases for name, bases in removed.items() if bases}


def _rebuild(model, layers, removed):
    """The model with the pruned layers rebuilt smaller, every weight copied."""
    changed = {layer.name: layer for layer in layers if removed[layer.name]}

    def _kept_ranks(layer):
        gone = {_rank_of(part) for part in removed[layer.name]}
        return [k for k in range(layer.interaction_rank) if k not in gone]

    def clone(layer):
        if layer.name in changed:
            kept = [b for b in layer.bases if str(b) not in removed[layer.name]]
            return type(layer).from_config(_smaller_config(layer, kept, _kept_ranks(layer)))
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, copy.layers):
        if old.name in changed:
            _copy_kept(old, new, _kept_ranks(old))
        elif old.quantization_mode is not None:  # the layer's own order, as a file has it
            store = {}
            old.save_own_variables(store)
            new.load_own_variables(store)
        elif old.weights:
            new.set_weights(old.get_weights())
    return copy

