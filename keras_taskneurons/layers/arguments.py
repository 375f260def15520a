"""One description per layer argument, shared by every layer's docstring.

A layer's docstring lists under ``Args:`` only what is its own (``units``,
``equation``, a conv's ``padding`` …); ``documented()`` completes the
section from ``ARGUMENTS`` in the order of the constructor's signature,
so every argument has one row in ``help()`` and on the API page, and the
basis options read the same in every layer.
"""

import inspect
import re
import textwrap

from keras_taskneurons.layers.options import LAYER_OPTIONS

ARGUMENTS = {
    # The options every layer shares: their one line lives in LAYER_OPTIONS.
    **{name: (option.kind, option.doc) for name, option in LAYER_OPTIONS.items()},
    # The formula and its bases.
    "formula": (
        "Formula or str",
        "The aggregation: a [Formula][keras_taskneurons.Formula] or a formula string in "
        "``x`` (for example ``\"0.3*x**2 - 0.7*x + 0.1\"``), read by the allow-list parser.",
    ),
    "parameterization": (
        "str",
        "``\"terms\"`` (a weight per input and basis, one matmul), ``\"constants\"`` (every "
        "constant inside a basis trainable per input and unit, the paper's Fig. 1) or "
        "``\"input_constants\"`` (those constants trainable per input, shared by the units).",
    ),
    "bases": (
        "list of str or None",
        "The formula's bases in kernel order, as ``get_config`` stores them; refused when "
        "they are not the formula's own. Leave ``None``.",
    ),
    "lora_rank": (
        "int or None",
        "Build with LoRA enabled at this rank (``enable_lora``: the kernel frozen, a "
        "low-rank update trained); ``None``: no LoRA.",
    ),
    "lora_alpha": (
        "float or None",
        "The LoRA update's scale is ``lora_alpha / lora_rank``; ``None``: ``lora_rank``.",
    ),
    # Keras's own arguments, with the meaning Keras gives them.
    "units": ("int", "Positive integer, the dimensionality of the output space."),
    "filters": ("int", "Positive integer, the number of output channels."),
    "kernel_size": ("int or tuple of int", "The window's size, one integer per spatial axis or one for all."),
    "strides": ("int or tuple of int", "The strides, one integer per spatial axis or one for all."),
    "padding": ("str", "``\"valid\"`` or ``\"same\"`` (1D convolutions: also ``\"causal\"``), "
                "case-insensitive."),
    "output_padding": (
        "int, tuple of int or None",
        "Padding of the output's spatial axes, each smaller than the stride (or dilation "
        "rate) along its axis; ``None``: inferred.",
    ),
    "data_format": (
        "str or None",
        "``\"channels_last\"`` or ``\"channels_first\"``; ``None``: Keras's "
        "``image_data_format``.",
    ),
    "dilation_rate": ("int or tuple of int",
                      "The dilation rate, one integer per spatial axis or one for all."),
    "groups": ("int", "Positive integer dividing the input channels and ``filters``: grouped convolution."),
    "activation": ("str, callable or None", "Activation function; ``None``: the identity."),
    "recurrent_activation": ("str, callable or None", "Activation of the recurrent gates."),
    "recurrent_initializer": ("str or Initializer", "Initializer of the recurrent kernel's ``x`` block."),
    "unit_forget_bias": ("bool", "Add 1 to the forget gate's bias at initialization (as Keras's LSTM)."),
    "recurrent_regularizer": ("str, Regularizer or None", "Regularizer applied to the recurrent kernel."),
    "recurrent_constraint": ("str, Constraint or None", "Constraint applied to the recurrent kernel."),
    "reset_after": ("bool", "GRU convention: apply the reset gate after the matrix "
                    "multiplication (Keras's default)."),
    "return_sequences": ("bool", "Return every step's output, not only the last."),
    "return_state": ("bool", "Return the final states besides the output."),
    "go_backwards": ("bool", "Process the sequence backwards and return it reversed."),
    "stateful": ("bool", "Each batch's last states start the next batch."),
    "unroll": ("bool", "Unroll the time loop (faster for short sequences, more memory)."),
    "kwargs": ("", "Base layer keyword arguments, such as ``name`` and ``dtype``."),
}
"""``{argument: (type, description)}`` for every argument the layers share."""

_ENTRY = re.compile(r"^        (\*{0,2}\w+)(?: \(([^)]*)\))?: ?(.*)$")


def documented(cls):
    """Complete ``cls``'s ``Args:`` section: one entry per constructor
    argument in signature order, the class's own entries first choice, the
    rest from ``ARGUMENTS``. Refuses an argument documented nowhere."""
    doc = inspect.cleandoc(cls.__doc__)
    lines = doc.split("\n")
    start = lines.index("Args:")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i].startswith("    ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    own, name = {}, None
    for line in lines[start + 1:end]:
        match = _ENTRY.match("    " + line)
        if match:
            name = match.group(1).lstrip("*")
            own[name] = [line]
        elif name is not None:
            own[name].append(line)
    entries = []
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.name == "self":
            continue
        if parameter.name in own:
            entries.extend(own.pop(parameter.name))
            continue
        if parameter.name not in ARGUMENTS:
            raise TypeError(f"{cls.__name__}: argument {parameter.name!r} is documented nowhere")
        kind, text = ARGUMENTS[parameter.name]
        star = "**" if parameter.kind is parameter.VAR_KEYWORD else ""
        entries.extend(textwrap.wrap(
            f"{star}{parameter.name}" + (f" ({kind})" if kind else "") + f": {text}",
            width=88, initial_indent="    ", subsequent_indent="        ",
            break_long_words=False, break_on_hyphens=False))
    if own:
        raise TypeError(f"{cls.__name__}: documents arguments it does not take: {sorted(own)}")
    cls.__doc__ = "\n".join(lines[:start + 1] + entries + lines[end:]) + "\n"
    return cls
