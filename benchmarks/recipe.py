"""The README recipe, as a user runs it on raw features, and its Dense twin.

``readme_networks`` follows the README's Usage example with the estimators'
defaults only: the search on the raw training rows, ``search.layer_factory(
activation="relu")``, ``Sequential([Input, make(32, first=True), make(16), head])``. The
linear network is the narrowest ``Dense`` network of the same shape with at
least as many parameters, given an adapted ``keras.layers.Normalization``
first (what a careful Keras user gives a Dense network on raw features).
``fit_and_score`` trains either the same way: Adam (learning rate 1e-3),
batch 32, at most ``epochs`` epochs, early stopping on the last 10 % of the
training rows (patience 20, best weights restored).
"""

import time

import numpy as np

HIDDEN = (32, 16)
PATIENCE = 20


def search(X, y, task, seed, quick=False, **options):
    """The search with its defaults (a smaller one with ``quick``) but
    ``options``."""
    from keras_taskneurons import VectorizedSymbolicClassifier, VectorizedSymbolicRegressor

    Search = VectorizedSymbolicClassifier if task == "classification" else VectorizedSymbolicRegressor
    started = time.perf_counter()
    found = Search(random_state=seed, **options,
                   **(dict(population_size=100, generations=2) if quick else {}))
    found.fit(X, y)
    return found, time.perf_counter() - started


def readme_networks(found, X, n_outputs, task, seed, hidden=HIDDEN, interactions=False,
                    **layer_options):
    """``{"TN": model, "LN": model}`` for the raw training rows ``X``
    (``interactions``: the first layer takes the search's suggested rank)."""
    import keras

    from keras_taskneurons import networks

    head = dict(activation="softmax") if task == "classification" else {}
    keras.utils.set_random_seed(seed)
    make = found.layer_factory(interactions=interactions, activation="relu", **layer_options)
    tn = keras.Sequential([keras.Input((X.shape[1],))] + [make(w, first=i == 0) for i, w in enumerate(hidden)]
                          + [keras.layers.Dense(n_outputs, **head)])
    widths = networks.matching_linear_widths(list(hidden), X.shape[1], n_outputs,
                                             tn.count_params())
    keras.utils.set_random_seed(seed)
    normalization = keras.layers.Normalization()
    normalization.adapt(X)
    ln = keras.Sequential([keras.Input((X.shape[1],)), normalization]
                          + [keras.layers.Dense(w, activation="relu") for w in widths]
                          + [keras.layers.Dense(n_outputs, **head)])
    return {"TN": tn, "LN": ln}, widths


def fit_and_score(model, X, y, X_test, y_test, task, epochs, seed, batch_size=32,
                  patience=PATIENCE, learning_rate=1e-3):
    """Train (module docstring; ``batch_size``, early stopping's ``patience``
    and Adam's ``learning_rate`` may differ); test MSE (regression) or
    accuracy."""
    import keras

    keras.utils.set_random_seed(seed)
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    model.fit(X, y, validation_split=0.1, epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True),
                         keras.callbacks.TerminateOnNaN()])
    prediction = np.asarray(model.predict(X_test, verbose=0, batch_size=4096))
    if task == "classification":
        return float(np.mean(prediction.argmax(axis=1) == y_test))
    score = float(np.mean((prediction[:, 0] - y_test) ** 2))
    return score if np.isfinite(score) else float("inf")


def trainable_parameters(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
