"""Tables for the command line: CSV files and the datasets bundled with scikit-learn.

Reads a CSV file's header and columns, converts the named feature columns to
floats (missing cells as NaN, non-numeric columns named in the error), and
loads scikit-learn's diabetes or breast cancer data. Problems the user can
fix are ``CommandError``.
"""

import csv
from typing import Any, NamedTuple

import numpy as np

MISSING = {"", "na", "nan", "null", "none", "?"}


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


class Table(NamedTuple):
    """Numeric features, a target, and their names."""

    X: Any
    y: Any
    feature_names: list
    target_name: str
    source: str


def read_csv_columns(path):
    """Header and columns (lists of strings) of a CSV file."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise CommandError(f"CSV file not found: {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not a UTF-8 text CSV file") from None
    except (OSError, csv.Error) as error:
        raise CommandError(f"cannot read CSV file {path}: {error}") from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise CommandError(f"{path} has no data rows (a header and rows are needed)")
    header = [name.strip() for name in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CommandError(
                f"{path}, line {number}: {len(row)} fields, the header has "
                f"{len(header)}"
            )
    duplicates = sorted({n for n in header if header.count(n) > 1})
    if duplicates:
        raise CommandError(f"{path}: duplicate column names: {', '.join(duplicates)}")
    return header, [list(column) for column in zip(*rows[1:])]


def _to_numbers(values):
    """Floats (NaN for missing cells), or None when a cell is not a number."""
    out = np.empty(len(values))
    for index, text in enumerate(values):
        text = text.strip()
        if text.lower() in MISSING:
            out[index] = np.nan
            continue
        try:
            out[index] = float(text)
        except ValueError:
            return None
    if np.any(np.isinf(out)):
        return None
    return out


def features_from_columns(header, columns, names, path):
    """The named columns as a float matrix; non-numeric ones are named."""
    index = {name: i for i, name in enumerate(header)}
    missing = [name for name in names if name not in index]
    if missing:
        raise CommandError(
            f"{path} lacks the column(s) the model was trained on: "
            f"{', '.join(missing)}"
        )
    converted, bad = [], []
    for name in names:
        numbers = _to_numbers(columns[index[name]])
        if numbers is None:
            bad.append(name)
        converted.append(numbers)
    if bad:
        raise CommandError(
            f"{path}: non-numeric feature column(s): {', '.join(bad)} "
            "(encode them as numbers, or drop them)"
        )
    return np.column_stack(converted)


def load_csv(path, target, task, dropna):
    header, columns = read_csv_columns(path)
    target = header[-1] if target is None else target
    if target not in header:
        raise CommandError(
            f"target column {target!r} is not in {path}; columns: "
            f"{', '.join(header)}"
        )
    names = [name for name in header if name != target]
    if not names:
        raise CommandError(f"{path} has no feature columns besides {target!r}")
    X = features_from_columns(header, columns, names, path)
    raw_target = [value.strip() for value in columns[header.index(target)]]
    target_missing = np.array([v.lower() in MISSING for v in raw_target])
    if task == "regression":
        y = _to_numbers(raw_target)
        if y is None:
            raise CommandError(
                f"target column {target!r} is not numeric; use --task "
                "classification for labels"
            )
    else:
        y = np.array(raw_target, dtype=object)
    bad_rows = np.isnan(X).any(axis=1) | target_missing
    if bad_rows.any():
        if not dropna:
            raise CommandError(
                f"{path}: {int(bad_rows.sum())} row(s) have missing values; "
                "pass --dropna to drop them"
            )
        X, y = X[~bad_rows], y[~bad_rows]
        print(f"dropped {int(bad_rows.sum())} row(s) with missing values")
    return Table(X, y, names, target, path)


def load_bundled(task):
    from sklearn import datasets

    if task == "regression":
        data = datasets.load_diabetes()
        name = "scikit-learn diabetes"
    else:
        data = datasets.load_breast_cancer()
        name = "scikit-learn breast cancer"
    y = data.target if task == "regression" else np.array(
        [str(data.target_names[t]) for t in data.target], dtype=object
    )
    return Table(
        np.asarray(data.data, dtype=np.float64), y,
        [str(n) for n in data.feature_names], "target", name,
    )
