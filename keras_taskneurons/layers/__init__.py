"""Task-neuron layers: one basis machinery (:mod:`.basis`, with LoRA in
:mod:`.lora` and the range check in :mod:`.monitor`), the dense layer
(:mod:`.dense`), the einsum layer (:mod:`.einsum`), the convolutions and
transposed convolutions (:mod:`.conv`), the recurrent cells and layers
(:mod:`.cells`, :mod:`.recurrent`), the interaction term (:mod:`.interaction`),
:func:`layer_factory` (:mod:`.factory`) and tnlearn's expressions read in
(:func:`from_tnlearn`, :mod:`.tnlearn`)."""

from keras_taskneurons.layers.basis import DEFAULT_BASIS_DOMAIN, BasisLayer
from keras_taskneurons.layers.conv import (
    TaskNeuronConv,
    TaskNeuronConv1D,
    TaskNeuronConv2D,
    TaskNeuronConv3D,
)
from keras_taskneurons.layers.conv_transpose import (
    TaskNeuronConv1DTranspose,
    TaskNeuronConv2DTranspose,
    TaskNeuronConv3DTranspose,
    TaskNeuronConvTranspose,
)
from keras_taskneurons.layers.einsum import TaskNeuronEinsumDense
from keras_taskneurons.layers.recurrent import (
    TaskNeuronSimpleRNNCell,
    TaskNeuronLSTMCell,
    TaskNeuronGRUCell,
    TaskNeuronSimpleRNN,
    TaskNeuronLSTM,
    TaskNeuronGRU,
)
from keras_taskneurons.layers.dense import PARAMETERIZATIONS, TaskNeuronDense
from keras_taskneurons.layers.monitor import BasisRangeMonitor, basis_range_report
from keras_taskneurons.layers.factory import TaskNeuronLayerFactory, layer_factory
from keras_taskneurons.layers.tnlearn import from_tnlearn

__all__ = [
    "DEFAULT_BASIS_DOMAIN",
    "PARAMETERIZATIONS",
    "BasisLayer",
    "BasisRangeMonitor",
    "TaskNeuronConv",
    "TaskNeuronConv1D",
    "TaskNeuronConv2D",
    "TaskNeuronConv3D",
    "TaskNeuronConv1DTranspose",
    "TaskNeuronConv2DTranspose",
    "TaskNeuronConv3DTranspose",
    "TaskNeuronConvTranspose",
    "TaskNeuronDense",
    "TaskNeuronSimpleRNNCell",
    "TaskNeuronLSTMCell",
    "TaskNeuronGRUCell",
    "TaskNeuronSimpleRNN",
    "TaskNeuronLSTM",
    "TaskNeuronGRU",
    "TaskNeuronEinsumDense",
    "TaskNeuronLayerFactory",
    "basis_range_report",
    "from_tnlearn",
    "layer_factory",
]
