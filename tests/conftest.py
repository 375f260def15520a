"""Shared fixtures. The backend comes from KERAS_BACKEND (CI runs all three)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's own CPU kernels run convolutions in channels_last only; its
# oneDNN kernels (on by default only on some CPUs) run channels_first too, as
# every other backend does. On, so the suite means the same on every machine.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import gc  # noqa: E402
import inspect  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

_SKIPS_COLLECTION = "free_memory" in inspect.signature(keras.backend.clear_session).parameters


def _clear_session():
    """Keras's ``clear_session()`` without its full garbage collection
    (about 0.6 s with TensorFlow and sympy loaded: 10 of the suite's 19
    minutes); Python's own collector frees the cycles as the suite goes.
    Keras >= 3.6 says so with ``free_memory=False``; before, its call to
    ``gc.collect`` is skipped for the while."""
    if _SKIPS_COLLECTION:
        keras.backend.clear_session(free_memory=False)
        return
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        keras.backend.clear_session()
    finally:
        gc.collect = collect


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the default dtype policy and fresh layer names."""
    yield
    keras.config.set_dtype_policy("float32")
    _clear_session()
