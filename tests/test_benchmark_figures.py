"""Every headline figure is measured at the code it describes: each row of
the README's and the docs' benchmark tables that cites a result file says
the version that file was measured at (its own header's), and that version
is not older than the package's minor version (a release re-runs the
search, the tabular recipe and the layer-cost benchmarks)."""

import os
import re

import pytest

import keras_taskneurons
from tests.helpers import ROOT

pytestmark = pytest.mark.once  # files and text: the backend does not matter

TABLES = ("README.md", "docs/benchmarks.md")
RESULTS = os.path.join(ROOT, "benchmarks", "results")
CITED = re.compile(r"`(?:benchmarks/results/)?([a-z_]+\.md)`")


def measured_version(path):
    """The package version in a result file's header."""
    with open(path, encoding="utf-8") as handle:
        head = handle.read(3000)
    found = re.search(r"^- versions: keras-taskneurons ([0-9][0-9a-z.]*)", head, re.M)
    return found.group(1) if found else None


def minor(version):
    return tuple(int(part) for part in version.split(".")[:2])


def headline_rows(text):
    """``(cited result files, the row's 'measured at' cell)`` for each row
    of the benchmark table (the one whose header has 'measured at')."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("| what |") and "measured at" in line)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows.append((CITED.findall(" ".join(cells[:-1])), cells[-1]))
    return rows


def problems(rows, package, folder=RESULTS):
    found = []
    for cited, stated in rows:
        for name in cited:
            version = measured_version(os.path.join(folder, name))
            if version is None:
                found.append(f"{name} does not record the package version")
            elif version not in stated:
                found.append(f"{name} was measured at {version}; its row says {stated!r}")
            elif minor(version) < minor(package):
                found.append(f"{name} was measured at {version}, older than the package's "
                             f"{package}: re-run it")
    return found


@pytest.mark.parametrize("page", TABLES)
def test_every_headline_row_says_the_version_its_file_was_measured_at(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        rows = headline_rows(handle.read())
    assert sum(bool(cited) for cited, _ in rows) >= 5, rows
    found = problems(rows, keras_taskneurons.__version__)
    assert not found, "\n".join(found)


def test_an_older_or_misstated_result_file_is_caught(tmp_path):
    (tmp_path / "old.md").write_text("# t\n\n- versions: keras-taskneurons 0.1.0.dev0, keras 3\n")
    (tmp_path / "new.md").write_text("# t\n\n- versions: keras-taskneurons 0.2.0, keras 3\n")
    table = ("| what | result | measured at |\n|---|---|---|\n"
             "| a (`old.md`) | 1 | 0.1.0.dev0 |\n| b (`new.md`) | 2 | 0.1.0 |\n"
             "| c (`new.md`) | 3 | 0.2.0 |\n")
    found = problems(headline_rows(table), "0.2.0", str(tmp_path))
    assert len(found) == 2 and "older than" in found[0] and "its row says" in found[1], found


def test_ci_runs_every_benchmark_in_quick_mode():
    """``benchmarks/quick.py`` (what CI runs) lists every benchmark script:
    each file of ``benchmarks/`` with a ``main()`` and a ``--quick`` mode."""
    import ast
    import sys

    folder = os.path.join(ROOT, "benchmarks")
    sys.path.insert(0, folder)
    try:
        import quick
    finally:
        sys.path.remove(folder)
    listed = {script for script, *_ in quick.SCRIPTS}
    scripts = set()
    for name in os.listdir(folder):
        if not name.endswith(".py") or name == "quick.py":
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            scripts.add(name)
    assert scripts and listed == scripts, (sorted(scripts - listed), sorted(listed - scripts))
