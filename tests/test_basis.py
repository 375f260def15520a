"""The basis machinery every layer shares (layers/basis.py): starting as the Keras
twin, factors, ranges, options, initializers."""

import json
import re

import keras
import numpy as np
import pytest

from keras_taskneurons import Formula, TaskNeuronDense
from tests.helpers import (
    PARAMETERIZATIONS,
    make_model,
    sample_data,
    to_numpy,
)



@pytest.mark.parametrize("formula", ["x**2 + sin(x)", "exp(-x**2)", "0.3*x**2 - 0.7*x"])
@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_a_new_layer_computes_exactly_a_dense_layer(formula, parameterization):
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    seeded = keras.initializers.GlorotUniform(seed=3)
    layer = TaskNeuronDense(4, formula, parameterization=parameterization,
                            kernel_initializer=seeded, activation="relu")
    dense = keras.layers.Dense(4, kernel_initializer=seeded, activation="relu")
    assert layer.bases[0] == Formula("x")  # added when the formula lacks it
    # The same numbers up to the matmul's summation order (the zero blocks).
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(dense(x)), rtol=1e-6, atol=1e-6)
    # Every other basis block starts at zero, and then learns.
    kernel = to_numpy(layer.kernel)
    assert np.all(kernel[5:] == 0) and np.all(kernel[:5] == to_numpy(dense.kernel))


def test_start_as_dense_can_be_turned_off_and_old_configs_keep_their_meaning():
    plain = TaskNeuronDense(2, "x**2", linear_basis=False, basis_initializer="glorot_uniform",
                            basis_scale=1.0, normalize_bases=False)
    assert [str(b) for b in plain.bases] == ["x**2"] and plain.multipliers == (1.0,)
    config = TaskNeuronDense(2, "x**2").get_config()
    for key in ("linear_basis", "basis_scale", "normalize_bases", "basis_initializer", "bases",
                "format_version"):
        config.pop(key)  # a config written by 0.1
    old = TaskNeuronDense.from_config(config)
    assert [str(b) for b in old.bases] == ["x**2"] and old.multipliers == (1.0,)


def test_multipliers_scale_each_basis_to_its_range_on_minus_one_one():
    layer = TaskNeuronDense(2, "x**8 + exp(x) + inv(x)", basis_scale=0.5)
    sizes = {"x": None, "x**8": 1.0, "exp(x)": np.e, "inv(x)": 1 / 0.01}
    for basis, multiplier in zip(layer.bases, layer.multipliers):
        size = sizes[str(basis)]
        if size is None:
            assert multiplier == 1.0
        else:
            assert multiplier == pytest.approx(0.5 / size, rel=1e-6), basis


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_bases_but_x_see_the_input_clipped_to_the_search_range(parameterization):
    x = np.array([[-30.0, -1.0, -0.4, 0.0, 0.7, 1.0, 2.5]], "float32").T  # (7, 1)
    kwargs = dict(kernel_initializer="ones", basis_initializer="ones", use_bias=False,
                  parameterization=parameterization)
    clipped = TaskNeuronDense(1, "x**5 + sin(2*x)", basis_range="clip", **kwargs)
    raw = TaskNeuronDense(1, "x**5 + sin(2*x)", basis_range=None, **kwargs)
    assert clipped.basis_domain == (-1.0, 1.0) and raw.basis_range is None
    m = dict(zip([str(b) for b in clipped.bases], clipped.multipliers))

    def expected(u):
        c = np.clip(u, -1, 1)
        return u + m["x**5"] * c**5 + m["sin(2*x)"] * np.sin(2 * c)

    out = to_numpy(clipped(x))[:, 0]
    np.testing.assert_allclose(out, expected(x[:, 0]), rtol=1e-5, atol=1e-6)
    # Inside [-1, 1] nothing changes; outside, x**5 stops growing but x does not.
    inside = np.abs(x[:, 0]) <= 1
    np.testing.assert_allclose(out[inside], to_numpy(raw(x))[inside, 0], rtol=1e-6, atol=1e-7)
    assert abs(to_numpy(raw(x))[0, 0]) > 1e6
    assert out[0] == pytest.approx(-30 - m["x**5"] - m["sin(2*x)"] * np.sin(2), rel=1e-5)


def test_basis_range_round_trips_and_older_configs_keep_their_meaning():
    layer = TaskNeuronDense(2, "x**2", basis_range="clip", basis_domain=(-2, 3))
    config = layer.get_config()
    assert config["basis_range"] == "clip" and config["basis_domain"] == [-2.0, 3.0]
    again = TaskNeuronDense.from_config(config)
    assert again.basis_range == "clip" and again.basis_domain == (-2.0, 3.0)
    assert TaskNeuronDense.from_config(TaskNeuronDense(2, "x**2").get_config()).basis_range == (
        "running")  # "auto" is stored resolved
    # 0.2 wrote basis_clip=c: the bases saw the input clipped to [-c, c].
    old = {k: v for k, v in config.items() if k not in ("basis_range", "basis_domain", "input_map")}
    loaded = TaskNeuronDense.from_config({**old, "basis_clip": 2.0})
    assert loaded.basis_range == "clip" and loaded.basis_domain == (-2.0, 2.0)
    assert TaskNeuronDense.from_config({**old, "basis_clip": None}).basis_range is None
    assert TaskNeuronDense.from_config(old).basis_range is None  # 0.1: unbounded
    with pytest.raises(ValueError, match="basis_clip=-1"):
        TaskNeuronDense.from_config({**old, "basis_clip": -1})


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(basis_range="clipped"), ValueError, "basis_range='clipped'"),
        (dict(basis_range=1), ValueError, "basis_range=1"),
        (dict(basis_domain=(1, -1)), ValueError, r"basis_domain=\(1, -1\)"),
        (dict(basis_domain=(0, float("inf"))), ValueError, "basis_domain=.0, inf"),
        (dict(basis_domain=1.0), ValueError, "basis_domain=1.0"),
        (dict(basis_domain=(True, 2)), ValueError, "basis_domain=.True, 2"),
        (dict(input_map={"center": [0.0]}), TypeError, "input map"),
        (dict(input_map={"center": [0.0], "scale": [0.0]}), ValueError, "positive"),
        (dict(input_map={"center": ["__import__"], "scale": [1.0]}), TypeError, "numbers"),
        (dict(basis_scale=0), ValueError, "basis_scale=0"),
        (dict(basis_scale=float("nan")), ValueError, "basis_scale=nan"),
        (dict(basis_scale="big"), ValueError, "basis_scale='big'"),
        (dict(linear_basis="yes"), TypeError, "linear_basis='yes'"),
        (dict(normalize_bases=1), TypeError, "normalize_bases=1"),
    ],
)
def test_bad_basis_options_name_the_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        TaskNeuronDense(2, "x**2", **kwargs)


def test_a_seeded_basis_initializer_draws_distinct_blocks():
    seeded = keras.initializers.GlorotUniform(seed=2)
    layer = TaskNeuronDense(3, "x**2 + sin(x) + cos(x)", basis_initializer=seeded)
    layer.build((None, 4))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    blocks = [kernel[4 * k:4 * (k + 1)] for k in range(1, 4)]
    assert not np.allclose(blocks[0], blocks[1]) and not np.allclose(blocks[1], blocks[2])
    again = TaskNeuronDense(3, "x**2 + sin(x) + cos(x)", basis_initializer=seeded)
    again.build((None, 4))
    np.testing.assert_array_equal(  # reproducible (the x block is unseeded here)
        keras.ops.convert_to_numpy(again.kernel)[4:], kernel[4:])


@pytest.mark.parametrize("kind", ["einsum", "conv2d_transpose", "simple_rnn", "lstm", "gru"])
def test_every_new_layer_kind_under_mixed_precision(kind):
    """float16 outputs, float32 kernels and computation, finite training."""
    import keras_taskneurons as ktn

    layers = {
        "einsum": (ktn.TaskNeuronEinsumDense, ("abc,cd->abd", (None, 4)), (5, 3)),
        "conv2d_transpose": (ktn.TaskNeuronConv2DTranspose, (2, 3), (3, 3, 2)),
        "simple_rnn": (ktn.TaskNeuronSimpleRNN, (4,), (5, 3)),
        "lstm": (ktn.TaskNeuronLSTM, (4,), (5, 3)),
        "gru": (ktn.TaskNeuronGRU, (4,), (5, 3)),
    }
    keras.config.set_dtype_policy("mixed_float16")
    cls, args, shape = layers[kind]
    x, y = sample_data(shape=shape)
    model = make_model(dict(formula="x**9 + sin(x)"), layer=(cls, args, shape))
    layer = model.layers[1]
    cell = getattr(layer, "cell", layer)
    assert layer.compute_dtype == "float16" and cell.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float16"
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_numpy_scalars_are_accepted_wherever_python_numbers_are():
    """Arguments computed with numpy (``np.float32(0.1)``, ``np.int64(4)``)
    work as their Python values do, and the configs hold Python numbers."""

    import keras_taskneurons as ktn

    layers = [
        TaskNeuronDense(np.int64(3), "sin(x)", basis_scale=np.float32(0.25),
                        interaction_rank=np.int32(1), lora_rank=np.int64(2),
                        lora_alpha=np.float64(4.0)),
        ktn.TaskNeuronConv2D(np.int64(2), np.int64(3), strides=(np.int32(1), 1),
                             formula="x**2", basis_scale=np.float64(0.5)),
        ktn.TaskNeuronEinsumDense("ab,bc->ac", np.int64(3), formula="x**2"),
    ]
    inputs = [np.ones((2, 4), "float32"), np.ones((1, 5, 5, 2), "float32"),
              np.ones((2, 4), "float32")]
    for layer, x in zip(layers, inputs):
        config = layer.get_config()
        json.dumps(config)  # plain Python numbers
        twin = type(layer).from_config(config)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)).shape,
                                   keras.ops.convert_to_numpy(twin(x)).shape)
    assert layers[0].basis_scale == 0.25 and isinstance(layers[0].basis_scale, float)
    assert layers[1].kernel_size == (3, 3) and type(layers[1].kernel_size[0]) is int
    with pytest.raises(ValueError, match="basis_scale"):
        TaskNeuronDense(2, "x", basis_scale=np.bool_(True))


def test_every_layer_documents_every_argument_once():
    """layers.arguments completes each docstring's Args: one entry per
    constructor argument, in signature order; an argument documented nowhere
    is refused when the class is defined."""
    import inspect

    import keras_taskneurons
    from keras_taskneurons.layers.arguments import documented

    for name in keras_taskneurons.__all__:
        cls = getattr(keras_taskneurons, name)
        if not (inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)):
            continue
        documented_names = re.findall(r"^    \**(\w+)(?: \([^)]*\))?:", cls.__doc__, re.M)
        arguments = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert documented_names[:len(arguments)] == arguments, name

    class Undocumented(keras.layers.Layer):
        """A layer.

        Args:
            units: Its units.
        """

        def __init__(self, units, surprise=None, **kwargs):
            super().__init__(**kwargs)

    with pytest.raises(TypeError, match="'surprise' is documented nowhere"):
        documented(Undocumented)
