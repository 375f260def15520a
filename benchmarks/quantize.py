"""int8 and float8 TaskNeuronDense against Keras's Dense in the same modes:
error, speed, memory.

Each backend runs in its own process. Inside it, a Dense layer and a
TaskNeuronDense layer of the same shape (``x**2 + x``, so the task layer's
kernel has two blocks) are trained briefly on one regression batch, copied
twice, and one copy of each is quantized with ``model.quantize("int8")``,
the other with ``model.quantize("float8")`` (Keras's float8 training mode:
its delayed scales are set by three training steps at learning rate 0, so
the weights stay those of the float model). The six models are timed side
by side, interleaved (``predict_on_batch``, median of rounds). Error:
``|out_quantized - out_float| / |out_float|`` (Frobenius norms) on held-out
rows. Memory: the bytes of each layer's variables.

    python benchmarks/quantize.py            # full: 3 backends
    python benchmarks/quantize.py --quick    # CI: current backend, few steps
"""

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FORMULA = "x**2 + x"
MODES = ("float32", "int8", "float8")


def models(width, batch):
    import keras
    import numpy as np

    import keras_taskneurons

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, width)).astype("float32")
    y = (np.sin(2 * x) @ rng.normal(size=(width, width)) / np.sqrt(width)).astype("float32")
    built = {}
    for kind in ("Dense", "TaskNeuronDense"):
        keras.utils.set_random_seed(0)
        layer = (keras.layers.Dense(width) if kind == "Dense" else
                 keras_taskneurons.TaskNeuronDense(width, FORMULA, basis_scale=1.0,
                                                   basis_range="clip"))
        model = keras.Sequential([keras.Input((width,)), layer])
        model.compile(keras.optimizers.Adam(1e-3), "mse")
        model.fit(x, y, epochs=5, batch_size=128, verbose=0)
        copies = []
        for mode in MODES[1:]:
            copy = keras.models.clone_model(model)
            copy.set_weights(model.get_weights())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # InputLayer has no quantize
                copy.quantize(mode)
            if mode == "float8":  # the delayed scales follow three steps' maxima
                copy.compile(keras.optimizers.SGD(0.0), "mse")
                copy.fit(x[:384], y[:384], epochs=1, batch_size=128, verbose=0)
            copies.append(copy)
        built[kind] = (model, *copies)
    held_out = rng.uniform(-1, 1, (batch, width)).astype("float32")
    return built, held_out


def worker(width, batch, steps, rounds):
    import numpy as np

    built, x = models(width, batch)
    entries = {(kind, mode): model for kind, trio in built.items()
               for mode, model in zip(MODES, trio)}
    for model in entries.values():  # compile and warm up
        for _ in range(3):
            model.predict_on_batch(x)
    samples = {key: [] for key in entries}
    for _ in range(rounds):
        for key, model in entries.items():
            samples[key].append(common.timed(lambda: model.predict_on_batch(x), steps))
    out = {}
    for kind, trio in built.items():
        reference = np.asarray(trio[0].predict_on_batch(x))
        for mode, model in zip(MODES, trio):
            error = np.linalg.norm(np.asarray(model.predict_on_batch(x)) - reference)
            layer = model.layers[-1]
            out[f"{kind} {mode}"] = {
                "ms": sorted(samples[(kind, mode)])[rounds // 2],
                "bytes": int(sum(np.asarray(v).nbytes for v in layer.weights)),
                "error": float(error / np.linalg.norm(reference)),
            }
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default=None)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.width, args.batch, *args.worker)
        return
    import keras

    backends = (args.backends or (keras.backend.backend() if args.quick
                                  else "tensorflow,jax,torch")).split(",")
    steps, rounds = (2, 3) if args.quick else (10, 7)
    rows = []
    for backend in backends:
        print(f"{backend} ...", flush=True)
        result = json.loads(common.run_worker(
            os.path.abspath(__file__),
            ["--width", str(args.width), "--batch", str(args.batch),
             "--worker", str(steps), str(rounds)], backend))
        for kind in ("Dense", "TaskNeuronDense"):
            base = result[f"{kind} float32"]
            for mode in MODES:
                r = result[f"{kind} {mode}"]
                rows.append([backend, kind, mode, f"{r['ms']:.2f}",
                             f"{r['ms'] / base['ms']:.2f}x", f"{r['bytes'] / 1024:.0f}",
                             f"{r['error'] * 100:.2f} %"])
    text = common.header("int8 and float8: TaskNeuronDense against Dense", sys.argv) + "\n".join([
        f"Layer {args.width} → {args.width} (`{FORMULA}`: two kernel blocks), batch "
        f"{args.batch}, CPU, `predict_on_batch`; milliseconds per batch are medians of "
        f"{rounds} interleaved rounds of {steps} calls; speed is against the same layer in "
        "float32; KiB are the layer's variables; error is the relative Frobenius distance "
        "of the quantized outputs from the float32 outputs on held-out rows. float8 is "
        "Keras's float8 training mode (kernel in float, quantized and dequantized in every "
        "call): its speed and memory are a training mode's, not a compressed model's.",
        "",
        common.table(["backend", "layer", "mode", "ms / batch", "vs float32", "KiB",
                      "error"], rows),
        "",
    ])
    print(text)
    common.write("quantize_quick.md" if args.quick else "quantize.md", text)


if __name__ == "__main__":
    main()
