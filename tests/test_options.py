"""The shared layer options (``layers/options.py``): one table read by
every public constructor, its config and its documentation."""

import inspect

import keras
import pytest

import keras_taskneurons as ktn
from keras_taskneurons.layers.options import LAYER_OPTIONS

LAYERS = {
    ktn.TaskNeuronDense: (3,),
    ktn.TaskNeuronEinsumDense: ("ab,bc->ac", 3),
    ktn.TaskNeuronConv1D: (3, 2),
    ktn.TaskNeuronConv2D: (3, 2),
    ktn.TaskNeuronConv3D: (3, 2),
    ktn.TaskNeuronConv1DTranspose: (3, 2),
    ktn.TaskNeuronConv2DTranspose: (3, 2),
    ktn.TaskNeuronConv3DTranspose: (3, 2),
    ktn.TaskNeuronSimpleRNNCell: (3,),
    ktn.TaskNeuronLSTMCell: (3,),
    ktn.TaskNeuronGRUCell: (3,),
    ktn.TaskNeuronSimpleRNN: (3,),
    ktn.TaskNeuronLSTM: (3,),
    ktn.TaskNeuronGRU: (3,),
}
"""Every public layer class, with the positional arguments it is built with."""

NOT_TAKEN = {
    ktn.TaskNeuronEinsumDense: {"use_bias"},  # bias_axes says it
    ktn.TaskNeuronSimpleRNNCell: {"activity_regularizer"},  # the RNN layer's
    ktn.TaskNeuronLSTMCell: {"activity_regularizer"},
    ktn.TaskNeuronGRUCell: {"activity_regularizer"},
}
"""The shared options a public class does not take, and why."""

OTHER_VALUES = {
    "use_bias": False,
    "linear_basis": False,
    "basis_scale": 0.5,
    "normalize_bases": False,
    "input_map": ktn.InputMap([0.5], [2.0], (-1.5, 1.5)),
    "basis_range": None,
    "basis_domain": (-2.0, 2.0),
    "interaction_rank": 1,
    "kernel_initializer": "ones",
    "basis_initializer": "ones",
    "bias_initializer": "ones",
    "kernel_regularizer": "l2",
    "bias_regularizer": "l2",
    "activity_regularizer": "l2",
    "kernel_constraint": "non_neg",
    "bias_constraint": "non_neg",
}
"""A valid value other than the default for every option."""

INVALID = {
    "use_bias": (1, TypeError),
    "linear_basis": ("yes", TypeError),
    "basis_scale": (-0.1, ValueError),
    "normalize_bases": ("largest", ValueError),
    "input_map": ({"center": "oops"}, TypeError),
    "basis_range": ("clamp", ValueError),
    "basis_domain": ((1.0, -1.0), ValueError),
    "interaction_rank": (-1, ValueError),
    "kernel_initializer": ("no_such_initializer", ValueError),
    "basis_initializer": ("no_such_initializer", ValueError),
    "bias_initializer": ("no_such_initializer", ValueError),
    "kernel_regularizer": ("no_such_regularizer", ValueError),
    "bias_regularizer": ("no_such_regularizer", ValueError),
    "activity_regularizer": ("no_such_regularizer", ValueError),
    "kernel_constraint": ("no_such_constraint", ValueError),
    "bias_constraint": ("no_such_constraint", ValueError),
}


def _build(cls, **options):
    return cls(*LAYERS[cls], formula="x**2 + x", **options)


def _options_of(layer):
    return layer.cell if isinstance(layer, keras.layers.RNN) else layer


def test_the_tables_cover_every_option_and_public_layer():
    assert set(OTHER_VALUES) == set(INVALID) == set(LAYER_OPTIONS)
    public = {getattr(ktn, name) for name in ktn.__all__ if name.startswith("TaskNeuron")
              and isinstance(getattr(ktn, name), type)
              and issubclass(getattr(ktn, name), keras.layers.Layer)}
    # The embedding has its own options (copies at trainable inner
    # constants); none of the shared basis options applies to it.
    assert public == set(LAYERS) | {ktn.TaskNeuronEmbedding}


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda c: c.__name__)
def test_every_public_constructor_names_the_options_with_their_defaults(cls):
    parameters = inspect.signature(cls.__init__).parameters
    taken = set(LAYER_OPTIONS) & set(parameters)
    assert set(LAYER_OPTIONS) - taken == NOT_TAKEN.get(cls, set())
    for name in taken:
        assert parameters[name].default == LAYER_OPTIONS[name].default, (cls.__name__, name)
    doc = inspect.cleandoc(cls.__doc__)
    for name in taken:  # the option's line, from the table unless the class says more
        assert f"\n    {name} (" in doc, (cls.__name__, name)


@pytest.mark.parametrize("cls", list(LAYERS), ids=lambda c: c.__name__)
def test_every_option_reaches_the_layer_and_its_config(cls):
    """Each option given by name is checked, stored and written to the
    config as the table says (a constructor that drops one fails here)."""
    for name in set(LAYER_OPTIONS) - NOT_TAKEN.get(cls, set()):
        value = OTHER_VALUES[name]
        layer = _build(cls, **{name: value})
        option = LAYER_OPTIONS[name]
        holder = layer if name == "activity_regularizer" else _options_of(layer)
        stored = getattr(holder, name)
        expected = option.check(value)
        assert option.config(stored) == option.config(expected), (cls.__name__, name)
        config = layer.get_config()
        assert config[name] == option.config(expected), (cls.__name__, name)
        default = _build(cls)
        assert default.get_config()[name] != config[name], (cls.__name__, name)


@pytest.mark.parametrize("name", sorted(LAYER_OPTIONS))
def test_a_bad_option_is_refused_naming_it(name):
    value, error = INVALID[name]
    for cls in (ktn.TaskNeuronDense, ktn.TaskNeuronConv2D, ktn.TaskNeuronGRU):
        if name in NOT_TAKEN.get(cls, set()):
            continue
        with pytest.raises(error) as info:
            _build(cls, **{name: value})
        assert name in str(info.value) or repr(value) in str(info.value), (cls, str(info.value))
