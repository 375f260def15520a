"""The documentation site as a reader sees it: built with ``mkdocs build
--strict``, every public name has its own API entry with a description and
a parameters table showing every constructor argument; no page shows a raw
reStructuredText role, a table fallen apart into pipes, or a placeholder URL."""

import html
import inspect
import os
import re
import subprocess
import sys

import pytest

import keras_taskneurons
from tests.helpers import ROOT

pytestmark = pytest.mark.once  # the site does not depend on the backend


def text(markup):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", TF_CPP_MIN_LOG_LEVEL="3")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                            str(folder)], cwd=ROOT, capture_output=True, text=True, env=env,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    pages = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".html") and name != "404.html":
                with open(os.path.join(root, name), encoding="utf-8") as handle:
                    pages[os.path.relpath(os.path.join(root, name), folder)] = handle.read()
    return pages


def api_entries(api):
    """``{public name: the entry's own HTML}`` (up to its first member)."""
    anchors = [(m.start(), m.group(1))
               for m in re.finditer(r'<h[23][^>]*id="(keras_taskneurons\.[\w.]+)"', api)]
    entries = {}
    for i, (start, anchor) in enumerate(anchors):
        end = anchors[i + 1][0] if i + 1 < len(anchors) else len(api)
        entries.setdefault(anchor.split(".")[-1], api[start:end])
    return entries


def public_callables():
    for name in keras_taskneurons.__all__:
        obj = getattr(keras_taskneurons, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield name, obj


def test_every_public_name_has_an_entry_with_every_argument(site):
    entries = api_entries(site["api/index.html"])
    problems = []
    for name, obj in public_callables():
        entry = entries.get(name)
        if entry is None:
            problems.append(f"{name}: no API entry")
            continue
        if len(text(entry)) < 200:
            problems.append(f"{name}: {len(text(entry))} characters of its own text")
        table = re.search(r"<table>(.*?)</table>", entry, re.S)
        arguments = [p.name for p in inspect.signature(obj).parameters.values()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        missing = [a for a in arguments
                   if not (table and f"<code>{a}</code>" in table.group(1))]
        if missing:
            problems.append(f"{name}: no row for {missing}")
    assert not problems, "\n".join(problems)


def test_no_page_shows_raw_roles_broken_tables_or_placeholders(site):
    problems = []
    for page, markup in site.items():
        body = text(re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S))
        if re.search(r":(?:class|meth|func|data|attr|mod|obj):\s*`", body):
            problems.append(f"{page}: a raw reStructuredText role")
        if any(text(p).startswith("|") and text(p).count("|") >= 4
               for p in re.findall(r"<p>(.*?)</p>", markup, re.S)):
            problems.append(f"{page}: a table rendered as a paragraph of pipes")
        if "OWNER" in body:
            problems.append(f"{page}: a placeholder URL")
    assert len(site) >= 10 and not problems, "\n".join(problems)
