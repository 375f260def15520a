"""The estimators' checks: their parameters and the data given to ``fit``.

``ParameterChecks`` is a mixin of the search's base class
(``base``): every refusal is a ``ValueError``
(or ``TypeError``) that names the value, raised before any work.
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

from keras_taskneurons import primitives as prim
from keras_taskneurons.input_map import SCALINGS
from keras_taskneurons.search import separable
from keras_taskneurons.search.front import MODEL_SELECTIONS

def _column_list(indices, shown=10):
    """``0, 3, 7`` (at most ``shown`` indices, then how many more)."""
    text = ", ".join(str(int(i)) for i in indices[:shown])
    return text + (f" and {len(indices) - shown} more" if len(indices) > shown else "")


def _check_number(name, value, low, high, integer=False, low_open=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = "(" if low_open else "["
        raise ValueError(
            f"{name} must be {'an integer' if integer else 'a number'} in "
            f"{bound}{low}, {high}]; got {name}={value!r}."
        )




class ParameterChecks:
    """Validation of the estimators' parameters and inputs."""

    # -- validation -------------------------------------------------------------
    def _validate_parameters(self):
        _check_number("population_size", self.population_size, 2, 10**7, True)
        _check_number("generations", self.generations, 1, 10**6, True)
        _check_number(
            "tournament_size", self.tournament_size, 1, self.population_size, True
        )
        if isinstance(self.function_set, str) or not self.function_set:
            raise ValueError(
                "function_set must be a non-empty list of primitive names, "
                f"got function_set={self.function_set!r}."
            )
        for name in self.function_set:
            prim.get_primitive(name)
        if self.const_range is not None:
            if (
                not isinstance(self.const_range, (tuple, list))
                or len(self.const_range) != 2
                or not all(
                    isinstance(v, numbers.Real) and math.isfinite(v)
                    for v in self.const_range
                )
                or self.const_range[0] > self.const_range[1]
            ):
                raise ValueError(
                    "const_range must be None or a (low, high) pair of finite "
                    f"numbers, got const_range={self.const_range!r}."
                )
        if self.parsimony_coefficient != "auto":
            _check_number(
                "parsimony_coefficient", self.parsimony_coefficient, 0, 1e6
            )
        if (
            not isinstance(self.init_depth, (tuple, list))
            or len(self.init_depth) != 2
            or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool)
                for v in self.init_depth
            )
            or not 1 <= self.init_depth[0] <= self.init_depth[1] <= 16
        ):
            raise ValueError(
                "init_depth must be a (min, max) pair of integers with "
                f"1 <= min <= max <= 16, got init_depth={self.init_depth!r}."
            )
        probabilities = {
            name: getattr(self, name)
            for name in (
                "p_crossover", "p_subtree_mutation", "p_hoist_mutation",
                "p_point_mutation",
            )
        }
        for name, value in probabilities.items():
            _check_number(name, value, 0, 1)
        if sum(probabilities.values()) > 1:
            raise ValueError(
                "p_crossover + p_subtree_mutation + p_hoist_mutation + "
                f"p_point_mutation must be at most 1, got "
                f"{sum(probabilities.values())!r}."
            )
        _check_number("p_point_replace", self.p_point_replace, 0, 1)
        _check_number("stopping_criteria", self.stopping_criteria, 0, 1)
        if self.max_samples != "auto":
            if isinstance(self.max_samples, numbers.Integral):
                _check_number("max_samples", self.max_samples, 2, 10**12, True)
            else:
                _check_number("max_samples", self.max_samples, 0, 1, low_open=True)
        _check_number("validation_fraction", self.validation_fraction, 0, 0.9)
        if self.model_selection not in MODEL_SELECTIONS:
            raise ValueError(
                f"model_selection must be one of {MODEL_SELECTIONS}, got "
                f"model_selection={self.model_selection!r}."
            )
        if self.max_complexity is not None:
            _check_number("max_complexity", self.max_complexity, 1, 10**6, True)
        if not isinstance(self.refine, (bool, np.bool_)):
            raise ValueError(f"refine must be True or False, got refine={self.refine!r}.")
        if self.scaling not in SCALINGS:
            raise ValueError(
                f"scaling must be one of {SCALINGS}, got scaling={self.scaling!r}."
            )
        if not (isinstance(self.fitness, str) and self.fitness in separable.FITNESSES):
            raise ValueError(
                f"fitness must be one of {separable.FITNESSES}, got fitness={self.fitness!r}."
            )
        if not (isinstance(self.standardize, str) and self.standardize == "deprecated") and (
            not isinstance(self.standardize, (bool, np.bool_))
        ):
            raise ValueError(
                "standardize (deprecated: use scaling) must be True or False, got "
                f"standardize={self.standardize!r}."
            )
        _check_number("verbose", self.verbose, 0, 100, True)

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

