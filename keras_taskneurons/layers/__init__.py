"""Task-neuron layers: one basis machinery (``basis``, with LoRA in
``lora`` and the range check in ``monitor``), the dense layer
(``dense``), the einsum layer (``einsum``), the embedding (``embedding``:
each input in copies at trainable inner constants), the convolutions and
transposed convolutions (``conv``), the recurrent cells and layers
(``cells``, ``recurrent``), the interaction term (``interaction``),
[layer_factory][keras_taskneurons.layer_factory] (``factory``) and tnlearn's expressions read in
([from_tnlearn][keras_taskneurons.from_tnlearn], ``tnlearn``)."""

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
from keras_taskneurons.layers.embedding import PRESETS, TaskNeuronEmbedding
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
    "TaskNeuronEmbedding",
    "PRESETS",
    "TaskNeuronLayerFactory",
    "basis_range_report",
    "from_tnlearn",
    "layer_factory",
]
