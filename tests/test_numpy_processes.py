"""The numpy engine's helper processes (``engines/numpy_processes.py``): a full batch's chunked pass
split over forked processes gives the numbers of one process, bit for bit, for any dense network;
a helper that dies leaves its chunks to the engine; every helper ends with the engine."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import engines
from backprop_cli.engines import numpy_processes
from backprop_cli.engines.base import EngineSettings
from backprop_cli.engines.numpy_engine import NumpyEngine
from backprop_cli.model import Optimizer, random_network
from backprop_cli.training import TrainSettings, train


def _network(hidden, output, loss, optimizer="sgd", lr=0.5, widths=(2, 5, 4, 1), **options):
    network = random_network(widths, activation=hidden, output_activation=output, loss=loss, lr=lr, seed=3,
                             **options)
    return replace(network, optimizer=Optimizer(optimizer))


CASES = {  # the chunk tests' networks (tests/test_numpy_chunks.py), without torch
    "sigmoid bce sgd": _network("sigmoid", "sigmoid", "bce"),
    "tanh bce adam": _network("tanh", "sigmoid", "bce", "adam", lr=0.05),
    "relu mse momentum": _network("relu", "identity", "mse", "momentum", lr=0.05),
    "formula half_sse": _network("x/(1+abs(x))", "x/(1+abs(x))", "half_sse", lr=0.05),
    "softmax cross_entropy": _network("relu", "softmax", "cross_entropy", "adam", lr=0.05, widths=(2, 6, 3)),
    "softmax mse": _network("sigmoid", "softmax", "mse", widths=(2, 6, 3)),
    "no bias": _network("tanh", "sigmoid", "bce", bias=False),
}
_adam = _network("sigmoid", "sigmoid", "bce", "adam", lr=0.05)
CASES["frozen bias"] = replace(_adam, layers=(replace(_adam.layers[0], freeze_bias=True), *_adam.layers[1:]))


def _data(network, samples):
    rng = np.random.default_rng(samples)
    X = rng.uniform(-1.0, 1.0, (samples, network.inputs))
    if network.outputs == 1:
        Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    else:
        Y = np.eye(network.outputs)[rng.integers(0, network.outputs, samples)]
    return X.tolist(), Y.tolist()

pytestmark = pytest.mark.skipif(not engines.can_fork(), reason="helpers are forked on Linux only")


@pytest.fixture
def forking(monkeypatch):
    """Helpers for small batches: chunks of 16 samples, one helper per chunk, forks counted free."""
    monkeypatch.setattr(engines, "FORK_SECONDS", 0.0)
    monkeypatch.setattr(engines, "CHUNKS_A_PROCESS", 1)
    forked: list[numpy_processes.Helpers] = []
    init = numpy_processes.Helpers.__init__

    def recorded(self, *args):
        init(self, *args)
        forked.append(self)

    monkeypatch.setattr(numpy_processes.Helpers, "__init__", recorded)
    return forked


def _engine(network, xs, ys, cpus, monkeypatch, **options):
    monkeypatch.setattr(engines, "cpus", lambda: cpus)
    engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs), **options))
    engine.chunk_rows = 16
    return engine


def _trained(engine, epochs=12):
    _, recorded = engine.run(1, 4, range(1, epochs + 1), [False])  # helpers forked in the first run
    _, more = engine.run(5, epochs - 4, range(1, epochs + 1), [False])  # and kept for the next
    loss, predictions = engine.evaluate(3)
    return [value for _, value in recorded + more], loss, predictions, {
        key: value.copy() for key, value in engine.params.items()}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES)
def test_helpers_give_the_numbers_of_one_process(case, dtype, forking, monkeypatch):
    network = CASES[case]
    xs, ys = _data(network, samples=150)  # 9 chunks of 16 and one of 6
    alone = _trained(_engine(network, xs, ys, 1, monkeypatch, dtype=dtype))
    assert not forking
    engine = _engine(network, xs, ys, 3, monkeypatch, dtype=dtype)
    split = _trained(engine)
    assert len(forking) == 1 and len(forking[0]._children) == 2  # forked once, two helpers
    assert forking[0].cuts == [0, 3, 6, 10]
    assert split[:3] == alone[:3]  # losses, final loss and predictions: equal, not close
    for key, value in alone[3].items():
        assert np.array_equal(split[3][key], value) and split[3][key].dtype == np.dtype(dtype)
    pids = [pid for pid, _, _ in forking[0]._children]
    engine.close()
    assert not any(_alive(pid) for pid in pids)


def test_a_helper_that_dies_leaves_its_chunks_to_the_engine(forking, monkeypatch):
    network = CASES["relu mse momentum"]
    xs, ys = _data(network, samples=150)
    alone = _trained(_engine(network, xs, ys, 1, monkeypatch))
    engine = _engine(network, xs, ys, 3, monkeypatch)
    engine.run(1, 4, range(1, 13), [False])
    (first, _, _), (second, _, _) = forking[0]._children
    os.kill(first, signal.SIGKILL)  # the engine reads the end of its answers, and waits for it
    _, more = engine.run(5, 8, range(1, 13), [False])
    assert forking[0]._children[0][1] == -1 and forking[0]._children[1][1] >= 0  # dropped, kept
    assert [value for _, value in more] == alone[0][4:]
    assert engine.evaluate(3) == tuple(alone[1:3])
    engine.close()
    assert not _alive(first) and not _alive(second)


def test_training_ends_its_helpers(forking, monkeypatch):
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network, samples=150)
    monkeypatch.setattr(NumpyEngine, "__init__", _small_chunks(NumpyEngine.__init__))
    result = train(network, xs, ys, TrainSettings(epochs=30, backend="numpy"))
    monkeypatch.setattr(engines, "cpus", lambda: 1)
    alone = train(network, xs, ys, TrainSettings(epochs=30, backend="numpy"))
    assert len(forking) == 1 and result.final_loss == alone.final_loss
    assert result.history == alone.history
    assert not any(_alive(pid) for pid, _, _ in forking[0]._children)
    assert forking[0]._children == []


def _small_chunks(init):
    def made(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.chunk_rows = 16

    return made


def test_helpers_only_for_a_full_batch_in_order(forking, monkeypatch):
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network, samples=150)
    for options in ({"batch_size": 100}, {"order": lambda epoch: range(150)}):
        monkeypatch.setattr(engines, "cpus", lambda: 2)
        engine = NumpyEngine(network, xs, ys, EngineSettings(**{"batch_size": 150, **options}))
        engine.chunk_rows = 16
        engine.run(1, 3, range(4), [False])
    assert not forking


def test_helpers_where_they_repay_their_forks(monkeypatch):
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    assert engines.processes_for(66) == 2 and engines.processes_for(7) == 1
    fork = engines.FORK_SECONDS
    assert engines.helpers_for(66, 10, 0.03) == 1  # 200,000 samples of 2-16-16-1: 10 epochs repay it
    assert engines.helpers_for(66, 1, fork / 10) == 0  # an epoch too short to repay a fork
    assert engines.helpers_for(7, 1000, 1.0) == 0  # too few chunks to split
    monkeypatch.setattr(engines, "cpus", lambda: 1)
    assert engines.helpers_for(66, 1000, 1.0) == 0
    monkeypatch.setattr(engines, "cpus", lambda: 4)
    assert engines.helpers_for(66, 1000, 1.0) == 3
    monkeypatch.setattr(sys, "platform", "darwin")  # no fork where the system's libraries forbid it
    assert not engines.can_fork() and engines.helpers_for(66, 1000, 1.0) == 0


def test_the_cost_model_counts_the_processes_the_engine_would_fork(monkeypatch):
    network = random_network((2, 16, 16, 1), seed=0)
    one = engines.numpy_epoch_seconds(network, 200_000, one_process=True)
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    split = pytest.approx(one / (2 * engines.PROCESS_EFFICIENCY))
    assert engines.numpy_epoch(network, 200_000, epochs=100) == (split, 2)
    assert engines.numpy_epoch(network, 200_000, epochs=None)[1] == 2
    assert engines.numpy_epoch(network, 200_000, epochs=1, dtype="float32")[1] == 1  # one epoch: not worth a fork
    assert engines.numpy_epoch(network, 200_000, full_batch=False, epochs=100) == (one, 1)  # batches: one process
    assert engines.numpy_epoch(network, 2_000, epochs=100)[1] == 1
    monkeypatch.setattr(engines, "fused_cached", lambda: True)
    monkeypatch.setattr(engines, "fused_loaded", lambda: False)
    monkeypatch.setattr(engines, "numba_installed", lambda: True)
    for dtype in ("float64", "float32"):  # full batch: numpy on two processes, ahead of the fused engine's threads
        name, reason = engines.choose(network, 200_000, False, "cpu", dtype, epochs=20_000)
        assert name == "numpy" and "on 2 process(es)" in reason.text()
    # batches of 50,000 run on one process, where the fused engine's two threads are the faster
    assert engines.choose(network, 200_000, False, "cpu", "float32", epochs=20_000, batch_size=50_000)[0] == "numba"
    assert engines.choose(network, 200_000, True, "cpu", "float32", epochs=20_000)[0] != "numba"  # shuffled: numpy
    monkeypatch.setattr(engines, "cpus", lambda: 1)
    assert engines.numpy_epoch_seconds(network, 200_000) == one


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       hidden=st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu", "identity"]),
       head=st.sampled_from([("sigmoid", "bce", 1), ("identity", "mse", 2), ("softmax", "cross_entropy", 3)]),
       samples=st.integers(40, 120), cpus=st.integers(2, 4), bias=st.booleans())
def test_any_dense_network_splits_to_the_same_numbers(widths, hidden, head, samples, cpus, bias, forking,
                                                      monkeypatch):
    output, loss, outputs = head
    network = random_network((2, *widths, outputs), activation=hidden, output_activation=output, loss=loss,
                             lr=0.1, seed=samples, bias=bias)
    xs, ys = _data(network, samples=samples)
    alone = _trained(_engine(network, xs, ys, 1, monkeypatch), epochs=6)
    before = len(forking)
    split = _trained(_engine(network, xs, ys, cpus, monkeypatch), epochs=6)
    assert len(forking) == before + 1
    assert split[:3] == alone[:3] or (np.isnan(split[1]) and np.isnan(alone[1]))
    for key, value in alone[3].items():
        assert np.array_equal(split[3][key], value, equal_nan=True)


def test_the_whole_trainings_epochs_repay_the_forks(monkeypatch):
    monkeypatch.setattr(engines, "CHUNKS_A_PROCESS", 1)
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network, samples=150)
    short = _engine(network, xs, ys, 2, monkeypatch)
    short.run(1, 1, range(2), [False])  # one epoch of 150 samples: not worth a fork
    assert short._open_helpers is None
    long = _engine(network, xs, ys, 2, monkeypatch, epochs=10**7)  # a training of many: worth it at once
    long.run(1, 1, range(2), [False])
    assert long._open_helpers is not None
    long.close()
    assert long._open_helpers is None


def test_a_refused_fork_leaves_the_engine_alone(forking, monkeypatch):
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network, samples=150)
    alone = _trained(_engine(network, xs, ys, 1, monkeypatch))
    forks = []
    real_fork = os.fork

    def second_refused():
        if forks:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        forks.append(real_fork())
        return forks[-1]

    monkeypatch.setattr(os, "fork", second_refused)
    engine = _engine(network, xs, ys, 3, monkeypatch)
    split = _trained(engine)
    assert engine._open_helpers is None and not forking  # no helpers: the first one forked has ended
    assert forks and not _alive(forks[0])
    assert split[:3] == alone[:3]


def test_two_engines_helpers_end_each_with_its_engine(forking, monkeypatch):
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network, samples=150)
    first, second = (_engine(network, xs, ys, 2, monkeypatch) for _ in range(2))
    first.run(1, 2, range(3), [False])
    second.run(1, 2, range(3), [False])  # forked while the first engine's helper is open
    (pid, _, _), = forking[0]._children
    began = time.monotonic()
    first.close()  # its helper sees the end of its commands at once: no copy of the pipe is left open
    assert time.monotonic() - began < 1.0 and not _alive(pid)
    assert second.run(3, 2, range(5), [False])[0] == 2
    second.close()
