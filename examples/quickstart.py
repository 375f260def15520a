"""Quickstart: search a formula, build task-based layers, train, save, load."""

import os

import keras
import numpy as np

import keras_taskneurons

QUICK = os.environ.get("KERAS_TASKNEURONS_QUICK") == "1"  # tiny sizes for the tests

# Data whose target is a sum of the same function of each input, the inputs
# given in units of their own (column i is u_i * 10**(i - 3) + i).
rng = np.random.default_rng(0)
U = rng.uniform(-1, 1, (2000, 8))
X = (U * 10.0 ** (np.arange(8) - 3) + np.arange(8)).astype("float32")
y = (U**2 - 0.5 * U).sum(axis=1, keepdims=True).astype("float32")

# Step 1: vectorized symbolic regression finds one formula f shared by all
# inputs, on each column standardized (search.input_map_).
search = keras_taskneurons.VectorizedSymbolicRegressor(
    generations=3 if QUICK else 20, population_size=200 if QUICK else 1000,
    function_set=("add", "sub", "mul"), random_state=0, verbose=1,
).fit(X, y[:, 0])
print("f(x) =", search.formula_.format(4))

# Step 2: the formula becomes the aggregation of TaskNeuronDense layers; the
# first holds the input map, so the model takes the raw X.
make = search.layer_factory(activation="relu")
model = keras.Sequential([keras.Input((8,)), make(32, first=True), make(16), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X, y, epochs=2 if QUICK else 50, batch_size=64, validation_split=0.2, verbose=2)

model.save("quickstart.keras")  # the formula is stored inside the file
reloaded = keras.models.load_model("quickstart.keras")  # safe_mode=True
print("max difference after reload:", float(np.abs(reloaded.predict(X[:5], verbose=0) - model.predict(X[:5], verbose=0)).max()))
