"""The documentation shows only code that runs: every ```python block of
the README and of each page under docs/ is executed (a page's blocks in
order, in one fresh interpreter, in a scratch folder), and the quickstart's
printed output is the one the pages show. Blocks fenced ```py are
illustrations that need a cluster, a server or minutes of tuning; other
tests run that code (the pages say which)."""

import glob
import os
import re

import pytest

from tests.helpers import ROOT, run_python

pytestmark = pytest.mark.once  # the TensorFlow pass runs the pages

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
OUTPUT = re.compile(r"It prints[^\n]*:\n\n```text\n(.*?)^```", re.S | re.M)

PAGES = ["README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                recursive=True))


def blocks(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        return FENCE.findall(handle.read())


def test_the_pages_hold_code_to_run():
    runnable = [page for page in PAGES if blocks(page)]
    assert "README.md" in runnable and "docs/getting-started.md" in runnable
    assert len(runnable) >= 8, runnable


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)])
def test_every_code_block_runs(page, tmp_path):
    source = "\n\n".join(blocks(page))
    out = run_python(source, cwd=str(tmp_path))
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        shown = OUTPUT.findall(handle.read())
    for expected in shown:  # a page that shows what its code prints shows the truth
        assert out == expected, f"{page} shows\n{expected}\nbut its code prints\n{out}"
