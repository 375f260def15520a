"""Beyond one process: the search on a Dask cluster, training on many devices.

Which backend each test needs:
- the Dask search is numpy only and runs in every pass;
- ``MultiWorkerMirroredStrategy`` is TensorFlow's: it runs in the TensorFlow
  pass of the suite (two worker processes with ``KERAS_BACKEND=tensorflow``);
- ``keras.distribution.DataParallel`` runs in the JAX pass (a process with two
  host devices, ``XLA_FLAGS=--xla_force_host_platform_device_count=2``).
The other passes skip the last two with the reason saying where they run.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest

from keras_taskneurons import VectorizedSymbolicRegressor
from tests.helpers import BACKEND, ROOT, run_python

# A model holding task-neuron layers of every kind that trains under a
# distribution strategy: a convolution, a dense layer with the one-matmul
# "input_constants" parameterization and one with "constants".
MODEL = textwrap.dedent(
    """
    import keras
    import numpy as np
    import keras_taskneurons as ktn

    def build():
        keras.utils.set_random_seed(0)
        return keras.Sequential([
            keras.Input((8, 2)),
            ktn.TaskNeuronConv1D(4, 3, formula="x**2 + x", activation="tanh"),
            keras.layers.Flatten(),
            ktn.TaskNeuronDense(8, "sin(1.3*x + 0.2) + x", activation="tanh",
                                parameterization="input_constants",
                                basis_initializer="glorot_uniform"),
            ktn.TaskNeuronDense(4, "sin(0.7*x) + x**2", parameterization="constants",
                                basis_initializer="glorot_uniform"),
            keras.layers.Dense(1),
        ])

    def data():
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (256, 8, 2)).astype("float32")
        y = (np.sin(2 * x).sum(axis=(1, 2)) / 4).astype("float32")[:, None]
        return x, y

    def train(model):
        x, y = data()
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        history = model.fit(x, y, batch_size=64, epochs=4, shuffle=False, verbose=0)
        return history.history["loss"]
    """
)


def _search_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 4))
    return X, (X**2 - 0.5 * X).sum(axis=1) + 0.01 * rng.normal(size=200)


def _search(n_jobs):
    return VectorizedSymbolicRegressor(
        population_size=400, generations=4, n_jobs=n_jobs, random_state=3,
    ).fit(*_search_data())


@pytest.mark.once  # the search is numpy: the backend does not matter
def test_search_on_a_dask_cluster_gives_the_serial_formula():
    distributed = pytest.importorskip(
        "distributed", reason="the `distributed` extra is part of the `test` extra")

    serial = _search(n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, \
                joblib.parallel_config(backend="dask"):
            parallel = _search(n_jobs=2)
    workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2, f"the evolution did not run on both workers: {workers}"
    assert str(parallel.formula_) == str(serial.formula_)
    np.testing.assert_allclose(parallel.predict(_search_data()[0]),
                               serial.predict(_search_data()[0]))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (it fails
# converting a PerReplica batch, keras-team/keras#20585, with plain Dense
# layers as well), so the workers train with TensorFlow's own custom loop:
# `strategy.run` of one step per global batch, gradients all-reduced.
CUSTOM_LOOP = MODEL + textwrap.dedent(
    """
    import json
    import tensorflow as tf

    def train_in_loop(strategy):
        x, y = data()
        with strategy.scope():
            model = build()
            optimizer = keras.optimizers.SGD(0.05)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        batches = strategy.experimental_distribute_dataset(dataset.with_options(options))

        def replica_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(model(xb, training=True) - yb)) / 64.0
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        @tf.function
        def step(xb, yb):
            return strategy.reduce("SUM", strategy.run(replica_step, args=(xb, yb)), axis=None)

        losses = []
        for _ in range(4):
            losses.append(float(np.mean([float(step(xb, yb)) for xb, yb in batches])))
        return losses
    """
)
MULTI_WORKER = CUSTOM_LOOP + textwrap.dedent(
    """
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    print(json.dumps(train_in_loop(strategy)))
    """
)
ONE_DEVICE = CUSTOM_LOOP + textwrap.dedent(
    """
    print(json.dumps(train_in_loop(tf.distribute.get_strategy())))
    """
)


@pytest.mark.skipif(BACKEND != "tensorflow",
                    reason="MultiWorkerMirroredStrategy: runs in the TensorFlow pass")
def test_training_under_multi_worker_mirrored_strategy_matches_one_device():
    single = json.loads(run_python(ONE_DEVICE, backend="tensorflow").strip().splitlines()[-1])
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MULTI_WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=dict(env, TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}})),
        )
        for index in range(2)
    ]
    outputs = []
    try:
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr[-4000:]
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            worker.kill()
    assert np.all(np.diff(single) < 0), single  # it learns
    for losses in outputs:  # each worker sees the same global steps
        np.testing.assert_allclose(losses, single, rtol=1e-3)


DATA_PARALLEL = MODEL + textwrap.dedent(
    """
    import json
    single = train(build())
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = build()
    parallel = train(model)
    kernel = model.layers[0].kernel
    print(json.dumps({"single": single, "parallel": parallel,
                      "devices": len(kernel.value.sharding.device_set)}))
    """
)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution on JAX: runs in the JAX pass")
def test_training_under_jax_data_parallel_matches_one_device(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    result = json.loads(run_python(DATA_PARALLEL, backend="jax").strip().splitlines()[-1])
    assert result["devices"] == 2  # the weights live on both devices
    assert np.all(np.diff(result["single"]) < 0), result["single"]
    np.testing.assert_allclose(result["parallel"], result["single"], rtol=1e-3)
