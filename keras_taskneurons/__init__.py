"""keras-taskneurons: task-based neurons for Keras 3.

Two steps (Fan et al., "No One-Size-Fits-All Neurons", arXiv 2405.02369):

1. [VectorizedSymbolicRegressor][keras_taskneurons.VectorizedSymbolicRegressor] finds ONE formula ``f`` in one
   variable, shared by every input, with ``y ≈ a·Σ_i f(x_i) + b``;
2. [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] turns ``f`` into a dense layer with trainable
   coefficients.
"""

import importlib
from typing import TYPE_CHECKING

from keras_taskneurons.cli import startup

if TYPE_CHECKING:  # what _load_public imports (_HOMES), for type checkers, IDEs and the API docs
    from keras_taskneurons.formula import Formula
    from keras_taskneurons.input_map import InputMap
    from keras_taskneurons.layers import (
        BasisRangeMonitor,
        TaskNeuronConv1D,
        TaskNeuronConv1DTranspose,
        TaskNeuronConv2D,
        TaskNeuronConv2DTranspose,
        TaskNeuronConv3D,
        TaskNeuronConv3DTranspose,
        TaskNeuronDense,
        TaskNeuronEinsumDense,
        TaskNeuronEmbedding,
        TaskNeuronGRU,
        TaskNeuronGRUCell,
        TaskNeuronLSTM,
        TaskNeuronLSTMCell,
        TaskNeuronSimpleRNN,
        TaskNeuronSimpleRNNCell,
        basis_range_report,
        from_tnlearn,
        layer_factory,
    )
    from keras_taskneurons.plotting import plot_learned_functions
    from keras_taskneurons.primitives import PRIMITIVES
    from keras_taskneurons.pruning import prune
    from keras_taskneurons.search import (
        EmbeddingSearch,
        VectorizedSymbolicClassifier,
        VectorizedSymbolicRegressor,
    )

__version__ = "0.2.0"


_HOMES = {
    "BasisRangeMonitor": "layers",
    "EmbeddingSearch": "search",
    "Formula": "formula",
    "InputMap": "input_map",
    "PRIMITIVES": "primitives",
    "plot_learned_functions": "plotting",
    "prune": "pruning",
    "TaskNeuronConv1D": "layers",
    "TaskNeuronConv2D": "layers",
    "TaskNeuronConv3D": "layers",
    "TaskNeuronConv1DTranspose": "layers",
    "TaskNeuronConv2DTranspose": "layers",
    "TaskNeuronConv3DTranspose": "layers",
    "TaskNeuronDense": "layers",
    "TaskNeuronEinsumDense": "layers",
    "TaskNeuronEmbedding": "layers",
    "TaskNeuronSimpleRNNCell": "layers",
    "TaskNeuronLSTMCell": "layers",
    "TaskNeuronGRUCell": "layers",
    "TaskNeuronSimpleRNN": "layers",
    "TaskNeuronLSTM": "layers",
    "TaskNeuronGRU": "layers",
    "VectorizedSymbolicClassifier": "search",
    "VectorizedSymbolicRegressor": "search",
    "basis_range_report": "layers",
    "from_tnlearn": "layers",
    "layer_factory": "layers",
}
"""``{public name: the module of the package it comes from}``; the imports
under ``TYPE_CHECKING`` above name the same (``tests/test_startup.py``)."""

__all__ = list(_HOMES)


def _load_public(command_line=None, verbose=False):
    """Import the public names; Keras, its backend and every layer's
    registration with ``keras.saving`` come with them. Runs at import, or,
    in the command line's own process, when a command starts (``cli.entry.main``)
    or a public name is first used."""
    startup.import_backend(command_line, verbose)  # before anything imports Keras: quiet for the command line
    for name, home in _HOMES.items():
        globals()[name] = getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __getattr__(name):
    """The public names, imported on first use where the import was
    deferred (below)."""
    if name in __all__:
        _load_public()
        return globals()[name]
    raise AttributeError(f"module 'keras_taskneurons' has no attribute {name!r}")


# Importing the package imports Keras and registers every layer, so that
# keras.models.load_model finds them. The command line defers it until a
# command runs (cli.entry.main calls _load_public before any command), so that
# `--help` answers without importing a backend.
if not startup.is_command_line():
    _load_public()
