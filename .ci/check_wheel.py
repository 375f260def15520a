"""Check the release artifacts in DIST (default dist/) against the source tree.

* one wheel and one sdist, named with the package's one version number;
* the wheel holds every file of the ``keras_taskneurons`` package that git
  tracks, and nothing else but its ``.dist-info``;
* its metadata's version is ``keras_taskneurons.__version__``;
* every third-party module the package imports is a declared dependency
  (matplotlib and pandas may be in the ``cli`` extra).

    python .ci/check_wheel.py [DIST]
"""

import ast
import email
import os
import re
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "keras_taskneurons"
DISTRIBUTIONS = {"sklearn": "scikit-learn"}  # import name -> distribution name
EXTRA_ONLY = {"matplotlib": "cli", "pandas": "cli"}


def fail(message):
    print(f"check_wheel: {message}", file=sys.stderr)
    sys.exit(1)


def version():
    with open(os.path.join(ROOT, PACKAGE, "__init__.py"), encoding="utf-8") as handle:
        match = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M)
    return match.group(1)


def imported_modules():
    """Top-level modules the package's source imports (not its own, not the
    standard library)."""
    found = set()
    for path in tracked_files():
        if not path.endswith(".py"):
            continue
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        for node in ast.walk(tree):  # importlib.import_module("name")
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(str(node.args[0].value).split(".")[0])
    return {m for m in found if m != PACKAGE and m not in sys.stdlib_module_names}


def tracked_files():
    out = subprocess.run(["git", "ls-files", PACKAGE], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return sorted(line for line in out.splitlines() if line)


def main():
    dist = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist")
    number = version()
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    sdists = [f for f in os.listdir(dist) if f.endswith(".tar.gz")]
    if wheels != [f"{PACKAGE}-{number}-py3-none-any.whl"]:
        fail(f"expected one wheel of version {number}, found {wheels}")
    if sdists != [f"{PACKAGE}-{number}.tar.gz"]:
        fail(f"expected one sdist of version {number}, found {sdists}")
    with zipfile.ZipFile(os.path.join(dist, wheels[0])) as wheel:
        names = wheel.namelist()
        info = f"{PACKAGE}-{number}.dist-info/"
        metadata = email.message_from_bytes(wheel.read(info + "METADATA"))
    in_package = sorted(n for n in names if n.startswith(PACKAGE + "/"))
    others = sorted(n for n in names if not n.startswith((PACKAGE + "/", info)))
    if others:
        fail(f"the wheel holds files outside the package: {others}")
    expected = tracked_files()
    if in_package != expected:
        fail(f"the wheel's package files differ from the source tree: missing "
             f"{sorted(set(expected) - set(in_package))}, extra {sorted(set(in_package) - set(expected))}")
    if metadata["Version"] != number:
        fail(f"metadata version {metadata['Version']} is not __version__ {number}")
    requires = {}
    for line in metadata.get_all("Requires-Dist") or []:
        name = re.split(r"[\s<>=!~;\[(]", line, maxsplit=1)[0].lower()
        extra = re.search(r'extra == "([^"]+)"', line)
        requires.setdefault(name, set()).add(extra.group(1) if extra else None)
    for module in sorted(imported_modules()):
        name = DISTRIBUTIONS.get(module, module).lower()
        allowed = {None, EXTRA_ONLY.get(module)}
        if not requires.get(name, set()) & allowed:
            fail(f"the package imports {module!r} but {name!r} is not a declared dependency")
    print(f"{wheels[0]}: {len(in_package)} package files, version {number}, "
          f"imports {sorted(imported_modules())} all declared")
    for name in in_package:
        print("  " + name)


if __name__ == "__main__":
    main()
