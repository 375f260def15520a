"""Cost of TaskNeuronDense against Dense: training step, inference, memory.

Each backend runs in its own process. Inside a process the Dense layer and the
task-neuron layer of the same shape are timed side by side, interleaved, so the
ratio is robust to machine noise. Peak memory is the growth of the peak RSS of
a fresh process while it runs training steps of one layer only.

    python benchmarks/layer.py            # full: 3 backends, all configurations
    python benchmarks/layer.py --quick    # CI: current backend, 2 configurations
    python benchmarks/layer.py --ranges   # the default layer by basis_range, one process each
"""

import argparse
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CONFIGS = {
    "terms, 1 term (x)": ("x", "terms"),
    "terms, 2 terms (x**2 + x)": ("x**2 + x", "terms"),
    "terms, 3 terms": ("x**3 + x**2 + x", "terms"),
    "terms, 4 terms": ("x**4 + x**3 + x**2 + x", "terms"),
    "terms, 5 terms": ("x**5 + x**4 + x**3 + x**2 + x", "terms"),
    "constants, sin(1.3*x + 0.2) + x": ("sin(1.3*x + 0.2) + x", "constants"),
    "input_constants, sin(1.3*x + 0.2) + x": ("sin(1.3*x + 0.2) + x", "input_constants"),
    "terms, x**2 + x, interaction rank 1": ("x**2 + x", "terms", 1),
    "terms, x**2 + x, interaction rank 2": ("x**2 + x", "terms", 2),
    "terms, x**2 + x, interaction rank 4": ("x**2 + x", "terms", 4),
}
"""name: (formula, parameterization[, interaction_rank[, other layer options]])."""
QUICK_CONFIGS = ["terms, 2 terms (x**2 + x)", "terms, x**2 + x, interaction rank 1"]
"""CI's smoke run (the other parameterizations' cost is in the full run; the
suite tests them)."""


def build(formula, parameterization, interaction_rank=0, options=None, *, width, batch):
    import keras
    import numpy as np

    import keras_taskneurons

    keras.utils.set_random_seed(0)
    if formula is None:
        layer = keras.layers.Dense(width)
    else:
        layer = keras_taskneurons.TaskNeuronDense(width, formula, parameterization=parameterization,
                                                  interaction_rank=interaction_rank,
                                                  **(options or {}))
    model = keras.Sequential([keras.Input((width,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, width)).astype("float32")
    y = rng.normal(size=(batch, width)).astype("float32")
    return model, x, y


def worker_time(name, width, batch, steps, rounds):
    models = {
        "dense": build(None, None, width=width, batch=batch),
        "task": build(*CONFIGS[name], width=width, batch=batch),
    }
    for model, x, y in models.values():  # compile and warm up
        for _ in range(3):
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
    samples = {key: {"train": [], "infer": []} for key in models}
    for _ in range(rounds):  # interleaved: dense, task, dense, task, ...
        for key, (model, x, y) in models.items():
            samples[key]["train"].append(common.timed(lambda: model.train_on_batch(x, y), steps))
            samples[key]["infer"].append(common.timed(lambda: model.predict_on_batch(x), steps))
    def median(values):
        return sorted(values)[len(values) // 2]

    out = {key: {k: median(v) for k, v in s.items()} for key, s in samples.items()}
    print(json.dumps(out))


HELD = "running, statistics held (the affine map and clip only)"
RANGES = {"Dense": None, "running (default without a map)": "running",
          HELD: "running",
          "clip (a layer with the search's map)": "clip", "None (unbounded)": None}
"""``--ranges``: the default layer by ``basis_range``, beside Dense, in ONE
process (the ratios between processes move by ±20 % on a 2-core machine).
``HELD`` is the default layer whose running statistics are read but not
updated in training: the difference to ``"running"`` is what updating them
costs, the difference to ``None`` what mapping and clipping the batch costs."""


def held_statistics_layer(width, basis_range):
    """The default layer, its running statistics read but never updated."""
    import keras_taskneurons

    class Held(keras_taskneurons.TaskNeuronDense):
        def _running_statistics(self, u, axis, training):
            return super()._running_statistics(u, axis, False)

    return Held(width, "x**2 + x", basis_range=basis_range)


def worker_ranges(width, batch, steps, rounds):
    import keras
    import numpy as np

    import keras_taskneurons

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, width)).astype("float32")
    y = rng.normal(size=(batch, width)).astype("float32")
    models = {}
    for name, basis_range in RANGES.items():
        keras.utils.set_random_seed(0)
        layer = (keras.layers.Dense(width) if name == "Dense" else
                 held_statistics_layer(width, basis_range) if name == HELD else
                 keras_taskneurons.TaskNeuronDense(width, "x**2 + x", basis_range=basis_range))
        model = keras.Sequential([keras.Input((width,)), layer])
        model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
        for _ in range(3):
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
        models[name] = model
    samples = {name: {"train": [], "infer": []} for name in models}
    for _ in range(rounds):  # interleaved
        for name, model in models.items():
            samples[name]["train"].append(common.timed(lambda: model.train_on_batch(x, y), steps))
            samples[name]["infer"].append(common.timed(lambda: model.predict_on_batch(x), steps))
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    print(json.dumps({n: {k: median(v) for k, v in s.items()} for n, s in samples.items()}))


def ranges_report(args, backends, steps, rounds):
    rows = []
    for backend in backends:
        times = json.loads(common.run_worker(
            os.path.abspath(__file__), ["--width", str(args.width), "--batch", str(args.batch),
                                        "--worker", "ranges", "-", str(steps), str(rounds)],
            backend))
        dense = times["Dense"]
        for name, t in times.items():
            rows.append([backend, name, f"{t['train']:.2f}", f"**{t['train'] / dense['train']:.2f}x**",
                         f"{t['infer']:.2f}", f"{t['infer'] / dense['infer']:.2f}x"])
    text = common.header("TaskNeuronDense(\"x**2 + x\") by basis_range, against Dense",
                         sys.argv) + "\n".join([
        f"Layer {args.width} → {args.width}, batch {args.batch}, float32, CPU; each backend in "
        f"one process, the five layers timed interleaved, medians of {rounds} rounds of "
        f"{steps} steps (ms per step); ratios against Dense in the same process.",
        "",
        common.table(["backend", "layer", "train ms", "train / Dense", "infer ms",
                      "infer / Dense"], rows),
        "",
    ])
    common.write("layer_ranges_quick.md" if args.quick else "layer_ranges.md", text)


def worker_memory(name, width, batch, steps):
    import keras  # noqa: F401  (import cost is not the layer's)

    config = CONFIGS[name] if name != "dense" else (None, None)
    model, x, y = build(*config, width=width, batch=batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(steps):
        model.train_on_batch(x, y)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_growth_mb": (after - before) / 1024, "peak_mb": after / 1024}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default=None)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--configs", default=None,
                        help="only the configurations whose name has this text "
                        "(results/layer_<text>.md)")
    parser.add_argument("--ranges", action="store_true",
                        help="the default layer by basis_range beside Dense, in one process "
                        "per backend (results/layer_ranges.md)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, name = args.worker[0], args.worker[1]
        if kind == "ranges":
            worker_ranges(args.width, args.batch, int(args.worker[2]), int(args.worker[3]))
        elif kind == "time":
            worker_time(name, args.width, args.batch, int(args.worker[2]), int(args.worker[3]))
        else:
            worker_memory(name, args.width, args.batch, int(args.worker[2]))
        return

    import keras

    backends = (args.backends or (keras.backend.backend() if args.quick
                                  else "tensorflow,jax,torch")).split(",")
    names = QUICK_CONFIGS if args.quick else list(CONFIGS)
    if args.configs:
        names = [n for n in names if args.configs in n]
    steps, rounds = (3, 3) if args.quick else (10, 5)
    if args.ranges:
        return ranges_report(args, backends, steps, 3 if args.quick else 9)
    script = os.path.abspath(__file__)
    shape = ["--width", str(args.width), "--batch", str(args.batch)]
    rows, plot = [], {}
    for backend in backends:
        dense_memory = json.loads(common.run_worker(
            script, [*shape, "--worker", "memory", "dense", str(steps)], backend))
        for name in names:
            print(f"{backend}: {name}", flush=True)
            times = json.loads(common.run_worker(
                script, [*shape, "--worker", "time", name, str(steps), str(rounds)], backend))
            memory = json.loads(common.run_worker(
                script, [*shape, "--worker", "memory", name, str(steps)], backend))
            train_ratio = times["task"]["train"] / times["dense"]["train"]
            infer_ratio = times["task"]["infer"] / times["dense"]["infer"]
            plot.setdefault(backend, []).append((name, train_ratio))
            rows.append([
                backend, name,
                f"{times['dense']['train']:.2f}", f"{times['task']['train']:.2f}",
                f"**{train_ratio:.2f}x**",
                f"{times['dense']['infer']:.2f}", f"{times['task']['infer']:.2f}",
                f"{infer_ratio:.2f}x",
                f"{dense_memory['peak_growth_mb']:.0f}", f"{memory['peak_growth_mb']:.0f}",
            ])
    text = common.header("TaskNeuronDense vs Dense: time and memory", sys.argv) + "\n".join([
        f"Layer {args.width} → {args.width}, batch {args.batch}, float32, CPU; a model of one "
        "layer, SGD + MSE via `train_on_batch`, inference via `predict_on_batch`. Times are "
        f"medians of {rounds} interleaved rounds of {steps} steps (milliseconds per step). "
        "Memory: growth of the peak RSS of a fresh process from the built model through "
        "its training steps, compilation included (MB).",
        "",
        common.table(
            ["backend", "layer", "Dense train ms", "task train ms", "train ratio",
             "Dense infer ms", "task infer ms", "infer ratio", "Dense peak MB",
             "task peak MB"],
            rows,
        ),
        "",
    ])
    slug = "".join(c if c.isalnum() else "_" for c in (args.configs or "")).strip("_")
    stem = "layer" + (f"_{slug}" if slug else "")
    common.write(f"{stem}_quick.md" if args.quick else f"{stem}.md", text)
    if not args.quick and not args.configs:
        plot_ratios(plot)


def plot_ratios(plot):
    plt = common.pyplot()

    figure, axis = plt.subplots(figsize=(8, 4))
    for backend, points in plot.items():
        labels = [name.split(",")[0] + name.split(",")[1][:8] for name, _ in points]
        axis.plot(range(len(points)), [r for _, r in points], "o-", label=backend)
    axis.set_xticks(range(len(labels)), labels, rotation=20, fontsize=7)
    axis.axhline(1.0, color="gray", lw=0.5)
    axis.set_ylabel("training-step time / Dense")
    axis.set_title("TaskNeuronDense cost relative to Dense (256→256, batch 1024, CPU)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(common.RESULTS, "layer.png"), dpi=100)


if __name__ == "__main__":
    main()
