"""The numpy engine's chunked pass for dense networks (``NumpyEngine._chunked_gradients``) against a
plain PyTorch loop (float64) and against the engine's whole-batch pass: the same losses and weights."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli import engines
from backprop_cli.engines import numpy_engine
from backprop_cli.engines.base import EngineSettings
from backprop_cli.engines.numpy_engine import NumpyEngine
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_train
from tests.test_engines import SOFTSIGN, reference_activation
from tests.test_engines import _network as dense_network

torch = pytest.importorskip("torch")


def _network(hidden, output, loss, optimizer="sgd", lr=0.5, widths=(2, 5, 4, 1), **options):
    return dense_network(hidden, output, loss, optimizer, lr=lr, widths=widths, **options)


CASES = {
    "sigmoid bce sgd": _network("sigmoid", "sigmoid", "bce"),
    "tanh bce adam": _network("tanh", "sigmoid", "bce", "adam", lr=0.05),
    "relu mse momentum": _network("relu", "identity", "mse", "momentum", lr=0.05),
    "formula half_sse": _network(SOFTSIGN, SOFTSIGN, "half_sse", lr=0.05),
    "softmax cross_entropy": _network("relu", "softmax", "cross_entropy", "adam", lr=0.05, widths=(2, 6, 3)),
    "softmax mse": _network("sigmoid", "softmax", "mse", widths=(2, 6, 3)),
    "frozen bias": _network("sigmoid", "sigmoid", "bce", "adam", lr=0.05, freeze=True),
    "no bias": _network("tanh", "sigmoid", "bce", bias=False),
}
BATCHING = {"full batch": {}, "batches of 40, shuffled": {"batch_size": 40, "shuffle": True, "seed": 3}}


def _data(network, samples=90):
    rng = np.random.default_rng(11)
    X = rng.uniform(-1.0, 1.0, (samples, network.inputs))
    if network.outputs == 1:
        Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    else:
        Y = np.eye(network.outputs)[rng.integers(0, network.outputs, samples)]
    return [tuple(r) for r in X.tolist()], [tuple(r) for r in Y.tolist()]


def _trained(network, xs, ys, epochs, **options):
    result = train(network, xs, ys, TrainSettings(epochs=epochs, log_every=1, backend="numpy", **options))
    data = result.to_dict()
    return {"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
            "layers": data["layers"]}


@pytest.mark.parametrize("batching", BATCHING)
@pytest.mark.parametrize("case", CASES)
def test_chunks_equal_the_whole_batch_and_a_pytorch_loop(case, batching, monkeypatch):
    network, options = CASES[case], BATCHING[batching]
    xs, ys = _data(network)
    whole = _trained(network, xs, ys, 40, **options)
    calls = []
    chunked_gradients = NumpyEngine._chunked_gradients

    def counted(self, X, Y, with_loss, backward=True):
        calls.append(len(X))
        return chunked_gradients(self, X, Y, with_loss, backward)

    monkeypatch.setattr(numpy_engine, "chunk_rows", lambda *_: 7)  # 90 samples: 12 chunks of 7, one of 6
    monkeypatch.setattr(NumpyEngine, "_chunked_gradients", counted)
    chunked = _trained(network, xs, ys, 40, **options)
    assert calls and max(calls) > 7
    assert_close(chunked, whole, tol=1e-12)
    reference = torch_train(network, xs, ys, 40, batch_size=options.get("batch_size"),
                            shuffle_seed=options.get("seed"), activation=reference_activation)
    assert_close(chunked, reference, tol=1e-10)


@pytest.mark.parametrize("case", ["sigmoid bce sgd", "softmax cross_entropy", "formula half_sse"])
def test_float32_stays_float32_through_the_chunks(case):
    network = CASES[case]
    xs, ys = _data(network)
    engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs), dtype="float32"))
    engine.chunk_rows = 16
    grads, loss = engine._chunked_gradients(engine.X, engine.Y, True)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert all(buffer.dtype == np.float32 for arrays in engine._chunk_arrays.values()
               for layer in arrays for buffer in layer)
    _, recorded = engine.run(0, 20, range(20), [False])
    assert {p.dtype for p in engine.params.values()} == {np.dtype(np.float32)}
    reference = torch_train(network, xs, ys, 20, activation=reference_activation)
    assert np.allclose([loss for _, loss in recorded], reference["history"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("one_thread", [True, False])
@pytest.mark.parametrize("widths", [(2, 16, 16, 1), (2, 3, 1), (784, 300, 100, 10), (1, 1)])
def test_chunks_stay_within_the_cache_and_one_blas_thread(widths, one_thread):
    rows = engines.chunk_rows(widths, one_thread)
    assert engines.MIN_CHUNK_ROWS <= rows <= engines.CHUNK_ROWS
    assert rows * max(widths[1:]) <= engines.CHUNK_VALUES or rows == engines.MIN_CHUNK_ROWS
    if not one_thread:  # OpenBLAS's own threshold: one thread up to 2¹⁸ multiply-adds
        products = max((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
        assert rows * products <= engines.CHUNK_PRODUCTS or rows == engines.MIN_CHUNK_ROWS


def test_blas_is_held_to_one_thread_while_the_chunks_run(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    network = CASES["sigmoid bce sgd"]
    xs, ys = _data(network)
    engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs)))
    engine.chunk_rows = 16
    seen = []
    chunked_gradients = NumpyEngine._chunked_gradients

    def counted(self, X, Y, with_loss):
        seen.append({info["user_api"]: info["num_threads"] for info in threadpoolctl.threadpool_info()})
        return chunked_gradients(self, X, Y, with_loss)

    monkeypatch.setattr(NumpyEngine, "_chunked_gradients", counted)
    before = {info["user_api"]: info["num_threads"] for info in threadpoolctl.threadpool_info()}
    engine.run(0, 2, range(2), [False])
    assert len(seen) == 2 and all(threads.get("blas") == 1 for threads in seen)
    assert {info["user_api"]: info["num_threads"] for info in threadpoolctl.threadpool_info()} == before


def test_without_threadpoolctl_the_chunks_stay_under_openblas_threads(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    assert type(numpy_engine.one_blas_thread()).__name__ == "nullcontext"


@pytest.mark.parametrize("case", ["sigmoid bce sgd", "softmax cross_entropy", "relu mse momentum", "no bias"])
def test_the_loss_and_predictions_of_a_large_batch_come_from_the_chunks(case, monkeypatch):
    network = CASES[case]
    xs, ys = _data(network)
    engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs)))
    engine.chunk_rows = 16
    forward = []
    chunked_gradients = NumpyEngine._chunked_gradients

    def counted(self, X, Y, with_loss, backward=True):
        forward.append(backward)
        return chunked_gradients(self, X, Y, with_loss, backward)

    monkeypatch.setattr(NumpyEngine, "_chunked_gradients", counted)
    loss, predictions = engine.evaluate(5)
    assert forward == [False]
    engine.chunkable = False
    whole_loss, whole_predictions = engine.evaluate(5)
    assert loss == pytest.approx(whole_loss, rel=1e-13)
    assert predictions == whole_predictions and len(predictions) == 5
    reference = torch_train(network, xs, ys, 0, activation=reference_activation)
    assert loss == pytest.approx(reference["final_loss"], rel=1e-12)
