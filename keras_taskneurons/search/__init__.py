"""Vectorized symbolic regression: the estimators, their fitness, refinement.

* ``estimators``: ``VectorizedSymbolicRegressor``
  and ``VectorizedSymbolicClassifier`` (gplearn's GP on the stacked data);
* ``base``: the search both share (parameters,
  the evolution, the hall of fame and the front);
* ``fitness``: ``1 − R²`` after the best scaling
  of ``Σ_i f(x_i)``, the object gplearn calls, chunked sums;
* ``embedding``: ``EmbeddingSearch``, an embedding's shape chosen by scoring
  the embedding;
* ``refinement``: expansion, pruning and
  least-squares tuning of an evolved formula's constants.
"""

from keras_taskneurons.search.embedding import EmbeddingSearch
from keras_taskneurons.search.estimators import (
    DEFAULT_FUNCTION_SET,
    VectorizedSymbolicClassifier,
    VectorizedSymbolicRegressor,
)

__all__ = [
    "DEFAULT_FUNCTION_SET",
    "EmbeddingSearch",
    "VectorizedSymbolicClassifier",
    "VectorizedSymbolicRegressor",
]
