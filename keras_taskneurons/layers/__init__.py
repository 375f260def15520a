"""Task-neuron layers: one basis machinery (:mod:`.basis`), the dense layer
(:mod:`.dense`)."""

from keras_taskneurons.layers.basis import DEFAULT_BASIS_CLIP, BasisLayer
from keras_taskneurons.layers.dense import (
    PARAMETERIZATIONS,
    TaskNeuronDense,
    TaskNeuronLayerFactory,
    layer_factory,
)

__all__ = [
    "DEFAULT_BASIS_CLIP",
    "PARAMETERIZATIONS",
    "BasisLayer",
    "TaskNeuronDense",
    "TaskNeuronLayerFactory",
    "layer_factory",
]
