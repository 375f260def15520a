"""KerasTuner over the front: formula, width and learning rate tuned together."""

import keras
import keras_tuner
import numpy as np
import pytest

from keras_taskneurons import TaskNeuronDense, VectorizedSymbolicRegressor

pytestmark = pytest.mark.once  # TensorFlow's pass: KerasTuner drives Keras, not a backend


def test_keras_tuner_chooses_among_the_front_width_and_learning_rate(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 4))
    y = (np.sin(2.5 * X)).sum(axis=1)
    search = VectorizedSymbolicRegressor(population_size=200, generations=4,
                                         random_state=0).fit(X, y)
    choices = search.equations_.choices
    assert len(choices) >= 2

    def build(hp):
        # The front's strings are valid hp.Choice values; index= maps one back
        # to its exact equation.
        make = search.layer_factory(index=hp.Choice("formula", list(choices)),
                                    activation="relu")
        model = keras.Sequential([keras.Input((4,)),
                                  make(hp.Int("units", 4, 8, step=4), first=True),
                                  keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 1e-3])), "mse")
        return model

    tuner = keras_tuner.RandomSearch(build, objective="val_loss", max_trials=3, seed=0,
                                     directory=str(tmp_path), project_name="front",
                                     overwrite=True)
    tuner.search(X[:300], y[:300], validation_data=(X[300:], y[300:]), epochs=2,
                 batch_size=32, verbose=0)
    trials = tuner.oracle.get_best_trials(3)
    assert len(trials) == 3
    tried = set()
    for trial in trials:
        text = trial.hyperparameters.get("formula")
        tried.add(text)
        rebuilt = tuner.hypermodel.build(trial.hyperparameters)
        layer = next(lay for lay in rebuilt.layers if isinstance(lay, TaskNeuronDense))
        assert layer.formula == search.equations_[search.equations_.index(text)].formula
    assert len(tried) >= 2  # the formula was tuned
    best_hp = tuner.get_best_hyperparameters(1)[0]
    model = tuner.get_best_models(1)[0]
    layer = next(lay for lay in model.layers if isinstance(lay, TaskNeuronDense))
    position = search.equations_.index(best_hp.get("formula"))
    assert layer.formula == search.equations_[position].formula  # exact, not rounded
    assert layer.units == best_hp.get("units")
    assert model.predict(X[300:], verbose=0).shape == (100, 1)
