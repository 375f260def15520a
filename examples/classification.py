"""Classification: a formula for breast-cancer data, then a task-based network."""

import os

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import keras_taskneurons

QUICK = os.environ.get("KERAS_TASKNEURONS_QUICK") == "1"  # tiny sizes for the tests

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
X_train, X_test = X_train.astype("float32"), X_test.astype("float32")  # raw features

# Step 1: one formula for all 30 features, fitted to the class labels (the
# search standardizes each column first: its input map, input_map_).
search = keras_taskneurons.VectorizedSymbolicClassifier(
    generations=3 if QUICK else 20, population_size=200 if QUICK else 1000,
    function_set=("add", "sub", "mul"), random_state=0,
).fit(X_train, y_train)
print("f(x) =", search.formula_.format(4), " search accuracy:", search.score(X_test, y_test))

# Step 2: a network of task-based neurons with that formula; its first layer
# holds the search's input map, so it takes the raw features too.
make = search.layer_factory(activation="relu")
model = keras.Sequential([keras.Input((30,)), make(16, first=True), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(X_train, y_train, epochs=2 if QUICK else 100, batch_size=32, verbose=2,
          validation_split=0.2, callbacks=[keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)])
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print(f"test accuracy: {accuracy:.3f}")
model.save("classification.keras")
