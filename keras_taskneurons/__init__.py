"""keras-taskneurons: task-based neurons for Keras 3.

Two steps (Fan et al., "No One-Size-Fits-All Neurons", arXiv 2405.02369):

1. :class:`VectorizedSymbolicRegressor` finds ONE formula ``f`` in one
   variable, shared by every input, with ``y ≈ a·Σ_i f(x_i) + b``;
2. :class:`TaskNeuronDense` turns ``f`` into a dense layer with trainable
   coefficients.
"""

from keras_taskneurons import startup

startup.import_backend()  # before anything imports Keras: quiet for the command line

from keras_taskneurons.formula import Formula
from keras_taskneurons.input_map import InputMap
from keras_taskneurons.layers import (
    BasisRangeMonitor,
    TaskNeuronConv1D,
    TaskNeuronConv2D,
    TaskNeuronConv3D,
    TaskNeuronConv1DTranspose,
    TaskNeuronConv2DTranspose,
    TaskNeuronConv3DTranspose,
    TaskNeuronDense,
    TaskNeuronEinsumDense,
    TaskNeuronSimpleRNNCell,
    TaskNeuronLSTMCell,
    TaskNeuronGRUCell,
    TaskNeuronSimpleRNN,
    TaskNeuronLSTM,
    TaskNeuronGRU,
    basis_range_report,
    from_tnlearn,
    layer_factory,
)
from keras_taskneurons.plotting import plot_learned_functions
from keras_taskneurons.primitives import PRIMITIVES
from keras_taskneurons.pruning import prune
from keras_taskneurons.search import (
    VectorizedSymbolicClassifier,
    VectorizedSymbolicRegressor,
)

__version__ = "0.2.0"

__all__ = [
    "BasisRangeMonitor",
    "Formula",
    "InputMap",
    "PRIMITIVES",
    "plot_learned_functions",
    "prune",
    "TaskNeuronConv1D",
    "TaskNeuronConv2D",
    "TaskNeuronConv3D",
    "TaskNeuronConv1DTranspose",
    "TaskNeuronConv2DTranspose",
    "TaskNeuronConv3DTranspose",
    "TaskNeuronDense",
    "TaskNeuronEinsumDense",
    "TaskNeuronSimpleRNNCell",
    "TaskNeuronLSTMCell",
    "TaskNeuronGRUCell",
    "TaskNeuronSimpleRNN",
    "TaskNeuronLSTM",
    "TaskNeuronGRU",
    "VectorizedSymbolicClassifier",
    "VectorizedSymbolicRegressor",
    "basis_range_report",
    "from_tnlearn",
    "layer_factory",
]
