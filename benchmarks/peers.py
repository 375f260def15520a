"""Controls and the tabular peer for the network benchmarks.

- **Fixed formula**: the README recipe's layers with a FIXED ``x**2`` on the
  search's map (same factory options, same training): does the search beat
  the obvious guess?
- **Random formula** (:func:`random_formula`): a formula drawn at random
  from the search's function set (depth at most 3, constants in [-1, 1]),
  seeded per seed (the same draw on every dataset in ``tabular_recipe.py``;
  per dataset and seed, never the fixed formula's bases, in
  ``tabular_controls.py``), on the same map: tnlearn's random baselines.
- **MLP-PLR** (:class:`PeriodicEmbedding`): the tabular peer a user would
  pick, written from Gorishniy et al. (2022): per feature ``k`` trainable
  frequencies ``c ~ N(0, σ)``, ``[cos(2π c x), sin(2π c x)]``, a linear map
  to ``d`` values per feature (its own per feature) and ReLU, flattened into
  the same MLP; its inputs quantile-transformed to a normal distribution on
  the training rows, as the paper does. Untuned: ``k = d = 16``, ``σ = 0.3``.
"""

import numpy as np

FIXED = "x**2"
PLR_FREQUENCIES = 16
PLR_WIDTH = 16
PLR_SIGMA = 0.3


def random_formula(function_set, seed, depth=3, dataset=None, exclude=()):
    """A formula drawn from ``function_set`` (names of the primitives), a
    tree of at most ``depth`` levels with leaves ``x`` or a constant; drawn
    again until it is a valid layer formula that is not ``x`` alone and
    whose bases but ``x`` differ from those of each formula in ``exclude``.
    Seeded by ``seed`` and, when given, the ``dataset`` name (otherwise the
    same draw on every dataset)."""
    import zlib

    from keras_taskneurons import Formula, primitives

    def other_bases(formula):
        return sorted(str(b) for _, b in formula.terms()[1] if str(b) != "x")

    excluded = [other_bases(Formula(f)) for f in exclude]
    salt = [] if dataset is None else [zlib.crc32(dataset.encode())]
    rng = np.random.default_rng([seed, 7919, *salt])
    arity = {name: primitives.get_primitive(name).arity for name in function_set}

    def draw(level):
        if level == depth or (level > 0 and rng.random() < 0.3):
            return "x" if rng.random() < 0.7 else f"{rng.uniform(-1, 1):.3f}"
        name = function_set[rng.integers(len(function_set))]
        return f"{name}({', '.join(draw(level + 1) for _ in range(arity[name]))})"

    for _ in range(1000):
        try:
            formula = Formula(draw(0))
            others = other_bases(formula)
        except ValueError:
            continue
        if others and others not in excluded:  # not x alone, not an excluded formula's bases
            return formula
    raise RuntimeError("no valid random formula drawn")


def periodic_embedding_class():
    import keras
    from keras import ops

    class PeriodicEmbedding(keras.layers.Layer):
        """``(batch, d)`` → ``(batch, d·width)``: PLR per feature (module docstring)."""

        def __init__(self, frequencies=PLR_FREQUENCIES, width=PLR_WIDTH, sigma=PLR_SIGMA,
                     **kwargs):
            super().__init__(**kwargs)
            self.frequencies, self.width, self.sigma = frequencies, width, sigma

        def build(self, input_shape):
            d = input_shape[-1]
            self.c = self.add_weight(
                name="frequencies", shape=(d, self.frequencies),
                initializer=keras.initializers.RandomNormal(stddev=self.sigma))
            self.w = self.add_weight(name="kernel", shape=(d, 2 * self.frequencies, self.width),
                                     initializer="glorot_uniform")
            self.b = self.add_weight(name="bias", shape=(d, self.width), initializer="zeros")

        def call(self, x):
            angles = 2 * np.pi * x[:, :, None] * self.c  # (batch, d, k)
            v = ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)
            h = ops.relu(ops.einsum("bdk,dkw->bdw", v, self.w) + self.b)
            return ops.reshape(h, (-1, h.shape[1] * self.width))

    return PeriodicEmbedding


def quantile_normal(X_train, *others):
    """Each column quantile-transformed to a normal distribution (fitted on
    ``X_train``): the PLR peer's inputs."""
    from sklearn.preprocessing import QuantileTransformer

    transform = QuantileTransformer(output_distribution="normal",
                                    n_quantiles=min(1000, len(X_train)), random_state=0)
    transform.fit(X_train)
    return [transform.transform(X).astype("float32") for X in (X_train, *others)]


def control_networks(found, X, n_outputs, task, seed, hidden, function_set):
    """``{"fixed": model, "random": model, "PLR": model}`` and the random
    formula, built like the README recipe's network (``recipe.py``)."""
    import keras

    import keras_taskneurons
    from keras_taskneurons.search.base import first_layer_options

    head = dict(activation="softmax") if task == "classification" else {}
    drawn = random_formula(tuple(function_set), seed)
    models = {}
    for kind, formula in (("fixed", FIXED), ("random", drawn)):
        keras.utils.set_random_seed(seed)
        # What search.layer_factory() builds, the formula aside.
        make = keras_taskneurons.layer_factory(
            formula, input_map=found.input_map_,
            first_layer=first_layer_options({}), activation="relu")
        models[kind] = keras.Sequential(
            [keras.Input((X.shape[1],))] + [make(w, first=i == 0) for i, w in enumerate(hidden)]
                                        + [keras.layers.Dense(n_outputs, **head)])
    models["PLR"] = plr_network(hidden, X.shape[1], n_outputs, task, seed)
    return models, drawn


def plr_network(hidden, n_features, n_outputs, task, seed, activation="relu"):
    """MLP-PLR: :class:`PeriodicEmbedding` then ``Dense`` layers of the
    ``hidden`` widths and the task's head, built after
    ``keras.utils.set_random_seed(seed)``."""
    import keras

    keras.utils.set_random_seed(seed)
    head = dict(activation="softmax") if task == "classification" else {}
    return keras.Sequential(
        [keras.Input((n_features,)), periodic_embedding_class()()]
        + [keras.layers.Dense(width, activation=activation) for width in hidden]
        + [keras.layers.Dense(n_outputs, **head)])
