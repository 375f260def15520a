"""A quiet start for the command line.

TensorFlow writes start-up lines to the process's standard error from C++
while it is imported (absl's "All log messages before absl::InitializeLog()"
banner, oneDNN, CUDA-driver and CPU-instruction notices), and since
TensorFlow 2.20 ``TF_CPP_MIN_LOG_LEVEL`` no longer hides them. When the
process is the command line (``keras-taskneurons`` or
``python -m keras_taskneurons``), ``import_backend()`` imports Keras (and
so its backend) with file descriptor 2 sent to a temporary file, then writes
back every line except those informational notices: warnings and errors,
from Python or C++, still reach the terminal.

On TensorFlow it also looks for devices inside that import (a machine
without a GPU would print cuInit's failure at the first operation) and
leaves out tf.function's retracing warnings.

``--verbose`` on the command line, or ``KERAS_TASKNEURONS_VERBOSE=1`` in the
environment, shows everything. Importing the package from Python never
touches standard error.
"""

import importlib
import logging
import os
import re
import sys
import tempfile

VERBOSE_VARIABLE = "KERAS_TASKNEURONS_VERBOSE"

_COMMANDS = ("keras-taskneurons", "keras-taskneurons.exe", "keras-taskneurons-script.py")

NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    # Informational (I...) lines from TensorFlow's start-up files only.
    re.compile(r"^I\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_executor|"
               r"gpu_device|cuda_dnn|cuda_fft|cuda_blas)\.cc:\d+\] "),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
    # A machine without a GPU: TensorFlow's first look for one (the CPU runs on).
    re.compile(r"^E\d{4} [\d:. ]+\d+ cuda_(platform|executor|diagnostics)\.cc:\d+\] "
               r"failed call to cuInit"),
    # The same notices as TensorFlow before 2.20 writes them.
    re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I \S*(port|cudart_stub|"
               r"cpu_feature_guard)\.cc:\d+\] "),
)
"""Start-up lines that carry no information for a user of the command line."""


def is_command_line(argv=None, orig_argv=None):
    """Whether this process was started as the command line: the console
    script, or ``python -m keras_taskneurons`` (not ``python -m`` of another
    module that imports this package)."""
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if not argv:
        return False
    if argv[0] == "-m":
        # The package is being imported to find a __main__: ours only when
        # the interpreter was asked for ``-m keras_taskneurons``.
        return _runs_module(orig_argv, "keras_taskneurons")
    return os.path.basename(argv[0]) in _COMMANDS


def _runs_module(orig_argv, module):
    """Whether the interpreter's own arguments run ``-m module``."""
    arguments = iter(orig_argv[1:])
    for argument in arguments:
        if argument == "-m":
            return next(arguments, None) == module
        if argument.startswith("-m"):  # "-mkeras_taskneurons"
            return argument[2:] == module
        if argument in ("-X", "-W"):  # options with a value of their own
            next(arguments, None)
        elif not argument.startswith("-") or argument.startswith("-c"):
            return False  # a script or a command: not -m at all
    return False


def wants_everything(argv=None, environ=None):
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    return "--verbose" in argv or environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def filtered(text):
    """``text`` without the ``NOISE`` lines."""
    return "".join(
        line for line in text.splitlines(keepends=True)
        if not any(pattern.match(line) for pattern in NOISE)
    )


def import_backend(command_line=None, verbose=False):
    """Import Keras; quietly when this process is the command line
    (``command_line``: ``None`` asks ``is_command_line()``) and nothing
    asks for everything (``verbose``, ``wants_everything()``)."""
    if command_line is None:
        command_line = is_command_line()
    if "keras" in sys.modules or not command_line or verbose or wants_everything():
        importlib.import_module("keras")
    else:
        import_quietly("keras", then=_quiet_tensorflow)


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings (the
    command line predicts on splits of different sizes: expected, harmless)."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_tensorflow(keras):
    """On TensorFlow: look for devices now (inside the quiet import, so a
    machine without a GPU does not print cuInit's failure later) and leave
    out its retracing warnings."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    tf.config.list_physical_devices()
    logging.getLogger("tensorflow").addFilter(_RetracingFilter())


def import_quietly(name, then=None):
    """Import module ``name`` (and call ``then(module)``) with the
    ``NOISE`` lines written to file descriptor 2 left out; everything
    else written there is passed on."""
    def run():
        module = importlib.import_module(name)
        if then is not None:
            then(module)
        return module

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2
        return run()
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            return run()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            rest = filtered(caught.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
