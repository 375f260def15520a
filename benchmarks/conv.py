"""A small CNN against the same CNN with task-based convolutions (fewer parameters).

Protocol: per image set and seed, a stratified 8:2 train/test split; the
formula is searched on the flattened training images (every pixel one input
variable of the shared f, polynomial function set, as ``examples/digits_cnn.py``
does); the CNN is conv(c, 3x3, same, relu) → max-pool 2 → conv(2c, 3x3, same,
relu) → global average pool → softmax, with c = 16 for plain ``Conv2D`` and,
for ``TaskNeuronConv2D`` with that formula, the largest c whose network has
FEWER parameters than the plain one. Both train alike: Adam 3e-3, batch 64, at
most ``--epochs`` epochs, early stopping on the last 10 % of the training split
(patience 10, best weights restored); the test split is used once, at the end.
Accuracy runs on the current backend; the training-step time of the two
networks is measured side by side (interleaved rounds of ``train_on_batch``,
batch 64) in a fresh process per backend.

    KERAS_BACKEND=jax python benchmarks/conv.py --jobs 2   # full: 10 seeds, 3 backends
    python benchmarks/conv.py --quick                      # CI: tiny sizes, current backend
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import images  # noqa: E402

PLAIN_WIDTH = 16
PATIENCE = 10
LEARNING_RATE = 3e-3
BATCH = 64


def network(kind, width, input_shape, n_classes, formula=None, seed=0):
    import keras

    import keras_taskneurons

    keras.utils.set_random_seed(seed)
    if kind == "plain":
        conv = lambda filters: keras.layers.Conv2D(filters, 3, padding="same", activation="relu")  # noqa: E731
    else:
        conv = lambda filters: keras_taskneurons.TaskNeuronConv2D(  # noqa: E731
            filters, 3, formula=formula, padding="same", activation="relu")
    return keras.Sequential([
        keras.Input(input_shape), conv(width), keras.layers.MaxPooling2D(2), conv(2 * width),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(n_classes, activation="softmax"),
    ])


def task_width(formula, input_shape, n_classes, limit):
    """The largest first-layer width whose task-based CNN has fewer than ``limit`` parameters."""
    for width in range(PLAIN_WIDTH, 0, -1):
        params = network("task", width, input_shape, n_classes, formula).count_params()
        if params < limit:
            return width, params
    raise RuntimeError(f"no task-based CNN with formula {formula} has fewer than {limit} parameters")


def search_formula(X, y, seed, quick):
    import keras_taskneurons

    search = keras_taskneurons.VectorizedSymbolicClassifier(
        generations=2 if quick else 10, population_size=100 if quick else 500,
        function_set=("add", "sub", "mul"), scaling="none", random_state=seed,
    ).fit(X.reshape(len(X), -1), y)
    return str(search.formula_)


def split(name, seed, quick):
    from sklearn.model_selection import train_test_split

    X, y = images.IMAGE_SETS[name]()
    if quick:
        keep = np.random.default_rng(seed).choice(len(y), 300, replace=False)
        X, y = X[keep], y[keep]
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y)
    return X[train], y[train], X[test], y[test]


def run_seed(name, seed, epochs, quick):
    import keras

    X, y, X_test, y_test = split(name, seed, quick)
    n_classes = int(y.max()) + 1
    started = time.perf_counter()
    formula = search_formula(X, y, seed, quick)
    search_seconds = time.perf_counter() - started
    plain = network("plain", PLAIN_WIDTH, X.shape[1:], n_classes, seed=seed)
    width, _ = task_width(formula, X.shape[1:], n_classes, plain.count_params())
    models = {"CNN": plain, "TN-CNN": network("task", width, X.shape[1:], n_classes, formula, seed),
              "TN-CNN same width": network("task", PLAIN_WIDTH, X.shape[1:], n_classes, formula, seed)}
    result = {"dataset": name, "seed": seed, "formula": formula, "task_width": width,
              "search_s": search_seconds}
    for kind, model in models.items():
        keras.utils.set_random_seed(seed)
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
        started = time.perf_counter()
        history = model.fit(X, y, validation_split=0.1, epochs=epochs, batch_size=BATCH, verbose=0,
                            callbacks=[keras.callbacks.EarlyStopping(
                                patience=PATIENCE, restore_best_weights=True)])
        prediction = np.asarray(model.predict(X_test, verbose=0, batch_size=1024))
        result[kind] = {
            "accuracy": float(np.mean(prediction.argmax(axis=1) == y_test)),
            "params": int(model.count_params()), "epochs": len(history.history["loss"]),
            "train_s": time.perf_counter() - started,
        }
    print(f"{name} seed {seed}: f = {formula}, CNN {result['CNN']['accuracy']:.3f}, "
          f"TN-CNN {result['TN-CNN']['accuracy']:.3f}, same width "
          f"{result['TN-CNN same width']['accuracy']:.3f}", flush=True)
    return result


def worker_time(name, formula, width, steps, rounds):
    """Median training-step milliseconds of both networks, interleaved (one backend)."""
    X, y = images.IMAGE_SETS[name]()
    n_classes = int(y.max()) + 1  # of the whole set, as the accuracy runs build it
    X, y = X[:BATCH], y[:BATCH]
    models = {"CNN": network("plain", PLAIN_WIDTH, X.shape[1:], n_classes),
              "TN-CNN": network("task", width, X.shape[1:], n_classes, formula)}
    for model in models.values():
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        for _ in range(3):  # compile and warm up
            model.train_on_batch(X, y)
    samples = {kind: [] for kind in models}
    for _ in range(rounds):
        for kind, model in models.items():
            samples[kind].append(common.timed(lambda: model.train_on_batch(X, y), steps))
    print(json.dumps({kind: float(np.median(values)) for kind, values in samples.items()}))


def summary(values):
    return f"{np.mean(values):.3f} ({np.std(values):.3f})"


def main():
    parser = common.argument_parser(__doc__, "conv")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--backends", default=None,
                        help="comma-separated backends for the step times (default: all three; "
                             "--quick: the current one)")
    parser.add_argument("--timing-only", action="store_true",
                        help="keep the accuracy runs of results/conv.json, measure the step times again")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, formula, width, steps, rounds = args.worker
        worker_time(name, formula, int(width), int(steps), int(rounds))
        return
    if args.plot_only:
        plot(common.read_results("conv"))
        return
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    import keras

    seeds = 1 if args.quick else args.seeds
    epochs = 2 if args.quick else args.epochs
    names = list(images.IMAGE_SETS)
    if args.timing_only:
        previous = common.read_results("conv")
        runs, accuracy_backend = previous["runs"], previous["accuracy_backend"]
        seeds = len({run["seed"] for run in runs})
    else:
        runs = common.parallel_map(run_seed, [(name, seed, epochs, args.quick)
                                              for name in names for seed in range(seeds)],
                                   args.jobs)
        accuracy_backend = keras.backend.backend()
    backends = (args.backends or (keras.backend.backend() if args.quick
                                  else "tensorflow,jax,torch")).split(",")
    steps, rounds = (3, 3) if args.quick else (10, 7)
    timing = {}
    for name in names:
        first = next(run for run in runs if run["dataset"] == name)
        for backend in backends:
            print(f"step time: {name}, {backend}", flush=True)
            timing.setdefault(name, {})[backend] = json.loads(common.run_worker(
                os.path.abspath(__file__),
                ["--worker", name, first["formula"], str(first["task_width"]), str(steps),
                 str(rounds)], backend))

    from keras_taskneurons import Formula

    rows = []
    for name in names:
        mine = [run for run in runs if run["dataset"] == name]
        plain = [run["CNN"]["accuracy"] for run in mine]
        task = [run["TN-CNN"]["accuracy"] for run in mine]
        wins = sum(t > p for t, p in zip(task, plain))
        ties = sum(t == p for t, p in zip(task, plain))
        formulas = sorted({Formula.parse(run["formula"]).format(3) for run in mine})
        wide = [run["TN-CNN same width"]["accuracy"] for run in mine]
        rows.append([
            name, summary(plain), summary(task),
            f"{mine[0]['CNN']['params']}",
            " / ".join(sorted({str(run["TN-CNN"]["params"]) for run in mine})),
            f"{wins} / {ties} / {len(mine) - wins - ties}",
            summary(wide),
            " / ".join(sorted({str(run["TN-CNN same width"]["params"]) for run in mine})),
            ", ".join(f"`{formula}`" for formula in formulas),
        ])
    time_rows = [
        [name, backend, f"{times['CNN']:.2f}", f"{times['TN-CNN']:.2f}",
         f"**{times['TN-CNN'] / times['CNN']:.2f}x**"]
        for name, by_backend in timing.items() for backend, times in by_backend.items()
    ]
    text = common.header("Plain vs task-based convolutions (small CNN)", sys.argv) + "\n".join([
        " ".join(__doc__.split("\n\n")[1].split()),
        "",
        f"Accuracy backend: {accuracy_backend}. Seeds: {seeds}. Image sets: "
        + " ".join(images.__doc__.split("\n\n")[1].split()).replace("- ", ""),
        "",
        "Test accuracy, mean (std) over seeds; parameters of each network (the task-based "
        "CNN's width follows each seed's formula); TN-CNN better / equal / worse than the "
        "CNN on the same split and seed; for reference, the task-based CNN of the plain "
        "one's width (c = 16, MORE parameters), which separates what the bases add from "
        "what the narrower width costs; the formulas found.",
        "",
        common.table(["image set", "CNN accuracy", "TN-CNN accuracy", "CNN params",
                      "TN-CNN params", "TN better / equal / worse",
                      "TN-CNN same width accuracy", "its params", "formulas"], rows),
        "",
        f"Training-step time (ms, batch {BATCH}, median of {rounds} interleaved rounds of "
        f"{steps} steps, CPU; seed 0's formula and width), per backend:",
        "",
        common.table(["image set", "backend", "CNN ms", "TN-CNN ms", "ratio"], time_rows),
        "",
    ])
    raw = {"accuracy_backend": accuracy_backend, "runs": runs, "timing": timing}
    common.write_results("conv", text, raw, args.quick, plot)


def plot(raw):
    plt = common.pyplot()

    names = list(dict.fromkeys(run["dataset"] for run in raw["runs"]))
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4))
    for axis, name in zip(np.atleast_1d(axes), names):
        mine = [run for run in raw["runs"] if run["dataset"] == name]
        plain = [run["CNN"]["accuracy"] for run in mine]
        task = [run["TN-CNN"]["accuracy"] for run in mine]
        axis.scatter(plain, task)
        low, high = min(plain + task) - 0.01, max(plain + task) + 0.01
        axis.plot([low, high], [low, high], color="gray", lw=0.5)
        axis.set_xlabel(f"CNN accuracy ({mine[0]['CNN']['params']} params)")
        axis.set_ylabel("TN-CNN accuracy (fewer params)")
        axis.set_title(f"{name}: one point per seed")
    figure.tight_layout()
    figure.savefig(os.path.join(common.RESULTS, "conv.png"), dpi=100)


if __name__ == "__main__":
    main()
