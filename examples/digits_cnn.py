"""A task-based CNN on scikit-learn's bundled digits (8x8 images).

A formula for images: the search runs on the flattened images (every pixel
is one input variable of the shared f), with ONE map for all pixels
(scaling="global"), which the first convolution then applies to every
channel. The formula becomes the aggregation of every TaskNeuronConv2D; the
network is trained on the raw pixel values, saved and reloaded.
"""

import os
import warnings

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_taskneurons

QUICK = os.environ.get("KERAS_TASKNEURONS_QUICK") == "1"  # tiny sizes for the tests

images, labels = load_digits(return_X_y=True)
images = images.astype("float32")  # raw pixel values 0..16
X_train, X_test, y_train, y_test = train_test_split(
    images, labels, test_size=0.2, random_state=0, stratify=labels)

# Step 1: one formula for all 64 pixels, fitted to the digit classes. Four
# border pixels are 0 in every training image; the search would warn that
# they add only a constant (expected here: a CNN keeps the image's shape).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="X has constant features")
    search = keras_taskneurons.VectorizedSymbolicClassifier(
        generations=2 if QUICK else 10, population_size=100 if QUICK else 500,
        function_set=("add", "sub", "mul"), scaling="global", random_state=0,
    ).fit(X_train, y_train)
print("f(x) =", search.formula_.format(4))
# The search's own model (a weight per pixel and basis of f, then a logistic
# map): how well f's bases separate the classes before any network is built.
print(f"the search's own model: test accuracy {search.score(X_test, y_test):.3f}")

# Step 2: a CNN whose convolutions aggregate with that formula.
make = search.layer_factory(activation="relu")
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    make.conv2d(16, 3, padding="same", first=True),
    keras.layers.MaxPooling2D(2),
    make.conv2d(32, 3, padding="same"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
as_images = lambda x: x.reshape(-1, 8, 8, 1)  # noqa: E731
model.fit(as_images(X_train), y_train, epochs=1 if QUICK else 60, batch_size=32, verbose=2,
          validation_split=0.1,
          callbacks=[keras.callbacks.EarlyStopping(patience=8, restore_best_weights=True)])
_, accuracy = model.evaluate(as_images(X_test), y_test, verbose=0)
print(f"test accuracy: {accuracy:.3f} with {model.count_params()} parameters")

model.save("digits_cnn.keras")
reloaded = keras.models.load_model("digits_cnn.keras")  # the formula travels in the file
difference = np.max(np.abs(reloaded.predict(as_images(X_test), verbose=0)
                           - model.predict(as_images(X_test), verbose=0)))
print(f"max difference after reload: {difference:.2e}")
assert difference < 1e-5
