"""Interaction terms (``interaction_rank``) in every task-neuron layer."""

import keras
import numpy as np
import pytest

import keras_taskneurons as tn
from helpers import run_layer_checks, to_numpy

KINDS = [
    pytest.param(tn.TaskNeuronDense, dict(units=4), (5, 3), id="dense"),
    pytest.param(tn.TaskNeuronConv2D, dict(filters=4, kernel_size=3), (2, 6, 6, 3), id="conv2d"),
    pytest.param(tn.TaskNeuronConv1DTranspose, dict(filters=4, kernel_size=3, strides=2),
                 (2, 6, 3), id="conv1d_transpose"),
    pytest.param(tn.TaskNeuronEinsumDense,
                 dict(equation="abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de"),
                 (2, 5, 3), id="einsum"),
    pytest.param(tn.TaskNeuronLSTM, dict(units=4), (2, 5, 3), id="lstm"),
    pytest.param(tn.TaskNeuronGRU, dict(units=4, return_sequences=True), (2, 5, 3), id="gru"),
]


def _copy_shared_weights(source, target):
    """``target``'s weights from the same-named weights of ``source``."""
    by_name = {v.path.split("/")[-1]: v for v in source.weights}
    for variable in target.weights:
        variable.assign(by_name[variable.path.split("/")[-1]])


@pytest.mark.parametrize("cls, kwargs, shape", KINDS)
def test_a_layer_with_interactions_starts_as_the_layer_without(cls, kwargs, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    with_rank = cls(**kwargs, formula="x**2 + sin(x)", interaction_rank=2)
    got = to_numpy(with_rank(x))
    without = cls(**kwargs, formula="x**2 + sin(x)")
    without(x)
    assert len(with_rank.weights) == len(without.weights) + 2
    _copy_shared_weights(with_rank, without)
    np.testing.assert_array_equal(got, to_numpy(without(x)))
    # The U blocks are drawn, the V blocks and offsets are zeros; with V
    # moved the term shows, so the comparison above could fail.
    cell = getattr(with_rank, "cell", with_rank)
    kernel = to_numpy(cell.interaction_kernel)
    halves = np.split(kernel, 2, axis=cell_kernel_axis(cell))
    assert np.any(halves[0] != 0) and not np.any(halves[1])
    assert not np.any(to_numpy(cell.interaction_bias))
    cell.interaction_bias.assign(np.ones(cell.interaction_bias.shape, "float32"))
    assert np.max(np.abs(to_numpy(with_rank(x)) - got)) > 1e-3


def cell_kernel_axis(layer):
    """The kernel axis holding the interaction's blocks (as the layer builds it)."""
    if isinstance(layer, tn.TaskNeuronEinsumDense):
        return 1  # "cde": d, the first output axis
    return -2 if isinstance(layer, tn.TaskNeuronConv1DTranspose) else -1


def test_the_fused_term_equals_a_loop_over_units_and_ranks():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3)).astype("float32")
    layer = tn.TaskNeuronDense(5, "x**2", interaction_rank=3, basis_scale=0.2, basis_range=None)
    layer(x)
    for variable in layer.weights:
        if variable.trainable:
            variable.assign(rng.normal(size=variable.shape).astype("float32"))
    kernel, offsets = to_numpy(layer.interaction_kernel), to_numpy(layer.interaction_bias)
    features = np.concatenate([x, 0.2 * x**2], axis=1)
    expected = features @ to_numpy(layer.kernel) + to_numpy(layer.bias)
    for j in range(5):
        for k in range(3):
            u = x @ kernel[:, k * 5 + j] + offsets[k * 5 + j]
            v = x @ kernel[:, (3 + k) * 5 + j] + offsets[(3 + k) * 5 + j]
            expected[:, j] += 0.2 * u * v
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_the_convolution_term_equals_a_loop_over_filters():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = tn.TaskNeuronConv2D(3, 2, formula="x", interaction_rank=1, padding="same",
                                basis_range=None)
    layer(x)
    for variable in layer.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    kernel, offsets = to_numpy(layer.interaction_kernel), to_numpy(layer.interaction_bias)
    expected = to_numpy(keras.ops.conv(x, to_numpy(layer.kernel), padding="same"))
    expected = expected + to_numpy(layer.bias)
    for j in range(3):
        u = to_numpy(keras.ops.conv(x, kernel[..., j:j + 1], padding="same"))[..., 0]
        v = to_numpy(keras.ops.conv(x, kernel[..., 3 + j:4 + j], padding="same"))[..., 0]
        expected[..., j] += 0.1 * (u + offsets[j]) * (v + offsets[3 + j])
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def _dense_term(layer, z):
    """The interaction term of a ``TaskNeuronDense`` computed in numpy on ``z``."""
    kernel, offsets = to_numpy(layer.interaction_kernel), to_numpy(layer.interaction_bias)
    both = z @ kernel + offsets
    rank, units = layer.interaction_rank, layer.units
    return layer.interaction_scale * sum(
        both[:, k * units:(k + 1) * units] * both[:, (rank + k) * units:(rank + k + 1) * units]
        for k in range(rank))


def _with_random_weights(layer, rng):
    for variable in layer.weights:
        if variable.trainable:
            variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return layer


def test_the_term_sees_the_input_bounded_to_the_searched_range():
    from keras_taskneurons.input_map import InputMap

    rng = np.random.default_rng(5)
    X = (rng.normal(size=(200, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]).astype("float32")
    input_map = InputMap.fit(X, "standard")
    layer = tn.TaskNeuronDense(4, "x", interaction_rank=2, input_map=input_map)
    layer(X[:2])
    _with_random_weights(layer, rng)
    # Without the term the layer is linear in the standardized input.
    without = tn.TaskNeuronDense(4, "x", input_map=input_map)
    without(X[:2])
    _copy_shared_weights(layer, without)
    z = input_map.standardized(X)
    inside = to_numpy(layer(X)) - to_numpy(without(X))
    np.testing.assert_allclose(inside, _dense_term(layer, z), rtol=1e-4, atol=1e-4)
    # A row far outside the training range: the product sees it clipped there.
    far = X[:3] * 1000.0
    u = input_map.bounded(far)  # each column clipped to its own domain
    clipped = (u - np.asarray(input_map.u_mean)) / np.asarray(input_map.u_std)
    term = to_numpy(layer(far)) - to_numpy(without(far))
    np.testing.assert_allclose(term, _dense_term(layer, clipped), rtol=1e-4, atol=1e-3)
    assert np.max(np.abs(term)) < 1e3 * max(1.0, np.max(np.abs(inside)))
    # basis_range=None: the term extrapolates with z itself.
    free = tn.TaskNeuronDense(4, "x", interaction_rank=2, input_map=input_map,
                              basis_range=None)
    free(X[:2])
    _copy_shared_weights(layer, free)
    free_without = tn.TaskNeuronDense(4, "x", input_map=input_map, basis_range=None)
    free_without(X[:2])
    _copy_shared_weights(layer, free_without)
    np.testing.assert_allclose(to_numpy(free(far)) - to_numpy(free_without(far)),
                               _dense_term(layer, input_map.standardized(far)), rtol=1e-4)


def test_a_hidden_layer_term_sees_the_bases_normalized_input():
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(64, 3)) * 20.0 + 50.0).astype("float32")
    layer = tn.TaskNeuronDense(4, "x", interaction_rank=1)  # no map: running statistics
    layer(x)
    _with_random_weights(layer, rng)
    layer.range_mean.assign(x.mean(axis=0))
    layer.range_variance.assign(x.var(axis=0))
    layer.range_count.assign(1e6)
    without = tn.TaskNeuronDense(4, "x")
    without(x)
    _copy_shared_weights(layer, without)
    from keras_taskneurons.layers import basis

    low, high = layer.basis_domain
    half = (high - low) / (2 * basis.RUNNING_SPREAD)
    bounded = np.clip((x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-6) * half
                      + (low + high) / 2, low, high)
    np.testing.assert_allclose(to_numpy(layer(x)) - to_numpy(without(x)),
                               _dense_term(layer, bounded), rtol=1e-3, atol=1e-3)


def test_a_rank_one_term_learns_a_product_of_two_inputs():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(512, 4)).astype("float32")
    y = (x[:, :1] * x[:, 1:2]).astype("float32")
    losses = {}
    for rank in (0, 1):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), tn.TaskNeuronDense(
            1, "x", interaction_rank=rank, basis_scale=1.0)])
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(x, y, epochs=60, batch_size=128, verbose=0)
        losses[rank] = model.evaluate(x, y, verbose=0)
    assert losses[1] < 0.05 * losses[0], losses


def test_interaction_layers_pass_the_shared_layer_checks(tmp_path):
    run_layer_checks({"formula": "x**2 - x", "interaction_rank": 2}, tmp_path)
    layer = tn.TaskNeuronDense(5, "x**2 - x", interaction_rank=2)
    layer.build((None, 3))
    # kernel 2 bases x 3 inputs x 5; interaction 3 x (2 * 2 * 5) + 20; bias 5
    assert layer.count_params() == 30 + 60 + 20 + 5 + 3 + 3 + 1


def test_mixed_precision_computes_the_term_in_float32():
    x = np.random.default_rng(4).normal(size=(6, 3)).astype("float32")
    reference = tn.TaskNeuronDense(4, "x**2", interaction_rank=1)
    reference(x)
    reference.interaction_bias.assign(np.ones(8, "float32"))
    keras.config.set_dtype_policy("mixed_float16")
    layer = tn.TaskNeuronDense(4, "x**2", interaction_rank=1)
    layer(x)
    assert layer.interaction_kernel.dtype == "float32"
    layer.set_weights(reference.get_weights())
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(out).astype("float32"), to_numpy(reference(x)),
                               rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_a_bad_rank_names_the_value(value):
    with pytest.raises(ValueError, match=f"interaction_rank={value!r}"):
        tn.TaskNeuronDense(3, "x", interaction_rank=value)


def test_kinds_without_a_place_for_the_term_are_refused():
    with pytest.raises(ValueError, match="groups=2"):
        tn.TaskNeuronConv1D(4, 3, formula="x", groups=2, interaction_rank=1)
    layer = tn.TaskNeuronEinsumDense("ab,b->a", (), formula="x", interaction_rank=1)
    with pytest.raises(ValueError, match="needs a kernel axis in the output"):
        layer.build((None, 3))
    assert tn.TaskNeuronDense(3, "x", interaction_rank=np.int64(2)).interaction_rank == 2


def test_files_without_the_key_load_without_interactions():
    config = tn.TaskNeuronDense(3, "x**2").get_config()
    del config["interaction_rank"]
    assert tn.TaskNeuronDense.from_config(config).interaction_rank == 0


# --- tnlearn's base-mode expressions ------------------------------------------------


@pytest.mark.parametrize("expression, expected", [
    ("<w1, x**2> + <w2, x>*<w3, x> + b",
     dict(formula="x**2", linear_basis=False, interaction_rank=1, use_bias=True)),
    ("<w1,x> - 2e-3*<w2, sin(x)>",
     dict(formula="sin(x)", linear_basis=True, interaction_rank=0, use_bias=False)),
    ("<w1,x>*<w2,x> + <w3,x>*<w4,x>",
     dict(formula="x", linear_basis=True, interaction_rank=2, use_bias=False)),
    ("-<w, exp(-x**2)> + 1",
     dict(formula="exp(-x**2)", linear_basis=False, interaction_rank=0, use_bias=True)),
])
def test_tnlearn_expressions_map_to_layer_options(expression, expected):
    options = tn.from_tnlearn(expression)
    assert options == expected
    tn.TaskNeuronDense(3, **options)  # a layer takes them


@pytest.mark.parametrize("expression, message", [
    ("<w1, x**2>*<w2, x>", "only products of two linear ones"),
    ("<w1, x>*<w2, x>*<w3, x>", "multiplies 3 inner products"),
    ("<w1, x>/<w2, x>", "divides"),
    ("x + <w, x>", "has the factor 'x'"),
    ("<w1, <w2, x>>", "Nested inner products"),
    ("<w1, __import__('os')>", "strings are not allowed|unknown function"),
    ("<w1, x", "Unbalanced"),
    ("<1w, x>", "'<weight, g\\(x\\)>'"),
    ("", "empty"),
    ("<w, x> + " * 2000 + "<w, x>", "the limit is"),
])
def test_tnlearn_expressions_without_an_equivalent_are_refused(expression, message):
    with pytest.raises(ValueError, match=message):
        tn.from_tnlearn(expression)


def test_a_tnlearn_expression_computes_what_tnlearn_computes():
    """``<w1, x**2> + <w2, x>*<w3, x>``: the layer from the mapped options,
    given tnlearn's weights, computes tnlearn's sums."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4)).astype("float32")
    w1, w2, w3 = (rng.normal(size=(3, 4)).astype("float32") for _ in range(3))
    expected = (x**2) @ w1.T + (x @ w2.T) * (x @ w3.T)
    options = tn.from_tnlearn("<w1, x**2> + <w2, x>*<w3, x>")
    layer = tn.TaskNeuronDense(3, **options, basis_range=None, basis_scale=1.0)
    layer(x)
    assert [str(b) for b in layer.bases] == ["x**2"] and layer.multipliers == (1.0,)
    layer.kernel.assign(w1.T)
    layer.interaction_kernel.assign(np.concatenate([w2.T, w3.T], axis=1))
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_non_strings_are_refused_with_a_type_error():
    with pytest.raises(TypeError, match="is a string"):
        tn.from_tnlearn(None)
