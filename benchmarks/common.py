"""Shared helpers of the benchmark scripts: environment notes and Markdown."""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def versions():
    import gplearn
    import keras
    import numpy
    import sklearn

    import keras_taskneurons

    return (
        f"keras-taskneurons {keras_taskneurons.__version__}, keras {keras.__version__}, "
        f"gplearn {gplearn.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {numpy.__version__}, Python {platform.python_version()}"
    )


def commit():
    """The commit the package ran at (``+changes`` when the tree differs
    from it), or ``unknown`` outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        if head.returncode:
            return "unknown"
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "keras_taskneurons")
        return head.stdout.strip() + ("+changes" if changed.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_commit(commit_id):
    """The last commit that changed the package at or before ``commit_id``
    (what a result measured at ``commit_id`` measured), ``+changes`` kept."""
    head, plus, rest = commit_id.partition("+")
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=12", head, "--",
                               "keras_taskneurons"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return commit_id
    found = done.stdout.strip()
    return (found + plus + rest) if done.returncode == 0 and found else commit_id


def measured_at(results, what="The cases"):
    """A sentence naming the package commit(s) the stored ``results`` ran at
    (``package_commit`` of each result's ``commit``), for a report that merges
    result files measured at different times."""
    commits = sorted({package_commit(r.get("commit", "unknown")) for r in results})
    return (f"{what} ran with the package as of commit(s) {', '.join(commits)} (the last "
            "commit that changed `keras_taskneurons/` before each case).")


def header(title, argv):
    """Machine, versions, the package's commit, date and the exact command,
    for a results file."""
    cpu = platform.processor() or platform.machine()
    return "\n".join([
        f"# {title}",
        "",
        f"- command: `python {' '.join(argv)}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- versions: {versions()}",
        f"- commit: {commit()}",
        "",
    ])


def summary(values):
    """``mean (std)`` of a result column, as every report prints it."""
    import numpy as np

    return f"{np.mean(values):.4f} ({np.std(values):.4f})"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def run_worker(script, args, backend, timeout=1800):
    """Run ``script`` in a fresh interpreter under ``backend``; return stdout."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=env,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} {args} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def timed(function, repeats):
    """Milliseconds per call of ``function``, over ``repeats`` calls."""
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1e3


def parallel_map(function, tasks, jobs):
    """``function(*task)`` for each task, in ``jobs`` processes when > 1."""
    if jobs <= 1:
        return [function(*task) for task in tasks]
    import multiprocessing

    # spawn: a fresh interpreter per worker, no inherited backend state.
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        return pool.starmap(function, tasks, chunksize=1)


def result_file(path, compute, report_only=False):
    """The result stored at ``path``; computed (``compute()``) and written
    atomically first when missing, unless ``report_only`` (then ``None``):
    one file per unit of work, so an interrupted benchmark resumes."""
    if not os.path.exists(path):
        if report_only:
            return None
        store(path, compute())
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def slug(name):
    """``name`` as a file name: lower case, every other character ``_``."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def store(path, result):
    """Write ``result`` to ``path`` as JSON, atomically (a result file
    extended in place, too)."""
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    os.replace(path + ".tmp", path)


def write(name, text):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return path


def write_results(name, text, raw, quick, plot):
    """Write ``name[_quick].md`` and ``.json``; draw the plot for full runs."""
    stem = name + "_quick" if quick else name
    write(stem + ".md", text)
    write(stem + ".json", json.dumps(raw, indent=1))
    if not quick:
        plot(raw)


def read_results(name):
    with open(os.path.join(RESULTS, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def argument_parser(doc, name):
    """The options every benchmark has: --quick, --seeds, --plot-only."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--plot-only", action="store_true",
                        help=f"redraw {name}.png from results/{name}.json")
    return parser
