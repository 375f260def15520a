"""The evolution: gplearn's genetic programming on the stacked data, one
generation at a time, with a progress line per generation and a hall of
fame (the best program of every length over all generations)."""

import time

import numpy as np

from keras_taskneurons import primitives as prim
from keras_taskneurons.search.fitness import ScaledSumFitness


class _Progress:
    """One readable line per generation on stdout."""

    def __init__(self, total, enabled):
        self.total = total
        self.enabled = enabled
        self.start = time.perf_counter()

    def report(self, generation, best, best_ever, length):
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / generation * (self.total - generation)
        print(
            f"generation {generation:>3}/{self.total}  "
            f"best 1-R² {best:.5f}  best ever {best_ever:.5f}  "
            f"length {length:>3}  elapsed {elapsed:6.1f}s  "
            f"left ~{left:5.1f}s",
            flush=True,
        )


def gplearn_regressor(estimator, metric, seed):
    """gplearn's regressor with the estimator's parameters, one
    generation per ``fit`` (``warm_start``)."""
    from gplearn.genetic import SymbolicRegressor

    return SymbolicRegressor(
        population_size=estimator.population_size,
        generations=0,
        tournament_size=estimator.tournament_size,
        stopping_criteria=-np.inf,  # we decide when to stop
        const_range=(
            tuple(float(v) for v in estimator.const_range)
            if estimator.const_range is not None else None
        ),
        init_depth=tuple(int(v) for v in estimator.init_depth),
        function_set=[prim.gplearn_function(n) for n in estimator.function_set],
        metric=metric,
        parsimony_coefficient=estimator.parsimony_coefficient,
        p_crossover=estimator.p_crossover,
        p_subtree_mutation=estimator.p_subtree_mutation,
        p_hoist_mutation=estimator.p_hoist_mutation,
        p_point_mutation=estimator.p_point_mutation,
        p_point_replace=estimator.p_point_replace,
        max_samples=1.0,  # sample selection is ours (whole samples)
        warm_start=True,
        low_memory=True,
        n_jobs=1 if estimator.n_jobs is None else estimator.n_jobs,
        random_state=seed,
    )

def evolve(estimator, train, seed, fitness=None):
    """gplearn's evolution on the stacked evolution rows, one generation at
    a time, with the parameters of the estimator. ``fitness``: an object
    with ``function()`` and ``release()`` scoring the stacked values
    (``SeparableFitness``; the
    paper's ``ScaledSumFitness`` when
    ``None``). Returns the hall of fame (length → (fitness, program), the
    best of all generations), each generation's best ``(fitness, length,
    generation, program)`` and the run details (per generation)."""
    from gplearn.fitness import make_fitness

    U, targets, weights = train
    n_features = U.shape[1]
    if fitness is None:
        fitness = ScaledSumFitness(targets, n_features)
    metric = make_fitness(
        function=fitness.function(), greater_is_better=False, wrap=True
    )
    gp = gplearn_regressor(estimator, metric, seed)
    stacked = U.reshape(-1, 1)
    stacked_target = np.repeat(targets[:, 0], n_features)
    stacked_weight = np.repeat(weights, n_features)

    progress = _Progress(estimator.generations, estimator.verbose > 0)
    details = {
        "generation": [], "best_fitness": [], "best_ever_fitness": [],
        "mean_fitness": [], "best_length": [], "mean_length": [],
        "seconds": [],
    }
    candidates = []  # (fitness, length, generation, program): best ever
    hall = {}  # length -> (fitness, program): the best of all generations
    try:
        for generation in range(1, estimator.generations + 1):
            started = time.perf_counter()
            gp.set_params(generations=generation)
            # gplearn 0.4.3 overwrites numpy's global random state while
            # it draws sample indices (Program.get_all_indices): restore
            # it, so that a fit leaves the caller's global state alone.
            global_state = np.random.get_state()
            try:
                gp.fit(stacked, stacked_target, sample_weight=stacked_weight)
            finally:
                np.random.set_state(global_state)
            population = gp._programs[-1]
            raw = np.array([p.raw_fitness_ for p in population])
            lengths = np.array([p.length_ for p in population])
            for program, value, length in zip(population, raw, lengths):
                if value < hall.get(length, (np.inf,))[0]:
                    hall[length] = (value, program)
            best = int(np.argmin(raw))
            candidates.append(
                (raw[best], lengths[best], generation, population[best])
            )
            best_ever = min(c[0] for c in candidates)
            details["generation"].append(generation)
            details["best_fitness"].append(float(raw[best]))
            details["best_ever_fitness"].append(float(best_ever))
            details["mean_fitness"].append(float(np.mean(raw)))
            details["best_length"].append(int(lengths[best]))
            details["mean_length"].append(float(np.mean(lengths)))
            details["seconds"].append(time.perf_counter() - started)
            progress.report(generation, raw[best], best_ever, lengths[best])
            if best_ever <= estimator.stopping_criteria:
                break
    finally:
        fitness.release()
    return hall, candidates, details
