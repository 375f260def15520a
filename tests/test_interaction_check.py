"""The search's check whether interaction terms pay, and its hand-off."""

import numpy as np
import pytest

from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor
from keras_taskneurons.search import interactions

pytestmark = pytest.mark.once  # numpy only: the TensorFlow pass runs it


def _data(product, seed=0, n=1200):
    rng = np.random.default_rng(seed)
    U = rng.uniform(-1, 1, (n, 5))
    y = np.sin(2 * U).sum(axis=1) + 0.02 * rng.normal(size=n)
    if product:
        y = y + 2 * U[:, 0] * U[:, 1]
    return U * np.array([1.0, 10.0, 100.0, 0.1, 3.0]), y  # columns of different units


def _search(X, y, cls=VectorizedSymbolicRegressor):
    return cls(population_size=200, generations=4, random_state=0).fit(X, y)


def test_a_product_of_two_inputs_is_found_to_pay():
    found = _search(*_data(product=True))
    losses = found.interaction_losses_
    assert set(losses) == {0, *interactions.RANKS}
    assert found.interaction_rank_ >= 1
    assert found.interaction_gain_ > 5
    assert losses[found.interaction_rank_] * found.interaction_gain_ == pytest.approx(losses[0])


def test_a_separable_target_gets_no_interactions():
    found = _search(*_data(product=False))
    assert found.interaction_rank_ == 0 and found.interaction_gain_ == 1.0
    assert found.interaction_losses_[0] < 0.05  # the separable fit explains it


def test_the_factory_gives_the_first_layer_the_suggested_rank_when_asked():
    found = _search(*_data(product=True))
    assert found.layer_factory()(8, first=True).interaction_rank == 0  # off by default
    make = found.layer_factory(interactions=True, activation="relu")
    first, second = make(8, first=True), make(4)
    assert first.interaction_rank == found.interaction_rank_ >= 1
    assert second.interaction_rank == 0
    make = found.layer_factory(interactions=True, interaction_rank=0)
    assert make(8, first=True).interaction_rank == 0
    make = found.layer_factory(interactions=True)
    assert make.lstm(3, first=True).cell.interaction_rank == found.interaction_rank_  # any kind
    with pytest.raises(TypeError, match="interactions='yes'"):
        found.layer_factory(interactions="yes")


def test_the_classifier_checks_one_hot_targets():
    X, y = _data(product=True)
    found = _search(X, (y > np.median(y)).astype(int), VectorizedSymbolicClassifier)
    assert set(found.interaction_losses_) == {0, *interactions.RANKS}
    assert found.interaction_rank_ in (0, *interactions.RANKS)


def test_too_wide_inputs_skip_the_check(monkeypatch):
    monkeypatch.setattr(interactions, "MAX_COLUMNS", 10)
    found = _search(*_data(product=True))
    assert found.interaction_losses_ == {} and found.interaction_rank_ == 0


@pytest.mark.parametrize("losses, rank", [
    ({0: 0.5, 1: 0.1, 2: 0.09, 4: 0.08}, 1),   # rank 1 has 95 % of the best improvement
    ({0: 0.5, 1: 0.4, 2: 0.1, 4: 0.1}, 2),
    ({0: 0.5, 1: 0.48, 2: 0.47, 4: 0.46}, 0),  # 8 %: below the factor 1.1
    ({0: 0.005, 1: 0.001, 2: 0.001, 4: 0.001}, 0),  # 0.4 % of the variance: too little
    ({}, 0),
])
def test_the_suggested_rank(losses, rank):
    assert interactions.suggested_rank(losses) == rank
