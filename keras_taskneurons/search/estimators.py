"""Vectorized symbolic regression (VSR) on gplearn's genetic programming.

VSR looks for ONE formula ``f`` in one variable, shared by every input
variable, such that ``y ≈ a·Σ_i f(x_i) + b``. It runs gplearn's
``SymbolicRegressor`` on *stacked* data: the ``n × d`` matrix ``X`` becomes a
single column of ``n·d`` values, so every program is a function of one
variable, and a custom fitness sums each sample's ``d`` values of ``f`` before
comparing with ``y`` after the best least-squares scaling ``a, b``.

Memory model: gplearn evaluates a program on the whole stacked column, one
float64 array of ``n_search·d`` values per node on the evaluation stack
(a few arrays at a time per worker). ``max_samples="auto"`` caps the search
subset at ``MAX_STACKED_VALUES`` stacked values (``n_search =
MAX_STACKED_VALUES // d`` samples, drawn once with ``random_state``); the final
scaling and ``predict()`` run over all samples in chunks of that size.
"""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from keras_taskneurons.columns import spread
from keras_taskneurons.search.base import (  # noqa: F401  (DEFAULT_FUNCTION_SET: public)
    DEFAULT_FUNCTION_SET,
    _VectorizedSymbolicBase,
)


class VectorizedSymbolicRegressor(RegressorMixin, _VectorizedSymbolicBase):
    """Find one formula ``f`` shared by all inputs: ``y ≈ a·Σ_i f(x_i) + b``.

    Step one of task-based neurons (Fan et al., arXiv 2405.02369): gplearn's
    genetic programming searches ``f`` in one variable on the stacked data,
    with fitness ``1 − R²`` after the best least-squares scaling ``a, b``, so
    the evolution need not find the scale and offset itself. The best program
    of all generations is kept (gplearn keeps only the last generation's),
    expanded into terms and its real constants refined by least squares.

    Args:
        population_size (int): Programs per generation.
        generations (int): Generations to evolve (fewer when ``stopping_criteria`` is met).
        function_set (sequence of str): Names from ``keras_taskneurons.PRIMITIVES``.
            ``("add", "sub", "mul")`` restricts the search to polynomials, the paper's
            setting.
        const_range ((float, float) or None): Range of the real-valued random constants;
            ``None`` for none.
        parsimony_coefficient (float or "auto"): Penalty per program node, on the fitness
            scale ``1 − R²``.
        init_depth ((int, int)): Depth range of the initial programs.
        tournament_size (int): Programs competing for each parent slot.
        p_crossover (float): Probability of a crossover for each new program.
        p_subtree_mutation (float): Probability of a subtree mutation.
        p_hoist_mutation (float): Probability of a hoist mutation.
        p_point_mutation (float): Probability of a point mutation.
        p_point_replace (float): Share of nodes replaced by a point mutation.
        stopping_criteria (float): Stop early once the best ``1 − R²`` is at most this.
        max_samples ("auto", int or float in (0, 1]): Samples the search uses (a fixed
            random subset of whole samples). ``"auto"`` uses all while ``n·d <= 50_000``
            stacked values, else ``50_000 // d`` samples; this bounds the search's memory
            and time.
        validation_fraction (float in [0, 0.9]): Share of the search samples held out from
            the evolution; the Pareto front (``equations_``) is scored on them. With fewer
            than two rows on either side, the front is scored on the evolution rows.
        model_selection ({"best", "accuracy"}): How ``formula_`` is chosen from the front.
            ``"best"``: among the equations whose held-out loss is at most 1.5 times the
            lowest, the one with the highest score ``-Δlog(loss)/Δcomplexity`` (PySR's
            rule): the simplest formula about as good as the best. ``"accuracy"``: the
            lowest held-out loss.
        max_complexity (int or None): Largest ``Formula.complexity`` (tree nodes, a call of
            sin, exp, ... counting 2) a formula on the front may have; longer evolved
            programs are passed over. ``None``: no cap.
        refine (bool): Expand the evolved formula into terms and refine its constants by
            least squares.
        scaling ({"auto", "standard", "minmax", "global", "none", "quantile"}): The input
            map: how each column of ``X`` is brought to the values ``u`` the formula is
            searched on (``input_map_``). ``"auto"``: ``"global"`` when the columns look
            like one unit (standard deviations within a factor 2, means within one overall
            standard deviation), else ``"standard"`` (``input_map_.scaling`` says which).
            ``"standard"``: each column to mean 0 and standard deviation 1 on the training
            rows, so columns of any unit share one scale and one ``f``; ``"minmax"`` (the
            paper's normalization): each column to ``[-1, 1]``; ``"global"``: one mean and
            one standard deviation over all values (0.2's ``standardize=True``: exact when
            every column has the same unit, as pixels); ``"none"``: ``X`` as it is;
            ``"quantile"`` (the robust map for the bases): ``x`` sees each column
            standardized as with ``"standard"``, every other basis sees the standardized
            column warped piecewise-linearly onto the normal law's quantiles (32 knots, held
            at the ends beyond the training rows' range), so skew and outliers no longer
            stretch what ``f`` is evaluated on (the layers apply the same warp).
            Each output of ``y`` is standardized too; ``coef_`` and ``intercept_`` undo it.
        fitness ({"separable", "shared"}): What ``f`` is scored by, in the evolution and on
            the front. ``"separable"``: the model ONE unit of the first layer computes,
            every input its own weight on ``x`` and on each basis of ``f`` (ridge least
            squares; ``separable``), so ``f`` is chosen for
            what it adds to a per-input linear neuron; ``x`` alone competes on the front,
            and a formula must cut its held-out loss clearly (by 1 %, by two standard errors
            and by 0.01 % of the targets' variance; ``linear_loss_``) or the search warns
            and keeps ``x``. ``"shared"``: the paper's ``a·Σ_i f(u_i) + b``, one weight for
            every input (right when the target really is such a sum). ``predict`` and
            ``coef_`` follow the chosen model.
        standardize (bool, deprecated): ``True`` means ``scaling="global"``, ``False``
            ``scaling="none"`` (with a ``FutureWarning``).
        n_jobs (int or None): Parallel jobs for gplearn's evolution (``None`` means 1).
            Results do not depend on it.
        random_state (int, RandomState or None): Seed; the same seed gives the same formula.
            No global state is used.
        verbose (int): ``> 0`` prints one line per generation (best fitness, length, elapsed
            and estimated time left) and the final formula.

    Attributes:
        formula_ (Formula): The chosen (expanded, refined) formula ``f``.
        equations_ (ParetoFront): The Pareto front: for every complexity (nodes; a call of a
            non-polynomial function counts 2), the most accurate formula found in any
            generation, refined, with its loss on the held-out rows (``1 − R²``), its score
            and its formula, sorted by complexity; ``equations_.chosen`` indexes
            ``formula_``. Formulas that are numerically meaningless on the data are kept
            off: a basis nearly constant there, or terms that cancel (see
            ``refinement``). Prints as a table;
            ``equations_.to_frame()`` gives a pandas DataFrame.
        coef_ (ndarray of shape (n_outputs, n_columns) or (n_outputs,)):
            ``fitness="separable"``: per output, the weights of the unit's columns ``[z_1 …
            z_d, g_1(u_1) … g_1(u_d), …]`` (``x`` first, then each other basis of
            ``formula_`` in expansion order); ``"shared"``: the scale ``a`` per output.
        intercept_ (ndarray of shape (n_outputs,)): Offset ``b`` per output.
        linear_loss_ (float or None): With ``fitness="separable"``, the held-out loss of
            ``x`` alone (the linear neuron) that the chosen formula had to beat.
        fitness_ (float): ``1 − R²`` of ``formula_`` on the evolution samples (mapped).
        evolved_formula_ (Formula): The best evolved formula before refinement.
        evolved_fitness_ (float): Its ``1 − R²``.
        program_ (gplearn program): The best program of all generations.
        run_details_ (dict of lists): Per generation: ``generation``, ``best_fitness``,
            ``best_ever_fitness``, ``mean_fitness``, ``best_length``, ``mean_length``,
            ``seconds``.
        n_generations_ (int): Generations run.
        n_search_samples_ (int): Samples the search used (see ``max_samples``).
        n_features_in_ (int): Number of features seen in ``fit``.
        feature_names_in_ (ndarray of str): Column names, when ``X`` is a DataFrame with
            string column names.
        input_map_ (InputMap): The map ``u = (x - center) / scale`` from the features to the
            values the formula lives on, and their range (``domain``); ``layer_factory()``
            puts it in the layer built with ``first=True``, so the layers compute ``f`` on
            the same values.
        x_mean_ (ndarray of shape (n_features,)): ``input_map_.center`` and
            ``input_map_.scale``.
        x_scale_ (ndarray of shape (n_features,)): ``input_map_.center`` and
            ``input_map_.scale``.
        y_mean_ (ndarray of shape (n_outputs,)): Standardization of each output.
        y_scale_ (ndarray of shape (n_outputs,)): Standardization of each output.

    Examples:
        >>> import numpy as np
        >>> from keras_taskneurons import VectorizedSymbolicRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.uniform(-2, 2, (300, 5))
        >>> y = (X**2 - 0.5 * X).sum(axis=1)
        >>> reg = VectorizedSymbolicRegressor(
        ...     population_size=300, generations=5, random_state=0).fit(X, y)
        >>> reg.score(X, y) > 0.99
        True
        >>> reg.input_map_.scaling  # the columns share a unit: one map for all
        'global'
        >>> make = reg.layer_factory(activation="relu")  # TaskNeuronDense layers
        >>> make(16, first=True).input_map == reg.input_map_  # reads the raw features
        True
        >>> make(8).input_map is None  # a hidden layer
        True
    """

    _numeric_target = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # One formula shared by all columns cannot fit a target that weighs
        # the columns differently, as scikit-learn's generic test data does.
        tags.regressor_tags.poor_score = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Search the formula.

        Args:
            X (array-like of shape (n_samples, n_features)): The features.
            y (array-like of shape (n_samples,) or (n_samples, n_outputs)): The targets.
            sample_weight (array-like of shape (n_samples,)): Non-negative weights.

        Returns:
            VectorizedSymbolicRegressor: The fitted estimator.
        """
        X, y, sample_weight = self._validate_inputs(X, y, sample_weight)
        targets = y.reshape(len(y), -1)
        constant = np.all(targets == targets[0], axis=0)
        if np.any(constant):
            raise ValueError(
                "y is constant (output(s) "
                f"{np.flatnonzero(constant).tolist()}); there is nothing to "
                "explain."
            )
        self._y_ndim = y.ndim
        self._fit_targets(X, targets, sample_weight)
        return self

    def predict(self, X, index=None):
        """The fitness's model: ``"separable"``: ``coef_ · [z, g_1(u), …] +
        intercept_``; ``"shared"``: ``coef_ · Σ_i f(u_i) + intercept_``
        (``u = input_map_(x)`` clipped to each column's domain).

        Args:
            X (array-like of shape (n_samples, n_features)): The features.
            index (int or str): Another equation of ``equations_`` (its position, or one of
                ``equations_.choices``), with its own ``a, b`` fitted on every sample;
                ``None`` is the chosen ``formula_``.

        Returns:
            ndarray of shape (n_samples,) or (n_samples, n_outputs): The predictions.
        """
        scores = self._scores(X, index)
        return scores[:, 0] if self._y_ndim == 1 else scores


class VectorizedSymbolicClassifier(ClassifierMixin, _VectorizedSymbolicBase):
    """Vectorized symbolic regression for classification labels.

    The search fits the one-hot labels like a multi-output regression (one
    shared ``f``, a scale and offset per class, as the paper ran VSR on
    classification datasets); a logistic regression on ``Σ_i f(x_i)`` then
    maps the found formula to class probabilities. The arguments and
    attributes are those of [VectorizedSymbolicRegressor][keras_taskneurons.VectorizedSymbolicRegressor],
    with ``coef_`` and ``intercept_`` those of the logistic map, plus
    ``classes_`` and ``logistic_`` (the fitted ``LogisticRegression``).

    Args:
        (the regressor's)

    Examples:
        >>> import numpy as np
        >>> from keras_taskneurons import VectorizedSymbolicClassifier
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(300, 4))
        >>> y = np.where((X**2).sum(axis=1) > 4, "far", "near")
        >>> clf = VectorizedSymbolicClassifier(
        ...     population_size=200, generations=3, random_state=0).fit(X, y)
        >>> clf.score(X, y) > 0.9
        True
    """

    _numeric_target = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As for the regressor: generic test data weighs columns differently.
        tags.classifier_tags.poor_score = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Search the formula on one-hot labels.

        Args:
            X (array-like of shape (n_samples, n_features)): The features.
            y (array-like of shape (n_samples,)): Class labels (at least two classes).
            sample_weight (array-like of shape (n_samples,)): Non-negative weights.

        Returns:
            VectorizedSymbolicClassifier: The fitted estimator.
        """
        X, y, sample_weight = self._validate_inputs(X, y, sample_weight)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        binarizer = LabelBinarizer().fit(y)
        self.classes_ = binarizer.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has a single class ({self.classes_[0]!r}); at least two "
                "are needed."
            )
        targets = binarizer.transform(y).astype(np.float64)
        if targets.shape[1] == 1:  # binary: one column per class
            targets = np.hstack([1.0 - targets, targets])
        self._fit_targets(X, targets, sample_weight)
        # The search scores f by least squares on one-hot labels (fast); the
        # final map from Σ_i f(x_i) to classes is a logistic regression, which
        # places the class boundaries where the likelihood says.
        # One map per equation of the front (``index=`` in the methods below).
        self._logistic_maps = []
        for equation in self.equations_:
            features = self._features(X, equation.formula)
            scale = spread(features)
            logistic = LogisticRegression(C=1e4, max_iter=1000).fit(
                features / scale, y, sample_weight=sample_weight
            )
            self._logistic_maps.append((scale, logistic))
        scale, self.logistic_ = self._logistic_maps[self.equations_.chosen]
        self.coef_ = self._public_coef(self.logistic_.coef_ / scale)
        self.intercept_ = self.logistic_.intercept_
        return self

    def _mapped(self, X, index):
        """The logistic map of equation ``index`` and its features of ``X``."""
        position = self._equation_index(index)  # checks that the estimator is fitted
        scale, logistic = self._logistic_maps[position]
        return logistic, self._checked_features(X, position) / scale

    def decision_function(self, X, index=None):
        """Per-class scores ``coef_ · Σ_i f(x_i) + intercept_``.

        ``index`` chooses another equation of ``equations_`` (as in
        ``VectorizedSymbolicRegressor.predict()``), with its own map.

        Returns:
            ndarray of shape (n_samples, n_classes), or (n_samples,): for two classes
                (positive means ``classes_[1]``).
        """
        logistic, features = self._mapped(X, index)
        return logistic.decision_function(features)

    def predict_proba(self, X, index=None):
        """Class probabilities from the logistic map of ``Σ_i f(x_i)``
        (``index``: as in ``decision_function()``).

        Returns:
            ndarray of shape (n_samples, n_classes): The class probabilities.
        """
        logistic, features = self._mapped(X, index)
        return logistic.predict_proba(features)

    def predict(self, X, index=None):
        """The most probable class (``index``: as in ``decision_function()``)."""
        logistic, features = self._mapped(X, index)
        return logistic.predict(features)


def _section(doc, header):
    """The ``header`` section (``"Args:"``) of a Google-style docstring."""
    lines = doc.split("\n")
    start = lines.index(f"    {header}")
    end = next(i for i in range(start + 1, len(lines))
               if not lines[i].startswith("        ") and lines[i].strip())
    return "\n".join(lines[start:end]).rstrip() + "\n"


# One text for the arguments both estimators share: the regressor's.
VectorizedSymbolicClassifier.__doc__ = VectorizedSymbolicClassifier.__doc__.replace(
    "    Args:\n        (the regressor's)\n", _section(VectorizedSymbolicRegressor.__doc__, "Args:"))
