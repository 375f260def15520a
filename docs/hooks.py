"""mkdocs hook: the benchmark plots in ``benchmarks/results/`` join the
site as ``results/<name>.png`` (one copy in the repository, no duplicate
under docs/)."""

import glob
import os

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def on_files(files, config):
    source = os.path.join(ROOT, "benchmarks")
    for path in sorted(glob.glob(os.path.join(source, "results", "*.png"))):
        files.append(File(os.path.relpath(path, source), source, config["site_dir"],
                          config["use_directory_urls"]))
    return files
