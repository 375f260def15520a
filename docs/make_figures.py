"""Regenerate the documentation's pictures and the guides' printed outputs.

    python docs/make_figures.py            # both
    python docs/make_figures.py --figures  # the home page's report pictures
    python docs/make_figures.py --outputs  # the guides' "It prints" blocks

The report pictures come from the installed command line run on the
quickstart's data (raw columns in units from 0.001 to 10⁴, a target
``Σ_i sin(2.5 u_i)`` plus noise, written to ``sines.csv``): the command
each picture's caption names. The outputs: every page under ``docs/``
whose ``python`` blocks are followed by an ``It prints:`` block gets each
block's printed output written there (the blocks of a page run in order, in
one fresh interpreter); ``tests/test_docs.py`` checks that they stay true.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

DOCS = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(DOCS, "images")
COMMAND = ["keras-taskneurons", "fit", "sines.csv", "--compare", "--output", "sines.keras"]
MARK = "----- keras-taskneurons docs: end of block -----"
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\n(It prints[^\n]*:)\n\n```text\n(.*?)^```\n)?",
                   re.S | re.M)
"""A ``python`` block and, where the page shows it, what it prints."""
PAGES = ["README.md"] + sorted(
    os.path.relpath(os.path.join(root, name), os.path.dirname(DOCS))
    for root, _, files in os.walk(DOCS) for name in files if name.endswith(".md"))
"""The pages whose blocks run, relative to the project root."""


def write_sines(path, rows=2000, seed=0):
    """The quickstart's data as a CSV: eight raw columns, target ``y``."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, (rows, 8))
    x = u * 10.0 ** np.arange(-3, 5) + 5
    y = np.sin(2.5 * u).sum(axis=1) + 0.05 * rng.normal(size=rows)
    header = ",".join([f"x{i}" for i in range(8)] + ["y"])
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="",
               fmt="%.8g")


def figures():
    work = tempfile.mkdtemp()
    write_sines(os.path.join(work, "sines.csv"))
    script = os.path.join(os.path.dirname(sys.executable), COMMAND[0])
    subprocess.run([script, *COMMAND[1:], "--quiet"], cwd=work, check=True)
    for produced, shown in (("sines.report.png", "report.png"),
                            ("sines.functions.png", "functions.png")):
        shutil.copyfile(os.path.join(work, produced), os.path.join(IMAGES, shown))
    print(f"{IMAGES}: report.png, functions.png from `{' '.join(COMMAND)}`")


def run_blocks(source, cwd):
    """Run a page's python blocks in order in one fresh interpreter in
    ``cwd``; each block's printed output (SystemExit with the error if one fails)."""
    blocks = [m.group(1) for m in BLOCK.finditer(source)]
    program = f"\nprint({MARK!r})\n".join(blocks) + f"\nprint({MARK!r})\n"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.path.dirname(DOCS) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=1200)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-4000:])
    return done.stdout.split(MARK + "\n")[:len(blocks)]


def shown_outputs(source):
    """For each python block: what the page shows it prints, or ``None``."""
    return [m.group(3) for m in BLOCK.finditer(source)]


def outputs():
    root = os.path.dirname(DOCS)
    for page in PAGES:
        path = os.path.join(root, page)
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        if not any(shown is not None for shown in shown_outputs(source)):
            continue
        with tempfile.TemporaryDirectory() as scratch:
            printed = iter(run_blocks(source, scratch))

        def shown(match):
            out = next(printed)
            text = f"```python\n{match.group(1)}```\n"
            if match.group(2) is not None:
                text += f"\n{match.group(2)}\n\n```text\n{out}```\n"
            return text

        with open(path, "w", encoding="utf-8") as handle:
            handle.write(BLOCK.sub(shown, source))
        print(f"{page}: outputs written")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", action="store_true")
    parser.add_argument("--outputs", action="store_true")
    args = parser.parse_args()
    everything = not (args.figures or args.outputs)
    if args.figures or everything:
        figures()
    if args.outputs or everything:
        outputs()
