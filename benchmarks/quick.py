"""Every benchmark's ``--quick`` mode, one after another in one process.

CI runs this so that no benchmark rots: each script runs as
``python benchmarks/NAME.py --quick`` would run it (``__main__``, its own
``sys.argv``), but Keras, TensorFlow and scikit-learn are imported once for
all of them instead of once per script (about 10 s each on a 2-core
machine). A script that fails stops the run with its error. Each script's
time is printed.

Usage::

    python benchmarks/quick.py                  # every benchmark
    python benchmarks/quick.py layer search     # some of them
"""

import os
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPTS = [
    ["layer.py"], ["layer.py", "--ranges"], ["search.py"], ["fitness.py"], ["tabular.py"],
    ["tabular_controls.py"], ["formulas.py"], ["conv.py"], ["dask_search.py"], ["handoff.py"],
    ["tabular_recipe.py"], ["one_unit.py"], ["robust_map.py"], ["tabular_interactions.py"],
    ["sequence.py"], ["interactions.py"], ["pruning.py"], ["quantize.py"], ["embedding.py"],
    ["embedding_cost.py"],
]
"""Each run: the script and its arguments besides ``--quick``
(``layer.py --ranges``: the cost of each ``basis_range``)."""


def run(script, *arguments):
    """Run one benchmark script as ``__main__`` with ``--quick``; its
    seconds. Keras's global state is reset first (a script may have set a
    dtype policy or built models)."""
    import keras

    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    argv = sys.argv
    sys.argv = [os.path.join(HERE, script), "--quick", *arguments]
    started = time.perf_counter()
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as stop:  # argparse or the script's own exit
        if stop.code not in (None, 0):
            raise
    finally:
        sys.argv = argv
    return time.perf_counter() - started


def main():
    wanted = set(sys.argv[1:])
    unknown = wanted - {script[:-3] for script, *_ in SCRIPTS}
    if unknown:
        sys.exit(f"quick.py: no benchmark named {sorted(unknown)}; "
                 f"known: {sorted({s[:-3] for s, *_ in SCRIPTS})}")
    sys.path.insert(0, HERE)  # the scripts import common, datasets and peers
    times = []
    for script, *arguments in SCRIPTS:
        if wanted and script[:-3] not in wanted:
            continue
        seconds = run(script, *arguments)
        times.append((" ".join([script[:-3], *arguments]), seconds))
        print(f"== {times[-1][0]} --quick: {seconds:.0f} s", flush=True)
    print("quick benchmarks: " + ", ".join(f"{name} {s:.0f} s" for name, s in times))


if __name__ == "__main__":
    main()
