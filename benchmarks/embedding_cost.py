"""The embedding's training cost: an epoch of the MLP after each first layer,
as a ratio to the plain MLP's, measured side by side in one process.

d = 8 inputs, 16 copies, 16 values per input (#49's goal: an epoch at most
2 times the MLP's), 5,000 rows, batch 256, the MLP (128, 128) of
``embedding.py``. Each network is built and compiled once and trained for
one warm-up epoch; then the networks take turns, one epoch each, for
``--rounds`` rounds, and each network's median epoch is divided by the MLP's.

    python benchmarks/embedding_cost.py            # about a minute on 2 cores
    python benchmarks/embedding_cost.py --quick    # CI
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FIRST_LAYERS = ("periodic", "rbf", "hinge", "periodic, lite")


def networks(d):
    import keras

    from keras_taskneurons import TaskNeuronEmbedding

    def mlp(first):
        keras.utils.set_random_seed(0)
        layers = [keras.Input((d,))] + ([first] if first is not None else [])
        model = keras.Sequential(layers + [keras.layers.Dense(128, activation="relu"),
                                           keras.layers.Dense(128, activation="relu"),
                                           keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        return model

    built = {"MLP": mlp(None)}
    for name in FIRST_LAYERS:
        preset, _, lite = name.partition(", ")
        built[name] = mlp(TaskNeuronEmbedding(16, preset, copies=16, lite=bool(lite), seed=0))
    return built


def main():
    parser = common.argument_parser(__doc__, "embedding_cost")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows, rounds = (500, 2) if args.quick else (5000, args.rounds)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 8)).astype("float32")
    y = np.sin(2 * X).sum(axis=1).astype("float32")
    built = networks(8)
    for model in built.values():  # warm-up: tracing and the first epoch
        model.fit(X, y, batch_size=256, epochs=1, verbose=0)
    times = {name: [] for name in built}
    for _ in range(rounds):
        for name, model in built.items():
            started = time.perf_counter()
            model.fit(X, y, batch_size=256, epochs=1, verbose=0)
            times[name].append(time.perf_counter() - started)
    mlp = float(np.median(times["MLP"]))
    lines = [common.header("The embedding's training cost", sys.argv), __doc__.split("\n\n")[1],
             "| first layer | epoch (median, s) | vs the MLP | parameters |", "|---|---|---|---|"]
    for name, model in built.items():
        epoch = float(np.median(times[name]))
        lines.append(f"| {name if name != 'MLP' else 'none (the MLP)'} | {epoch:.3f} | "
                     f"{epoch / mlp:.2f}× | {model.count_params()} |")
        print(f"{name}: {epoch:.3f} s an epoch, {epoch / mlp:.2f}× the MLP's", flush=True)
    common.write_results("embedding_cost", "\n".join(lines) + "\n",
                         dict(seconds=times, rows=rows, rounds=rounds), args.quick,
                         lambda raw: None)


if __name__ == "__main__":
    main()
