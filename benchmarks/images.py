"""Image sets of the convolution benchmark, offline: pixels in [-1, 1], NHWC.

- ``digits``: scikit-learn's bundled handwritten digits, 1,797 images of 8x8.
- ``shapes``: a generated set (no registry package ships a larger image set
  that can be read offline without its own download step), 16x16 grey images of
  six classes drawn at a random position, size and brightness on Gaussian
  noise: filled disc, ring, filled square, square outline, plus sign, x sign.
  3,000 images, fixed generator seed, so every run sees the same images.
"""

import numpy as np

SHAPE_CLASSES = ("disc", "ring", "square", "square outline", "plus", "cross")


def digits():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return (images / 8.0 - 1.0).astype("float32").reshape(-1, 8, 8, 1), labels.astype("int64")


def _draw(kind, size, rng):
    """One shape (values in [0, 1]) of the class ``kind`` on a ``size``² canvas."""
    radius = rng.uniform(3.0, 6.0)
    cy, cx = rng.uniform(radius, size - 1 - radius, 2)
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    dy, dx = rows - cy, cols - cx
    width = rng.uniform(0.8, 1.6)  # stroke width
    if kind == "disc":
        mask = np.hypot(dy, dx) <= radius
    elif kind == "ring":
        mask = np.abs(np.hypot(dy, dx) - radius) <= width / 2 + 0.3
    elif kind == "square":
        mask = np.maximum(np.abs(dy), np.abs(dx)) <= radius * 0.85
    elif kind == "square outline":
        mask = np.abs(np.maximum(np.abs(dy), np.abs(dx)) - radius * 0.85) <= width / 2 + 0.3
    elif kind == "plus":
        mask = ((np.abs(dy) <= width / 2 + 0.3) | (np.abs(dx) <= width / 2 + 0.3)) & (
            np.maximum(np.abs(dy), np.abs(dx)) <= radius)
    else:  # cross
        mask = ((np.abs(dy - dx) <= width / 1.4 + 0.3) | (np.abs(dy + dx) <= width / 1.4 + 0.3)) & (
            np.maximum(np.abs(dy), np.abs(dx)) <= radius * 0.8)
    return mask * rng.uniform(0.5, 1.0)


def shapes(count=3000, size=16, noise=0.35, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(SHAPE_CLASSES)
    rng.shuffle(labels)
    images = np.stack([_draw(SHAPE_CLASSES[label], size, rng) for label in labels])
    images = np.clip(images + rng.normal(0.0, noise, images.shape), 0.0, 1.0)
    return (2.0 * images - 1.0).astype("float32")[..., None], labels.astype("int64")


IMAGE_SETS = {"digits 8x8 (scikit-learn)": digits, "shapes 16x16 (generated)": shapes}
