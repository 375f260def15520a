"""TaskNeuronEinsumDense: exactness against Keras's EinsumDense, the basis
layout, the shared layer checks, a task-based attention, and LoRA."""

import keras
import numpy as np
import pytest

from keras_taskneurons import (
    TaskNeuronEinsumDense,
    layer_factory,
)
from keras_taskneurons.layers.einsum import analyze_equation
from tests.helpers import (
    assert_keras_twin, run_layer_checks, to_numpy,
)

CASES = [
    ("abc,cd->abd", (None, 6), "d", (2, 5, 4)),
    ("abc,cde->abde", (None, 2, 3), "de", (2, 5, 4)),
    ("...b,bc->...c", (6,), "c", (2, 3, 5, 4)),
    ("ab,bc->ac", (6,), None, (2, 4)),
    ("abc,cd->abd", (5, 6), "bd", (2, 5, 4)),
    ("abcd,cde->abe", (None, 6), "e", (2, 5, 3, 4)),
]


def _random(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", CASES)
def test_formula_x_is_keras_einsum_dense(equation, output_shape, bias_axes, shape):
    assert_keras_twin(
        TaskNeuronEinsumDense(equation, output_shape, bias_axes=bias_axes, formula="x"),
        keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes),
        _random(shape, 0))


def test_bases_are_blocks_along_the_summed_axis_and_start_as_einsum_dense():
    x = _random((3, 5, 4), 2)
    seeded = keras.initializers.GlorotUniform(seed=3)
    ours = TaskNeuronEinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de",
                                 formula="x**2 + sin(x)", kernel_initializer=seeded,
                                 basis_range="clip")
    theirs = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de",
                                      kernel_initializer=seeded)
    np.testing.assert_allclose(to_numpy(ours(x)), to_numpy(theirs(x)), rtol=1e-6, atol=1e-6)
    assert tuple(ours.kernel.shape) == (12, 2, 3)
    # Each block is its basis's kernel: a reference sum over bases.
    kernel = _random(ours.kernel.shape, 4)
    ours.kernel.assign(kernel)
    bounded = np.clip(x, -1, 1)
    reference = sum(
        np.einsum("abc,cde->abde", m * basis.evaluate(x if str(basis) == "x" else bounded),
                  kernel[4 * k:4 * (k + 1)])
        for k, (basis, m) in enumerate(zip(ours.bases, ours.multipliers)))
    np.testing.assert_allclose(to_numpy(ours(x)), reference, rtol=1e-5, atol=1e-5)
    # Swapped blocks give other numbers: the test sees the layout.
    ours.kernel.assign(np.concatenate([kernel[4:8], kernel[:4], kernel[8:]]))  # x <-> basis 2
    assert not np.allclose(to_numpy(ours(x)), reference, atol=1e-3)


def test_layer_checks(tmp_path):
    run_layer_checks(
        dict(equation="ab,bc->ac", output_shape=5, bias_axes="c", formula="x**2 - sin(x)"),
        tmp_path, layer=(TaskNeuronEinsumDense, (), (3,)))


def test_task_based_attention_projections_train_and_reload(tmp_path):
    """A MultiHeadAttention whose query, key, value and output projections
    are task-based (the recipe the README shows)."""
    make = layer_factory("x**2 + sin(x)")

    inputs = keras.Input((6, 8))
    query = make.einsum_dense("abc,cde->abde", (None, 2, 4), bias_axes="de")(inputs)
    key = make.einsum_dense("abc,cde->abde", (None, 2, 4), bias_axes="de")(inputs)
    value = make.einsum_dense("abc,cde->abde", (None, 2, 4), bias_axes="de")(inputs)
    attention = keras.ops.einsum("aecd,abcd->acbe", key, query) / 2.0
    attention = keras.layers.Softmax()(attention)
    context = keras.ops.einsum("acbe,aecd->abcd", attention, value)
    output = make.einsum_dense("abcd,cde->abe", (None, 8), bias_axes="e")(context)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(output)))
    x = _random((32, 6, 8), 5)
    y = np.sin(x).sum(axis=(1, 2))[:, None].astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    path = str(tmp_path / "attention.keras")
    model.save(path)
    np.testing.assert_allclose(to_numpy(keras.models.load_model(path).predict(x, verbose=0)),
                               to_numpy(model.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "equation, output_shape, shape, message",
    [
        ("abc->abd", (4,), (2, 3, 4), "equation='abc->abd'"),
        ("...ab,bc->ac", (4,), (2, 3, 4), r"equation='\.\.\.ab,bc->ac'"),
        ("abc,cd->abd", (4,), (2, 3, 4), "must give 2 sizes"),
        ("ab,b->ab", (3,), (2, 3), "sums over no axis"),
        ("abc,cd->abd", (None, 4), (2, 3), "names 3 input axes"),
        ("abc,cd->abd", (None, 4), (2, 3, 4), None),
    ],
)
def test_bad_equations_name_the_value(equation, output_shape, shape, message):
    if message is None:  # the well-formed control case builds
        TaskNeuronEinsumDense(equation, output_shape, formula="x**2").build(shape)
        return
    with pytest.raises(ValueError, match=message):
        TaskNeuronEinsumDense(equation, output_shape, formula="x**2").build(shape)


def test_analysis_fills_shared_axes_from_the_input():
    kernel, bias, out, axis, kernel_axis = analyze_equation("abc,cd->abd", "d", (2, 5, 4), (None, 6))
    assert (kernel, bias, out, axis, kernel_axis) == ((4, 6), (6,), (2, 5, 6), -1, 0)
