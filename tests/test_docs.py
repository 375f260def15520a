"""The documentation shows only code that runs, and what it prints: every
```python block of the README and of each page under docs/ is executed (a
page's blocks in order, in one fresh interpreter, in a scratch folder), and
where a page shows what a block prints ("It prints:"), the block prints
exactly that (``python docs/make_figures.py --outputs`` writes them). Blocks
fenced ```py are illustrations that need a cluster, a server or minutes of
tuning; other tests run that code (the pages say which)."""

import os
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "docs"))
import make_figures  # noqa: E402  (docs/make_figures.py: the pages' runner)

pytestmark = pytest.mark.once  # the TensorFlow pass runs the pages


def source(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        return handle.read()


RUNNABLE = [page for page in make_figures.PAGES if make_figures.shown_outputs(source(page))]


def test_the_pages_hold_code_to_run_and_show_its_output():
    assert "README.md" in RUNNABLE and "docs/getting-started.md" in RUNNABLE
    assert len(RUNNABLE) >= 8, RUNNABLE
    shown = [page for page in RUNNABLE
             if any(out is not None for out in make_figures.shown_outputs(source(page)))]
    assert len(shown) >= 8, shown


@pytest.mark.parametrize("page", RUNNABLE)
def test_every_code_block_runs_and_prints_what_the_page_shows(page, tmp_path):
    text = source(page)
    printed = make_figures.run_blocks(text, str(tmp_path))
    for number, (shown, out) in enumerate(zip(make_figures.shown_outputs(text), printed), 1):
        if shown is not None:
            assert out == shown, f"{page}, block {number} shows\n{shown}\nbut prints\n{out}"
