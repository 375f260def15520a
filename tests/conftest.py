"""Shared fixtures. The backend comes from KERAS_BACKEND (CI runs all three)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow's own CPU kernels run convolutions in channels_last only; its
# oneDNN kernels (on by default only on some CPUs) run channels_first too, as
# every other backend does. On, so the suite means the same on every machine.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import inspect  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

# Keras's clear_session() also runs a full garbage collection (about 0.6 s
# with TensorFlow and sympy loaded, 10 of the suite's 19 minutes); Python's
# own collector frees the cycles as the suite goes (Keras >= 3.6).
_CLEAR_KWARGS = (
    {"free_memory": False}
    if "free_memory" in inspect.signature(keras.backend.clear_session).parameters
    else {}
)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the default dtype policy and fresh layer names."""
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(**_CLEAR_KWARGS)
