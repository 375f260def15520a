"""The estimators' checks: their parameters and the data given to ``fit``.

``ParameterChecks`` is a mixin of the search's base class
(``base``): every refusal is a ``ValueError``
(or ``TypeError``) that names the value, raised before any work.
"""

import math
import numbers
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight, validate_data

from keras_taskneurons import primitives as prim
from keras_taskneurons.input_map import SCALINGS
from keras_taskneurons.search.objectives import OBJECTIVES
from keras_taskneurons.search.front import MODEL_SELECTIONS

def _column_list(indices, shown=10):
    """``0, 3, 7`` (at most ``shown`` indices, then how many more)."""
    text = ", ".join(str(int(i)) for i in indices[:shown])
    return text + (f" and {len(indices) - shown} more" if len(indices) > shown else "")


def _pair(value, kind):
    """Whether ``value`` is a ``(low, high)`` pair of ``kind`` with low <= high."""
    return (
        isinstance(value, (tuple, list)) and len(value) == 2
        and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value) and value[0] <= value[1]
    )


_PROBABILITIES = ("p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation")
_UNIT = Interval(Real, 0, 1, closed="both")


class ParameterChecks:
    """Validation of the estimators' parameters and inputs: scikit-learn's
    declarative ``_parameter_constraints`` (checked by ``_validate_params``),
    then the few that tie parameters together or need the primitives' table."""

    _parameter_constraints = {
        "population_size": [Interval(Integral, 2, 10**7, closed="both")],
        "generations": [Interval(Integral, 1, 10**6, closed="both")],
        "function_set": ["array-like"],
        "const_range": [tuple, list, None],
        "parsimony_coefficient": [Interval(Real, 0, 1e6, closed="both"), StrOptions({"auto"})],
        "init_depth": [tuple, list],
        "tournament_size": [Interval(Integral, 1, None, closed="left")],
        **{name: [_UNIT] for name in _PROBABILITIES},
        "p_point_replace": [_UNIT],
        "stopping_criteria": [_UNIT],
        "max_samples": [Interval(Integral, 2, 10**12, closed="both"),
                        Interval(RealNotInt, 0, 1, closed="right"), StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 0.9, closed="both")],
        "model_selection": [StrOptions(set(MODEL_SELECTIONS))],
        "max_complexity": [Interval(Integral, 1, 10**6, closed="both"), None],
        "refine": ["boolean"],
        "scaling": [StrOptions(set(SCALINGS))],
        "fitness": [StrOptions(set(OBJECTIVES))],
        "standardize": ["boolean", StrOptions({"deprecated"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 100, closed="both")],
    }

    # -- validation -------------------------------------------------------------
    def _validate_parameters(self):
        self._validate_params()
        if not len(self.function_set):
            self._invalid("function_set", "a non-empty list of primitive names",
                          self.function_set)
        for name in self.function_set:
            prim.get_primitive(name)
        if self.const_range is not None and not _pair(self.const_range, numbers.Real):
            self._invalid("const_range", "None or a (low, high) pair of finite numbers",
                          self.const_range)
        if not (_pair(self.init_depth, numbers.Integral) and 1 <= self.init_depth[0]
                and self.init_depth[1] <= 16):
            self._invalid("init_depth", "a (min, max) pair of integers with "
                          "1 <= min <= max <= 16", self.init_depth)
        if self.tournament_size > self.population_size:
            self._invalid("tournament_size",
                          f"at most population_size={self.population_size}",
                          self.tournament_size)
        total = sum(getattr(self, name) for name in _PROBABILITIES)
        if total > 1:
            raise InvalidParameterError(
                f"The parameters {', '.join(map(repr, _PROBABILITIES))} of "
                f"{type(self).__name__} must sum to at most 1. Got {total!r} instead.")

    def _invalid(self, name, expected, value):
        """A bad parameter, said as scikit-learn's own checks say it."""
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(self).__name__} must be {expected}. "
            f"Got {value!r} instead.")

    def _validate_inputs(self, X, y, sample_weight):
        self._reject_non_numeric_columns(X)
        if self._numeric_target:
            self._reject_text_target(y)
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=self._numeric_target,
            ensure_min_samples=2, dtype=np.float64,
        )
        self._check_varying_columns(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            if not np.any(sample_weight > 0):  # older scikit-learn lets it through
                raise ValueError(
                    "sample_weight must contain at least one non-zero (positive) weight."
                )
        else:
            sample_weight = np.ones(X.shape[0])
        return X, y, sample_weight

    @staticmethod
    def _reject_text_target(y):
        """A regression target of strings is refused before numpy meets it
        (scikit-learn converts object arrays but lets ``<U`` arrays through)."""
        values = np.asarray(y) if not hasattr(y, "dtype") else y
        kind = getattr(getattr(values, "dtype", None), "kind", "O")
        if kind in "USO":
            flat = np.asarray(values, dtype=object).ravel()
            text = next((v for v in flat if isinstance(v, (str, bytes))), None)
            if text is not None:
                raise ValueError(
                    "y must hold numbers for a regressor; it holds text (for "
                    f"example {text!r}). Convert it with y.astype(float), or use "
                    "VectorizedSymbolicClassifier for class labels."
                )

    @staticmethod
    def _check_varying_columns(X):
        """A column that never changes carries no information: all of them
        constant is refused; some constant is said, and those columns only
        add a constant ``f(c)`` the intercept absorbs."""
        constant = np.flatnonzero(np.all(X == X[0], axis=0))
        if len(constant) == X.shape[1]:
            raise ValueError(
                f"Every feature of X is constant (columns {_column_list(constant)}); "
                "there is no variation to search a formula on."
            )
        if len(constant):
            warnings.warn(
                f"X has constant features (columns {_column_list(constant)}); they add "
                "only a constant to the sum. Drop them to save the work.",
                UserWarning, stacklevel=4,
            )

    @staticmethod
    def _reject_non_numeric_columns(X):
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None or not hasattr(X, "columns"):
            return
        # Numbers and booleans (as 0/1), numpy or pandas dtypes alike.
        bad = [
            str(column) for column, dtype in zip(X.columns, dtypes)
            if getattr(dtype, "kind", "O") not in "biuf"
        ]
        if bad:
            raise ValueError(
                f"X has non-numeric columns: {', '.join(bad)}. Encode them as "
                "numbers first."
            )

