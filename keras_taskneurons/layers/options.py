"""The options every task-neuron layer shares, one entry each.

An entry holds the option's default, its type and one line of documentation
(``arguments.documented`` writes it into every layer's ``Args:``), its
check (the value a layer stores, or a ``TypeError``/``ValueError`` quoting
the argument) and its config form. ``BasisLayer`` reads the options from
this table, checks and stores them, and writes them into its config; the
public constructors name them in their signatures (what a reader sees in
``help()`` and an IDE) and pass them on with ``passed_on(locals())``.
``tests/test_options.py`` checks every public constructor against the table.

Adding an option: its entry here, the code that uses it, and its name in
each public constructor's signature.
"""

import math
import numbers
from typing import Any, Callable, NamedTuple

import keras
import numpy as np

from keras_taskneurons.input_map import InputMap, _domain_pair

DEFAULT_BASIS_DOMAIN = (-1.0, 1.0)
"""The default basis domain: the range formulas are searched on with the
default (min-max) scaling."""

BASIS_RANGES = ("auto", "clip", "running", None)

NORMALIZATIONS = (True, False, "spread")


def _identity(value):
    return value


class Option(NamedTuple):
    """One shared layer option: ``check(value)`` gives what the layer
    stores (or raises), ``config(stored)`` what its config holds."""

    default: Any
    kind: str
    doc: str
    check: Callable = _identity
    config: Callable = _identity


def is_positive_number(value):
    """A finite positive Python or numpy number (not a bool)."""
    return (
        not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
        and math.isfinite(value) and value > 0
    )


def invalid(name, expected, value, error=ValueError):
    """The layers' one wording for a refused argument."""
    return error(f"Received an invalid value for `{name}`, expected {expected}. "
                 f"Received: {name}={value!r:.200}")


def check_bool(name, value):
    if not isinstance(value, bool):
        raise invalid(name, "a bool", value, TypeError)
    return value


def _boolean(name):
    return lambda value: check_bool(name, value)


def _basis_scale(value):
    if value != "coefficients" and not is_positive_number(value):
        raise invalid("basis_scale", "a positive number or 'coefficients'", value)
    return value if value == "coefficients" else float(value)


def _normalize_bases(value):
    if not isinstance(value, (bool, str)):
        raise invalid("normalize_bases", "a bool or 'spread'", value, TypeError)
    if value not in NORMALIZATIONS:
        raise invalid("normalize_bases", "True (by the largest magnitude), 'spread' (by the "
                      "spread on the search's rows) or False", value)
    return value


def _basis_range(value):
    if not (value is None or (isinstance(value, str) and value in BASIS_RANGES)):
        raise invalid("basis_range", f"one of {BASIS_RANGES}", value)
    return value


def _domain(value):
    """A checked ``(low, high)`` pair; ``None`` stays (the layer resolves it)."""
    if value is None:
        return None
    try:
        return _domain_pair(value)
    except ValueError:
        raise invalid("basis_domain", "a (low, high) pair of finite numbers, low < high",
                      value) from None


def check_interaction_rank(value):
    """Refuse ``value`` unless it is a non-negative int (numpy ints too)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise invalid("interaction_rank", "a non-negative integer (0: no interaction term)",
                      value)
    return int(value)


def _keras(name, module, default, kind, doc):
    """An option Keras reads with ``module.get`` and writes with
    ``module.serialize``; a value Keras cannot read is refused naming it."""

    def check(value):
        try:
            return module.get(value)
        except (ValueError, TypeError) as error:
            raise invalid(name, f"what keras.{module.__name__.split('.')[-1]}.get() reads "
                          f"({error})", value, type(error)) from None

    return Option(default, kind, doc, check, module.serialize)


LAYER_OPTIONS = {
    "use_bias": Option(True, "bool", "Whether the layer uses a bias vector.",
                       _boolean("use_bias")),
    "linear_basis": Option(
        True, "bool",
        "Whether the layer holds the basis ``x`` even when the formula lacks it, so that it "
        "starts as its Keras twin.", _boolean("linear_basis")),
    "basis_scale": Option(
        0.1, "float or str",
        "Positive factor on every basis but ``x``: how fast the other bases train relative "
        "to the linear one. ``\"coefficients\"`` uses each basis's coefficient in the "
        "formula, relative to the largest.", _basis_scale),
    "normalize_bases": Option(
        True, "bool or str",
        "How each basis but ``x`` is sized before ``basis_scale``: ``True``, divided by its "
        "largest magnitude on the basis domain; ``\"spread\"``, by its standard deviation on "
        "values standing for the layer's input; ``False``, not at all.", _normalize_bases),
    "input_map": Option(
        None, "InputMap, dict or None",
        "The map from the layer's input to the values the formula was searched on (the "
        "search's ``input_map_``, or its config); set on the first layer of a network, "
        "``None`` elsewhere.",
        lambda value: None if value is None else InputMap.from_config(value),
        lambda value: None if value is None else value.get_config()),
    "basis_range": Option(
        "auto", "str or None",
        "How the bases but ``x`` are kept in the basis domain: ``\"clip\"``, ``\"running\"`` "
        "(running statistics of the layer's input mapped onto the domain, then clipped), "
        "``None`` (not at all) or ``\"auto\"`` (``\"clip\"`` with an input map, else "
        "``\"running\"``).", _basis_range),
    "basis_domain": Option(
        None, "tuple of 2 floats or None",
        "The basis domain ``(low, high)``, the range the formula was searched on; ``None``: the input map's "
        "domain, else ``(-1, 1)``.", _domain, list),
    "interaction_rank": Option(
        0, "int",
        "Rank ``r`` of the interaction term, products of two projections of the input added "
        "to every unit (zero at the start); 0: none.", check_interaction_rank),
    **{name: _keras(name, *entry) for name, entry in {
        "kernel_initializer": (keras.initializers, "glorot_uniform", "str or Initializer",
                               "Initializer of the kernel's ``x`` block."),
        "basis_initializer": (keras.initializers, "zeros", "str or Initializer",
                              "Initializer of every basis block but ``x``'s (zeros: the layer "
                              "starts as its Keras twin)."),
        "bias_initializer": (keras.initializers, "zeros", "str or Initializer",
                             "Initializer of the bias vector."),
        "kernel_regularizer": (keras.regularizers, None, "str, Regularizer or None",
                               "Regularizer applied to the kernel."),
        "bias_regularizer": (keras.regularizers, None, "str, Regularizer or None",
                             "Regularizer applied to the bias vector."),
        "activity_regularizer": (keras.regularizers, None, "str, Regularizer or None",
                                 "Regularizer applied to the output."),
        "kernel_constraint": (keras.constraints, None, "str, Constraint or None",
                              "Constraint applied to the kernel."),
        "bias_constraint": (keras.constraints, None, "str, Constraint or None",
                            "Constraint applied to the bias vector."),
    }.items()},
}
"""``{name: Option}``: the options ``BasisLayer`` checks, stores and writes
into its config, in config order."""


def passed_on(local):
    """The ``LAYER_OPTIONS`` among a constructor's ``locals()``: what it
    passes on to its base class by name."""
    return {name: local[name] for name in LAYER_OPTIONS if name in local}


def check_options(options):
    """``{name: stored value}`` for ``options`` (a dict of some of
    ``LAYER_OPTIONS``), each checked; what is not given takes its default."""
    return {name: option.check(options.get(name, option.default))
            for name, option in LAYER_OPTIONS.items()}


def reseeded(initializer, draw):
    """``initializer`` for its ``draw``-th block of a kernel: a seeded
    initializer gives the same values at every call, so each later block
    gets its seed plus ``draw`` (distinct blocks, still reproducible)."""
    seed = getattr(initializer, "seed", None)
    if draw == 0 or isinstance(seed, bool) or not isinstance(seed, int):
        return initializer
    return type(initializer).from_config({**initializer.get_config(), "seed": seed + draw})
