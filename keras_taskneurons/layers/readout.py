"""What a trained task-neuron layer computes: its learned univariate
functions and how much of its output each basis carries.

Unit ``j`` of a [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] adds, for every
input ``i``, one univariate function of the value ``x`` it receives there:

    ``φ_ij(x) = Σ_k W_k[i, j] · m_k · g_k(v_k,i(x))``

where ``v_k,i`` is the affine map the layer applies before basis ``k`` (the
input map, standardization for ``x``, the running statistics) and ``g_k``
has its trained constants where the parameterization trains them.
``learned_functions()`` returns these as [Formula][keras_taskneurons.Formula]
objects of the layer's own input; they are exact where the values the bases
see lie inside the basis domain (the layer clips beyond it) and leave out the
bias and any interaction term (which are not functions of one input).

A layer whose input map warps its columns (``scaling="quantile"``) gives
its bases ``q_i(a_i(x))``, a piecewise-linear table of the value, which no
formula of the function set writes: ``learned_functions()`` and
``average_functions()`` refuse such a layer, and ``function_values()``
(on a grid), ``contributions()`` and ``seen_ranges()`` read it.
"""

import numpy as np
from keras import ops

from keras_taskneurons.formula import Formula
from keras_taskneurons.columns import apply_warp, invert_warp
from keras_taskneurons.formula import tree as trees
from keras_taskneurons.layers.basis import LINEAR, RUNNING_MOMENTUM, RUNNING_SPREAD


def _affine_tree(scale, shift):
    """The tree of ``scale * x + shift`` (exact, without needless nodes)."""
    node = trees.X
    if scale != 1.0:
        node = trees.apply_primitive("mul", trees.constant(scale), node)
    if shift != 0.0:
        node = trees.apply_primitive("add", node, trees.constant(shift))
    return node


def _substitute(tree, inner):
    """``tree`` with ``x`` replaced by the tree ``inner``."""
    if tree[0] == "x":
        return inner
    if trees.is_const(tree):
        return tree
    return trees.apply_primitive(tree[0], *(_substitute(a, inner) for a in tree[1:]))


def input_maps(layer):
    """Per input, the affine maps ``(scale, shift)`` from the value the layer
    receives to what the linear basis sees and to what the other bases see
    (before clipping): two arrays of shape ``(input_dim, 2)``."""
    d = layer.input_dim
    ones, zeros = np.ones(d), np.zeros(d)
    linear = np.stack([ones, zeros], axis=1)
    other = linear.copy()
    if layer.input_map is not None:
        m = layer.input_map
        center = np.broadcast_to(np.asarray(m.center, np.float64), (d,))
        scale = np.broadcast_to(np.asarray(m.scale, np.float64), (d,))
        other = np.stack([1.0 / scale, -center / scale], axis=1)
        lin_center, lin_scale = (np.broadcast_to(np.asarray(v, np.float64), (d,))
                                 for v in m.linear_map())
        linear = np.stack([1.0 / lin_scale, -lin_center / lin_scale], axis=1)
    if layer.basis_range == "running" and getattr(layer, "range_mean", None) is not None:
        count = float(ops.convert_to_numpy(layer.range_count))
        if count > 0:
            correction = max(1.0 - RUNNING_MOMENTUM ** count, 1e-12)
            mean = ops.convert_to_numpy(layer.range_mean).astype(np.float64) / correction
            variance = ops.convert_to_numpy(layer.range_variance).astype(np.float64) / correction
        else:
            mean, variance = zeros, ones
        low, high = layer.basis_bounds(by_column=False)
        factor = (high - low) / (2 * RUNNING_SPREAD) / np.sqrt(variance + 1e-6)
        # v = (u - mean) * factor + mid, u = a x + b
        a, b = other[:, 0], other[:, 1]
        other = np.stack([a * factor, (b - mean) * factor + (low + high) / 2], axis=1)
    return linear, other


def _block_weights(layer):
    """Per basis, in kernel order: ``(basis, multipliers (input_dim,),
    weights (input_dim, units), constants)``; ``constants`` is ``None`` (the formula's own), or
    the trained constants as arrays of shape ``(input_dim,)``
    (``"input_constants"``) or ``(input_dim, units)`` (``"constants"``)."""
    d, units = layer.input_dim, layer.units

    def arrays(variables):
        return [ops.convert_to_numpy(v).astype(np.float64) for v in variables]

    blocks, factors = [], layer.input_multipliers(d)
    if layer.kernel is not None:
        kernel = ops.convert_to_numpy(layer.kernel_value("float32")).astype(np.float64)
        for k, basis in enumerate(layer.matmul_bases):
            values = layer.input_constants[k]
            blocks.append((basis, factors[k], kernel[k * d:(k + 1) * d],
                           None if values is None else arrays(values)))
    offset = len(layer.matmul_bases)
    for index, basis in enumerate(layer.parametric_bases):
        weights = ops.convert_to_numpy(layer.term_kernels[index]).astype(np.float64)
        blocks.append((basis, factors[offset + index], weights.reshape(d, units),
                       arrays(layer.term_constants[index])))
    return blocks


def _function(blocks, linear_maps, other_maps, i, weight_of, constants_of):
    """The formula ``Σ_k weight_of(k)·m_k·g_k(v_k,i(x))`` of input ``i``
    (``None`` when every weight is zero)."""
    total = None
    for k, (basis, multiplier, _, constants) in enumerate(blocks):
        weight = float(weight_of(k)) * float(multiplier[i])
        if weight == 0.0:
            continue
        shaped = basis if constants is None else basis.with_constants(constants_of(k))
        scale, shift = (linear_maps if basis == LINEAR else other_maps)[i]
        term = trees.apply_primitive(
            "mul", trees.constant(weight),
            _substitute(shaped.tree, _affine_tree(float(scale), float(shift))))
        total = term if total is None else trees.apply_primitive("add", total, term)
    return None if total is None else Formula._from_tree(total)


def learned_functions(layer):
    """``[unit][input]``: the univariate function unit ``j`` applies to input
    ``i``'s value, as a [Formula][keras_taskneurons.Formula] of the value the
    layer receives (module docstring; refused where the input map warps);
    ``None`` where every weight of the pair is zero."""
    _check_built(layer)
    _check_formulas(layer)
    maps = input_maps(layer)
    blocks = _block_weights(layer)
    return [
        [_function(blocks, *maps, i, lambda k: blocks[k][2][i, j],
                   lambda k: [c[i] if c.ndim == 1 else c[i, j] for c in blocks[k][3]])
         for i in range(layer.input_dim)]
        for j in range(layer.units)
    ]


def average_functions(layer):
    """Per input, the function the layer's units apply to it on average
    (``mean_j f[j][i]``, one formula of the same form: the weights averaged
    over the units); ``None`` where that average is zero. Not defined for
    ``parameterization="constants"``, whose constants differ per unit."""
    _check_built(layer)
    _check_formulas(layer)
    if layer.parametric_bases:
        raise ValueError(
            f"Layer {layer.name!r} (parameterization='constants') has constants per "
            "unit: the average of its functions is not one formula of their form. "
            "Read learned_functions() instead.")
    maps = input_maps(layer)
    blocks = _block_weights(layer)
    return [
        _function(blocks, *maps, i, lambda k: blocks[k][2][i].mean(),
                  lambda k: [c[i] for c in blocks[k][3]])
        for i in range(layer.input_dim)
    ]


def seen_ranges(layer):
    """Per input, ``(low, high)`` of the values the layer receives there
    whose bases lie inside their domain (the search's per-column domain, or
    the basis domain through the running statistics): the range where
    ``learned_functions()`` is exact and where the layer has seen its
    data. Two arrays of shape ``(input_dim,)``."""
    _check_built(layer)
    _, other = input_maps(layer)
    low, high = (np.broadcast_to(np.asarray(v, np.float64), (layer.input_dim,))
                 for v in layer.basis_bounds())
    scale, shift = other[:, 0], other[:, 1]
    rows = _warp_rows(layer)
    if rows is not None:  # back through the warp to the standardized values
        low, high = (invert_warp(v, *rows) for v in (low, high))
    ends = np.stack([(low - shift) / scale, (high - shift) / scale])
    return ends.min(axis=0), ends.max(axis=0)


def function_values(layer, grids):
    """``φ_ij`` on a grid per input: ``grids`` of shape ``(input_dim,
    points)`` (values the layer receives), an array of shape
    ``(input_dim, points, units)``; numeric twin of
    ``learned_functions()`` (the same weights, maps and constants)."""
    _check_built(layer)
    grids = np.asarray(grids, np.float64)
    if grids.ndim != 2 or grids.shape[0] != layer.input_dim:
        raise ValueError(
            f"grids must have shape (input_dim={layer.input_dim}, points). "
            f"Received: shape={grids.shape}")
    linear, other = input_maps(layer)
    blocks = _block_weights(layer)
    values = np.zeros(grids.shape + (layer.units,))
    rows = _warp_rows(layer)
    for i, grid in enumerate(grids):
        for basis, multiplier, weights, constants in blocks:
            scale, shift = (linear if basis == LINEAR else other)[i]
            v = scale * grid + shift
            if basis != LINEAR and rows is not None:
                v = apply_warp(v[:, None], rows[0][i:i + 1], rows[1][i:i + 1])[:, 0]
            if constants is None or constants[0].ndim == 1:
                shaped = basis if constants is None else basis.with_constants(
                    [c[i] for c in constants])
                values[i] += multiplier[i] * np.outer(shaped.evaluate(v), weights[i])
            else:  # "constants": each unit its own
                for j in range(layer.units):
                    g = basis.with_constants([c[i, j] for c in constants]).evaluate(v)
                    values[i, :, j] += multiplier[i] * weights[i, j] * g
    return values


def _warp_rows(layer):
    """``(knots, values)`` of the layer's input warp, one row per input
    (a one-column map's row repeated), or ``None`` without a warp."""
    m = layer.input_map
    if m is None or m.warp_knots is None:
        return None
    shape = (layer.input_dim, m.warp_knots.shape[1])
    return np.broadcast_to(m.warp_knots, shape), np.broadcast_to(m.warp_values, shape)


def _warped(layer, v):
    """``v`` (..., input_dim), the standardized values ``input_maps()``
    gives the bases, through the layer's input warp (itself without one)."""
    rows = _warp_rows(layer)
    return v if rows is None else apply_warp(v, *rows)


def _check_formulas(layer):
    """Refuse formulas of a layer whose bases see a warped input."""
    if _warp_rows(layer) is not None:
        raise ValueError(
            f"Layer {layer.name!r} warps its inputs (input map scaling="
            f"{layer.input_map.scaling!r}): its bases see a piecewise-linear table of each "
            "input, which no formula writes. Read function_values() on a grid instead.")


def _check_built(layer):
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built: call it on data (or build it) "
            "before reading what it learned.")


def _check_data(layer, x):
    _check_built(layer)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != layer.input_dim:
        raise ValueError(
            f"Layer {layer.name!r} takes inputs of {layer.input_dim} features; "
            f"received data of shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"The data for layer {layer.name!r} holds NaN or infinite values.")
    return x


def contributions(layer, x, rows=4096):
    """Per basis, in kernel order, its term of the layer's pre-activation
    output on ``x`` (``(n, units)`` arrays, float64): the terms, the bias and
    any interaction term add up to what the layer computes before its
    activation (inside the basis domain; clipping applied as the layer
    does)."""
    x = _check_data(layer, x)
    linear_maps, other_maps = input_maps(layer)
    low, high = layer.basis_bounds()
    terms = []
    for basis, multiplier, weights, constants in _block_weights(layer):
        maps = linear_maps if basis == LINEAR else other_maps
        total = np.zeros((len(x), layer.units))
        for start in range(0, len(x), rows):
            v = x[start:start + rows] * maps[:, 0] + maps[:, 1]
            if basis != LINEAR:
                v = _warped(layer, v)
            if basis != LINEAR and layer.basis_range is not None:
                v = np.clip(v, low, high)
            elif basis == LINEAR and layer.clips_linear():
                v = np.clip(v, *layer.input_map.linear_domain())
            if constants is None:
                total[start:start + rows] = multiplier * basis.evaluate(v) @ weights
            elif constants[0].ndim == 1:  # one constant vector over the inputs
                values = multiplier * basis.evaluate_with_constants(v, constants)
                total[start:start + rows] = values @ weights
            else:  # constants per input and unit
                values = multiplier[:, None] * basis.evaluate_with_constants(v[:, :, None],
                                                                             constants)
                total[start:start + rows] = np.einsum("nij,ij->nj", values, weights)
        terms.append(total)
    return terms


def interaction_contributions(layer, x):
    """Per rank ``k`` of the interaction term, its part
    ``m (U_k z + a_k) ⊙ (V_k z + b_k)`` of the layer's pre-activation output
    on ``x`` (``(n, units)`` arrays, float64; none without interactions)."""
    rank = layer.interaction_rank
    if not rank:
        return []
    x = _check_data(layer, x)
    linear_maps, other_maps = input_maps(layer)
    m = layer.input_map
    if layer.basis_range is None:
        z = x * linear_maps[:, 0] + linear_maps[:, 1]
    else:  # bounded as the layer's term sees it (_interaction_input)
        z = np.clip(_warped(layer, x * other_maps[:, 0] + other_maps[:, 1]),
                    *layer.basis_bounds())
        if m is not None and m.u_mean is not None:  # in z's units
            z = (z - np.asarray(m.u_mean, np.float64)) / np.asarray(m.u_std, np.float64)
    kernel = ops.convert_to_numpy(layer.interaction_kernel).astype(np.float64)
    bias = ops.convert_to_numpy(layer.interaction_bias).astype(np.float64)
    both = z @ kernel + bias
    pieces = np.split(both, 2 * rank, axis=1)
    return [layer.interaction_scale * pieces[k] * pieces[rank + k] for k in range(rank)]


def _rms_of_centred(term):
    return float(np.sqrt(np.mean((term - term.mean(axis=0)) ** 2)))


def output_shares(layer, x):
    """``{part: share}`` over the bases (named by their strings) and the
    interaction ranks (``"interaction rank k"``), summing to 1."""
    x = _check_data(layer, x)
    parts = dict(zip(map(str, layer.bases), map(_rms_of_centred, contributions(layer, x))))
    for k, term in enumerate(interaction_contributions(layer, x)):
        parts[f"interaction rank {k}"] = _rms_of_centred(term)
    total = sum(parts.values()) or 1.0
    return {name: size / total for name, size in parts.items()}
