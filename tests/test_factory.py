"""layer_factory: layers of one formula, their defaults and overrides."""


import pytest

from keras_taskneurons import Formula, TaskNeuronDense, layer_factory



def test_factory_builds_registered_layers_with_overrides():
    make = layer_factory("x**2 - x", activation="relu", parameterization="constants")
    layer = make(16)
    assert type(layer) is TaskNeuronDense
    assert layer.units == 16 and layer.formula == Formula("x**2 - x")
    assert layer.get_config()["activation"] == "relu"
    assert make(4, activation="sigmoid").get_config()["activation"] == "sigmoid"
    assert "x**2 - x" in repr(make)


def test_factory_does_not_use_up_a_layer_name():
    make = layer_factory("x**2 - x")
    assert make(3).name == "task_neuron_dense"
    with pytest.raises(TypeError, match="`name`"):
        layer_factory("x**2", name="shared")


def test_factory_validates_its_defaults_eagerly():
    with pytest.raises(ValueError, match="parameterization='bogus'"):
        layer_factory("x**2", parameterization="bogus")
    with pytest.raises(TypeError, match="units"):
        layer_factory("x**2", units=3)
    with pytest.raises(ValueError, match="unknown name 'y'"):
        layer_factory("x + y")


def test_making_a_factory_builds_no_layer_and_checks_its_defaults(monkeypatch):
    from keras_taskneurons.layers.basis import BasisLayer

    def refuse(*args, **kwargs):
        raise AssertionError("a layer was built")

    monkeypatch.setattr(BasisLayer, "__init__", refuse)
    make = layer_factory("x**2", activation="relu", padding="same", basis_scale=0.5,
                         first_layer={"interaction_rank": 1})
    assert make.defaults["basis_scale"] == 0.5
    for bad, error, message in [
        (dict(activation="no_such_activation"), ValueError, "`activation`"),
        (dict(data_format="channels_middle"), ValueError, "data_format='channels_middle'"),
        (dict(basis_scale=-1), ValueError, "basis_scale=-1"),
        (dict(kernel_initializer="no_such_initializer"), ValueError, "`kernel_initializer`"),
    ]:
        with pytest.raises(error, match=message):
            layer_factory("x**2", **bad)
    with pytest.raises(ValueError, match="interaction_rank=-1"):
        layer_factory("x**2", first_layer={"interaction_rank": -1})
