"""Reading a trained layer back (learned functions, basis shares) and pruning."""

import os

import keras
import numpy as np
import pytest

import keras_taskneurons
from keras_taskneurons import InputMap, TaskNeuronDense
from tests.helpers import to_numpy

RNG = np.random.default_rng(0)
RAW = RNG.uniform(30, 70, (64, 3))
MAP = InputMap.fit(RNG.uniform(0, 100, (80, 3)), "standard").get_config()


def trained_like(layer, x):
    """Every weight drawn at random (a trained layer, not a new one)."""
    layer(x)
    rng = np.random.default_rng(1)
    for variable in layer.trainable_weights:
        shape = tuple(variable.shape)
        variable.assign(rng.normal(0.0, 0.5, shape).astype("float32")
                        + (to_numpy(variable) if "constant" in variable.path else 0.0))
    return layer


def summed(functions, x):
    units = len(functions)
    total = np.zeros((len(x), units))
    for j, row in enumerate(functions):
        for i, f in enumerate(row):
            if f is not None:
                total[:, j] += f.evaluate(x[:, i])
    return total


CASES = {
    "terms": (dict(formula="x**2 + sin(1.3*x + 0.2)"), RNG.uniform(-0.5, 0.5, (64, 3))),
    "constants": (dict(formula="x**2 + sin(1.3*x + 0.2)", parameterization="constants"),
                  RNG.uniform(-0.5, 0.5, (64, 3))),
    "input_constants": (dict(formula="x**2 + sin(1.3*x + 0.2)",
                             parameterization="input_constants"),
                        RNG.uniform(-0.5, 0.5, (64, 3))),
    "input_map": (dict(formula="x**3 + exp(x)", input_map=MAP), RAW),
    "clip_no_map": (dict(formula="x**3 + cos(x)", basis_range="clip"),
                    RNG.uniform(-0.9, 0.9, (64, 3))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_learned_functions_add_up_to_the_layer(case):
    options, x = CASES[case]
    layer = trained_like(TaskNeuronDense(4, use_bias=False, **options), x)
    functions = layer.learned_functions()
    assert len(functions) == 4 and all(len(row) == 3 for row in functions)
    expected = to_numpy(layer(x)).astype(np.float64)
    np.testing.assert_allclose(summed(functions, x), expected, rtol=2e-5, atol=2e-5)
    # the average function of each input is the mean over the units
    if case != "constants":
        averages = layer.average_functions()
        for i, average in enumerate(averages):
            mean = np.mean([np.zeros(len(x)) if row[i] is None else row[i].evaluate(x[:, i])
                            for row in functions], axis=0)
            np.testing.assert_allclose(average.evaluate(x[:, i]), mean, rtol=1e-9, atol=1e-9)
    else:
        with pytest.raises(ValueError, match="constants per unit"):
            layer.average_functions()
    # contributions: the bases' terms add up to the layer too, shares to 1
    shares = layer.basis_contributions(x)
    assert list(shares) == [str(b) for b in layer.bases]
    assert abs(sum(shares.values()) - 1.0) < 1e-9


@pytest.mark.parametrize("case", sorted(CASES))
def test_function_values_match_the_learned_formulas_and_the_plot_has_a_panel_per_input(case):
    options, x = CASES[case]
    layer = trained_like(TaskNeuronDense(4, use_bias=False, **options), x)
    low, high = layer_ranges = keras_taskneurons.layers.readout.seen_ranges(layer)
    assert np.all(low < high) and layer_ranges[0].shape == (3,)
    grids = np.linspace(low, high, 7, axis=1)
    values = keras_taskneurons.layers.readout.function_values(layer, grids)
    functions = layer.learned_functions()
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(values[i, :, j], functions[j][i].evaluate(grids[i]),
                                       rtol=1e-9, atol=1e-9)
    figure = keras_taskneurons.plot_learned_functions(layer, ["a", "b", "c"], points=20)
    assert [axes.get_title() for axes in figure.axes] == ["a", "b", "c"]
    mean_line = figure.axes[1].get_lines()[-1].get_ydata()  # the units' average, centred
    grid = np.linspace(low[1], high[1], 20)
    centred = np.mean([f[1].evaluate(grid) for f in functions], axis=0)
    np.testing.assert_allclose(mean_line, centred - centred[10], rtol=1e-9, atol=1e-9)


def test_the_plot_covers_the_range_the_first_layer_saw_and_names_bad_arguments():
    import matplotlib.pyplot as plt

    options, x = CASES["input_map"]
    layer = trained_like(TaskNeuronDense(2, use_bias=False, **options), x)
    low, high = keras_taskneurons.layers.readout.seen_ranges(layer)
    m = InputMap.from_config(MAP)
    column_low, column_high = m.column_domains()
    np.testing.assert_allclose(low, m.center + m.scale * column_low, rtol=1e-9)
    np.testing.assert_allclose(high, m.center + m.scale * column_high, rtol=1e-9)
    figure = keras_taskneurons.plot_learned_functions(layer)
    assert figure.axes[2].get_title() == "input 2"
    assert figure.axes[0].get_xlim()[0] <= low[0] + 1e-9
    plt.close(figure)
    with pytest.raises(ValueError, match="3 inputs. Received 2 names"):
        keras_taskneurons.plot_learned_functions(layer, ["a", "b"])
    with pytest.raises(TypeError, match="not one string"):
        keras_taskneurons.plot_learned_functions(layer, "abc")
    with pytest.raises(ValueError, match="points=1"):
        keras_taskneurons.plot_learned_functions(layer, points=1)
    with pytest.raises(TypeError, match="TaskNeuronConv2D"):
        keras_taskneurons.plot_learned_functions(keras_taskneurons.TaskNeuronConv2D(2, 3, formula="x"))


@pytest.mark.parametrize("case", ["terms", "constants", "input_map"])
def test_the_bases_terms_add_up_to_the_layer_clipping_included(case):
    from keras_taskneurons.layers.readout import contributions

    options, x = CASES[case]
    layer = trained_like(TaskNeuronDense(4, **options), x)
    wide = x * 4.0 - 3.0 * x.mean(axis=0)  # most values outside the domain
    terms = contributions(layer, wide)
    expected = to_numpy(layer(wide)).astype(np.float64) - to_numpy(layer.bias)
    np.testing.assert_allclose(sum(terms), expected, rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("options", [dict(input_map=MAP), dict(), dict(basis_range=None)],
                         ids=["input_map", "running", "unbounded"])
def test_the_interaction_terms_add_up_to_the_layer_outside_the_range_too(options):
    from keras_taskneurons.layers.readout import contributions, interaction_contributions

    layer = TaskNeuronDense(4, formula="x**2 + sin(x)", interaction_rank=2, **options)
    for _ in range(3):  # running statistics of RAW (a hidden layer's)
        layer(RAW, training=True)
    trained_like(layer, RAW)
    wide = RAW * 4.0 - 3.0 * RAW.mean(axis=0)  # most values outside the search's range
    parts = contributions(layer, wide) + interaction_contributions(layer, wide)
    assert len(parts) == len(layer.bases) + 2
    expected = to_numpy(layer(wide)).astype(np.float64) - to_numpy(layer.bias)
    np.testing.assert_allclose(sum(parts), expected, rtol=2e-5, atol=2e-4)


def test_learned_functions_follow_the_running_statistics():
    layer = TaskNeuronDense(3, formula="x**3 + exp(x)", use_bias=False,
                            basis_initializer="glorot_uniform")
    x = RNG.normal(2.0, 3.0, (64, 3))
    for _ in range(5):
        layer(x, training=True)
    inside = RNG.uniform(0.0, 4.0, (64, 3))  # mapped inside the domain: not clipped
    np.testing.assert_allclose(summed(layer.learned_functions(), inside),
                               to_numpy(layer(inside)), rtol=2e-5, atol=2e-5)


def test_learned_functions_of_a_zero_pair_are_none_and_unbuilt_layers_are_refused():
    layer = TaskNeuronDense(2, formula="x**2", kernel_initializer="zeros")
    with pytest.raises(ValueError, match="is not built"):
        layer.learned_functions()
    with pytest.raises(ValueError, match="is not built"):
        layer.basis_contributions(np.zeros((2, 3)))
    layer(np.zeros((1, 3)))
    assert layer.learned_functions() == [[None] * 3, [None] * 3]


def test_basis_contributions_name_bad_data():
    layer = TaskNeuronDense(2, formula="x**2")
    layer(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"3 features; received data of shape \(5, 2\)"):
        layer.basis_contributions(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        layer.basis_contributions(np.full((5, 3), np.nan))


# --- pruning ---------------------------------------------------------------------------


def network(formula="x**2 + x**3 + sin(x)"):
    keras.utils.set_random_seed(0)
    make = keras_taskneurons.layer_factory(formula, activation="tanh",
                                           basis_initializer="glorot_uniform")
    return keras.Sequential([keras.Input((4,)), make(6), make(3), keras.layers.Dense(1)])


def test_prune_removes_a_dead_block_exactly_and_the_saved_model_shrinks(tmp_path):
    model = network()
    x = RNG.uniform(-1, 1, (128, 4)).astype("float32")
    first = model.layers[0]
    kernel = to_numpy(first.kernel).copy()
    position = [str(b) for b in first.bases].index("x**3")
    kernel[position * 4:(position + 1) * 4] = 0.0  # x**3 carries nothing in layer 1
    first.kernel.assign(kernel)
    before = model.predict(x, verbose=0)

    pruned, removed = keras_taskneurons.prune(model, x, tolerance=0.0)
    assert removed == {first.name: ["x**3"]}
    assert "x**3" not in [str(b) for b in pruned.layers[0].bases]
    assert pruned.layers[1].formula == model.layers[1].formula
    np.testing.assert_allclose(pruned.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)  # left as it was
    assert pruned.count_params() == model.count_params() - 4 * 6
    model.save(tmp_path / "full.keras")
    pruned.save(tmp_path / "pruned.keras")
    assert os.path.getsize(tmp_path / "pruned.keras") < os.path.getsize(tmp_path / "full.keras")
    reloaded = keras.models.load_model(tmp_path / "pruned.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tolerance", [0.02, 0.2])
def test_pruned_predictions_stay_within_the_tolerance(tolerance):
    model = network("x**2 + x**3 + sin(x) + cos(2*x) + exp(x)")
    x = RNG.uniform(-1, 1, (128, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    pruned, removed = keras_taskneurons.prune(model, x, tolerance=tolerance)
    after = pruned.predict(x, verbose=0)
    change = np.sqrt(np.mean((after - before) ** 2)) / before.std()
    assert change <= tolerance + 1e-6
    count = sum(len(v) for v in removed.values())
    assert pruned.count_params() < model.count_params() or count == 0
    if tolerance == 0.2:
        assert count >= 1  # the loose tolerance removes something
    for layer in pruned.layers[:2]:
        assert len(layer.bases) >= 1


def test_the_linear_basis_can_go_and_a_pruned_layer_keeps_one_basis():
    keras.utils.set_random_seed(0)
    layer = TaskNeuronDense(2, formula="x**2", kernel_initializer="zeros",
                            basis_initializer="glorot_uniform")
    model = keras.Sequential([keras.Input((3,)), layer])
    x = RNG.uniform(-1, 1, (32, 3))
    pruned, removed = keras_taskneurons.prune(model, x, tolerance=0.0)
    assert removed == {layer.name: ["x"]}
    assert pruned.layers[0].linear_basis is False and pruned.layers[0].bases[0].__str__() == "x**2"
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_prune_refuses_what_it_cannot_do():
    model = network()
    x = RNG.uniform(-1, 1, (16, 4))
    for bad in (-0.1, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="tolerance"):
            keras_taskneurons.prune(model, x, tolerance=bad)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.inner = TaskNeuronDense(2, formula="x**2")

        def call(self, inputs):
            return self.inner(inputs)

    with pytest.raises(TypeError, match="Sequential or functional.*Subclassed"):
        keras_taskneurons.prune(Subclassed(), x)
    with pytest.raises(ValueError, match="at least one row"):
        keras_taskneurons.prune(model, x[:0])


def test_prune_rebuilds_a_functional_model_and_leaves_lora_layers_whole():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    dead = TaskNeuronDense(4, formula="x**2 + sin(x)", basis_initializer="glorot_uniform",
                           name="dead_square")
    hidden = dead(inputs)
    adapted = TaskNeuronDense(2, formula="x**2", name="adapted")
    outputs = keras.layers.Dense(1)(keras.layers.Concatenate()([hidden, adapted(inputs)]))
    model = keras.Model(inputs, outputs)
    adapted.enable_lora(1)
    kernel = to_numpy(dead.kernel).copy()
    position = [str(b) for b in dead.bases].index("x**2")
    kernel[position * 3:(position + 1) * 3] = 0.0
    dead.kernel.assign(kernel)
    x = RNG.uniform(-1, 1, (64, 3)).astype("float32")
    pruned, removed = keras_taskneurons.prune(model, x, tolerance=0.0)
    assert removed == {"dead_square": ["x**2"]}
    assert isinstance(pruned, keras.Model) and len(pruned.layers) == len(model.layers)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_prune_removes_a_dead_interaction_rank():
    keras.utils.set_random_seed(0)
    layer = TaskNeuronDense(4, formula="x**2", interaction_rank=2,
                            basis_initializer="glorot_uniform")
    model = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(1)])
    kernel = to_numpy(layer.interaction_kernel).copy()
    kernel[:, 4:] = np.random.default_rng(0).normal(size=(3, 12))  # rank 1 (U_1, V_0, V_1)
    kernel[:, :4] = 0.0  # U_0 = 0 and a_0 = 0: rank 0 contributes nothing
    layer.interaction_kernel.assign(kernel)
    x = RNG.uniform(-1, 1, (64, 3)).astype("float32")
    shares = layer.basis_contributions(x)
    assert list(shares) == ["x", "x**2", "interaction rank 0", "interaction rank 1"]
    assert shares["interaction rank 0"] == 0.0 and shares["interaction rank 1"] > 0.01
    pruned, removed = keras_taskneurons.prune(model, x, tolerance=0.0)
    assert removed == {layer.name: ["interaction rank 0"]}
    assert pruned.layers[0].interaction_rank == 1
    assert pruned.count_params() == model.count_params() - 2 * (3 * 4 + 4)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
