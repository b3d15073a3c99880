"""The fused numba engine (``--backend numba`` past the scalar engine's size, and in float32): equal
to a PyTorch loop in float64, its vectorised exp equal to math.exp, its cache kept only where it is
safe, and picked by auto by its cost model."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli import engines
from backprop_cli.cli import main
from backprop_cli.engines.base import EngineSettings
from backprop_cli.errors import BackpropError
from backprop_cli.model import SEED, Optimizer, random_network
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_train
from tests.test_engines import CASES, XOR, trained

pytest.importorskip("numba")
pytest.importorskip("torch")

import numpy as np  # noqa: E402

from backprop_cli.engines import fused_kernels  # noqa: E402 - needs numba
from backprop_cli.engines.fused import CHUNK, FusedEngine  # noqa: E402


@pytest.fixture
def fused_for_all(monkeypatch):
    """--backend numba runs the fused engine for small networks too (else the scalar engine runs them)."""
    monkeypatch.setattr(engines, "NUMBA_MAX_PARAMETERS", 0)


@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("case", [name for name in CASES if "formula" not in name])
def test_losses_activations_optimizers_and_batches_equal_a_pytorch_loop(case, batch, fused_for_all):
    network, ys = CASES[case]
    reference = torch_train(network, XOR[0], ys, 60, batch_size=batch)
    ours, result = trained(network, XOR[0], ys, 60, backend="numba", batch_size=batch)
    assert result.backend == "numba"
    assert_close(ours, reference, tol=1e-10)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_a_network_past_the_scalar_engines_size_equals_a_pytorch_loop(optimizer):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (40, 2))
    Y = np.eye(3)[rng.integers(0, 3, 40)]
    network = replace(random_network((2, 16, 16, 3), activation="relu", output_activation="softmax",
                                     loss="cross_entropy", seed=0, lr=0.05),
                      optimizer=Optimizer(optimizer, weight_decay=0.01))
    assert network.parameter_count > engines.NUMBA_MAX_PARAMETERS
    xs, ys = X.tolist(), Y.tolist()
    ours, result = trained(network, xs, ys, 40, backend="numba")
    assert result.backend == "numba"
    assert_close(ours, torch_train(network, xs, ys, 40), tol=1e-10)


def test_batches_across_chunks_equal_a_pytorch_loop():
    # More samples than a chunk, batches that end inside a chunk, the last one smaller.
    samples = 2 * CHUNK + 37
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, (samples, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    network = random_network((3, 9, 7, 1), activation="tanh", output_activation="sigmoid", seed=4, lr=0.3)
    xs, ys = X.tolist(), Y.tolist()
    for batch in (None, CHUNK + 50):
        ours, _ = trained(network, xs, ys, 6, backend="numba", batch_size=batch)
        assert_close(ours, torch_train(network, xs, ys, 6, batch_size=batch), tol=1e-10)


@pytest.fixture
def threads_for_every_chunk(monkeypatch):
    """The fused engine splits any batch of two chunks or more, over up to three threads, on any machine."""
    monkeypatch.setattr(engines, "CHUNKS_A_THREAD", 1)
    monkeypatch.setattr(engines, "cpus", lambda: 3)


def _tanh_sigmoid_data(samples, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (samples, 3))
    Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    return X.tolist(), Y.tolist()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [None, 1100])
def test_batches_split_over_threads_equal_one_thread_and_a_pytorch_loop(batch, dtype, threads_for_every_chunk,
                                                                        monkeypatch):
    # 1,573 samples: chunks of 400, split 400, 400 and 773 over three threads; batches of 1,100 over two
    # (and the last, of 473, one chunk, on this thread).
    xs, ys = _tanh_sigmoid_data(3 * CHUNK + 37)
    network = replace(random_network((3, 9, 7, 1), activation="tanh", output_activation="sigmoid", seed=4, lr=0.3),
                      optimizer=Optimizer("adam"))
    engine = FusedEngine(network, xs, ys, EngineSettings(batch_size=batch or len(xs), dtype=dtype))
    before = engine.evaluate(0)[0]
    done, history = engine.run(1, 3, {1, 2, 3}, [True])  # stop asked for (Ctrl-C): ends after an epoch
    assert done == 1 and engine.steps == (1 if batch is None else 2) and [epoch for epoch, _ in history] == [1]
    assert history[0][1] == pytest.approx(before, rel=1e-5)  # the loss before the epoch's updates
    assert len(engine.parts) == (3 if batch is None else 2)  # the threads' buffers: it did split
    threaded, _ = trained(network, xs, ys, 6, backend="numba", batch_size=batch, dtype=dtype)
    monkeypatch.setattr(engines, "cpus", lambda: 1)
    single, _ = trained(network, xs, ys, 6, backend="numba", batch_size=batch, dtype=dtype)
    assert_close(threaded, single, tol=1e-12 if dtype == "float64" else 1e-5)  # the sums' order only
    assert_close(threaded, torch_train(network, xs, ys, 6, batch_size=batch), tol=1e-10 if dtype == "float64" else 1e-4)


@settings(max_examples=12, deadline=None)
@given(st.integers(2 * 8, 5 * CHUNK), st.integers(1, 5), st.sampled_from(["mse", "bce"]))
def test_a_split_gradient_is_the_gradient_of_one_thread(samples, threads, loss):
    xs, ys = _tanh_sigmoid_data(samples, seed=samples)
    network = random_network((3, 5, 1), activation="tanh", output_activation="sigmoid", loss=loss, seed=1)
    engine = FusedEngine(network, xs, ys, EngineSettings(batch_size=samples))
    single = engine.kernels.gradients(engine.params, engine.G, *engine._layout(), engine.code, engine.loss_code,
                                      engine.consts, engine.XT, engine.YT, 0, samples, 8, samples,
                                      engine.A, engine.D, engine.P, engine.S)
    expected = engine.G.copy()
    original = engines.cpus, engines.CHUNKS_A_THREAD
    engines.cpus, engines.CHUNKS_A_THREAD = (lambda: threads), 1
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            total = engine._gradients(pool, 0, samples, samples)
    finally:
        engines.cpus, engines.CHUNKS_A_THREAD = original
    assert math.isclose(total, single, rel_tol=1e-12)
    np.testing.assert_allclose(engine.G, expected, rtol=1e-10, atol=1e-13)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**7), st.integers(1, 64))
def test_the_threads_are_one_a_few_chunks_and_at_most_the_cpus(rows, cpus):
    original = engines.cpus
    engines.cpus = lambda: cpus
    try:
        threads = engines.fused_threads(rows)
    finally:
        engines.cpus = original
    assert 1 <= threads <= min(cpus, engines.FUSED_MAX_THREADS)
    assert threads == 1 or rows >= threads * engines.CHUNKS_A_THREAD * CHUNK
    assert threads == min(cpus, engines.FUSED_MAX_THREADS) or rows < (threads + 1) * engines.CHUNKS_A_THREAD * CHUNK


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-760.0, 720.0), st.floats(-50.0, 50.0),
                          st.sampled_from([-math.inf, math.inf, math.nan, 0.0, -0.0, -707.0, 709.0, 709.5])),
                min_size=1, max_size=40))
def test_the_vectorised_exp_is_math_exp_within_two_ulps(values):
    S = np.zeros((3, len(values)))
    S[0] = values
    fused_kernels.exp_row(S, 0, len(values))
    for x, found in zip(values, S[0], strict=True):
        try:
            expected = math.exp(x)
        except OverflowError:
            expected = math.inf
        if math.isnan(expected):
            assert math.isnan(found)
        else:
            assert found == expected or abs(found - expected) <= 2 * math.ulp(expected), (x, found, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-110.0, 95.0, width=32), st.floats(-10.0, 10.0, width=32),
                          st.sampled_from([-math.inf, math.inf, math.nan, 0.0, -87.0, 88.0, 88.5, 88.8, -103.0])),
                min_size=1, max_size=40))
def test_the_float32_exp_is_exp_rounded_to_float32_within_two_ulps(values):
    S = np.zeros((3, len(values)), dtype=np.float32)
    S[0] = values
    fused_kernels.exp_row32(S, 0, len(values))
    assert S.dtype == np.float32
    with np.errstate(over="ignore"):
        expected = np.exp(np.asarray(values, dtype=np.float64)).astype(np.float32)
    for x, found, exact in zip(values, S[0], expected, strict=True):
        if math.isnan(exact):
            assert math.isnan(found), x
        else:
            assert found == exact or abs(found - exact) <= 2 * np.spacing(exact), (x, found, exact)


def test_float32_stays_float32_and_is_close_to_float64():
    network = random_network((2, 16, 16, 1), seed=0, lr=0.5)
    exact = torch_train(network, *XOR, 100)
    single, result = trained(network, *XOR, 100, backend="numba", dtype="float32")
    assert result.backend == "numba" and result.settings.dtype == "float32"
    assert_close(single, exact, tol=1e-4)
    engine = FusedEngine(network, *XOR, EngineSettings(batch_size=4, dtype="float32"))
    rng = np.random.default_rng(1)  # softmax and cross entropy: exp and log in float32 too
    xs, ys = rng.uniform(-1, 1, (40, 2)).tolist(), np.eye(3)[rng.integers(0, 3, 40)].tolist()
    softmax = random_network((2, 16, 16, 3), activation="tanh", output_activation="softmax", loss="cross_entropy",
                             seed=0, lr=0.1)
    single, _ = trained(softmax, xs, ys, 50, backend="numba", dtype="float32")
    assert_close(single, torch_train(softmax, xs, ys, 50), tol=1e-4)
    arrays = (engine.params, engine.M, engine.A, engine.XT, engine.S)
    assert {array.dtype for array in arrays} == {np.dtype("float32")}


def test_optimizer_state_equals_the_numpy_engines():
    from backprop_cli.engines.numpy_engine import NumpyEngine

    network = replace(random_network((2, 16, 16, 1), seed=0, lr=0.05), optimizer=Optimizer("adam"))
    states = []
    for engine_class in (FusedEngine, NumpyEngine):
        engine = engine_class(network, *XOR, EngineSettings(batch_size=4))
        engine.run(1, 7, set(), [False])
        states.append(engine.optimizer_state())
    assert states[0].steps == states[1].steps == 7
    assert_close(dict(states[0].slots), dict(states[1].slots), tol=1e-10)


def test_what_it_does_not_train_is_refused_in_one_line(capsys):
    big = random_network((2, 16, 16, 1), seed=0)
    cases = [
        (replace(big, optimizer=Optimizer("rmsprop")), "optimizer 'rmsprop' trains on --backend numpy"),
        (replace(big, loss="l1"), "loss 'l1' trains on --backend numpy"),
        (replace(big, layers=(replace(big.layers[0], activation="x/(1+abs(x))"), *big.layers[1:])),
         "activation 'x/(1+abs(x))' trains on --backend numpy"),
    ]
    for network, message in cases:
        with pytest.raises(BackpropError, match=re.escape(message)):
            train(network, *XOR, TrainSettings(epochs=2, backend="numba"))
    with pytest.raises(BackpropError, match="--shuffle trains on --backend numpy or torch"):
        train(big, *XOR, TrainSettings(epochs=2, backend="numba", shuffle=True, batch_size=2))
    assert main(["train", "--layers", "2,16,16,1", "--backend", "numba", "--optimizer", "rmsprop",
                 "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "optimizer 'rmsprop'" in err and err.count("\n") == 1


def test_the_cache_is_kept_only_in_a_private_folder(monkeypatch, tmp_path):
    folder = fused_kernels.keep()
    assert folder is not None and all(kernel._cache._cache_path == folder for kernel in fused_kernels.KERNELS)
    private = tmp_path / "mine" / "numba"
    private.mkdir(parents=True)
    os.chmod(private, 0o700)
    assert fused_kernels._private(str(private))
    os.chmod(private, 0o770)  # the group can write it
    assert not fused_kernels._private(str(private))
    os.chmod(private, 0o700)
    os.chmod(private.parent, 0o777)  # anyone can rename it away and put another in its place
    assert not fused_kernels._private(str(private))
    os.chmod(private.parent, 0o1777)  # unless the sticky bit is set (/tmp)
    assert fused_kernels._private(str(private))
    (tmp_path / "link").symlink_to(private)
    assert not fused_kernels._private(str(tmp_path / "link"))
    monkeypatch.setenv("BACKPROP_CACHE_DIR", "off")
    assert fused_kernels.keep() is None


def test_auto_weighs_the_fused_engine_by_its_cost_model(monkeypatch):
    big = random_network((2, 16, 16, 1), seed=0)
    monkeypatch.setattr(engines, "fused_cached", lambda: True)
    monkeypatch.setattr(engines, "fused_loaded", lambda: False)
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    name, reason = engines.choose(big, 5_000, False, "cpu", "float64", epochs=100)
    assert name == "numba" and "fused numba engine's start (about 0.4 s, its machine code cached)" in reason.text()
    assert reason.text().startswith("100 epochs × ") and "numba" in reason.text("ko")
    assert engines.choose(big, 5_000, False, "cpu", "float32", epochs=100)[0] == "numba"
    assert engines.choose(big, 50, False, "cpu", "float64", epochs=1)[0] == "numpy"  # the start is not repaid
    assert engines.choose(big, 200_000, False, "cpu", "float64")[0] == "numpy"  # epochs unknown: not weighed
    monkeypatch.setattr(engines, "fused_cached", lambda: False)
    name, reason = engines.choose(big, 5_000, False, "cpu", "float64", epochs=10_000)
    assert name == "numba" and "compiling the fused numba engine once for this machine" in reason.text()
    assert engines.choose(big, 2_000, False, "cpu", "float64", epochs=10)[0] == "numpy"
    softsign = replace(big, layers=(replace(big.layers[0], activation="x/(1+abs(x))"), *big.layers[1:]))
    assert engines.choose(softsign, 200_000, False, "cpu", "float64", epochs=10**6)[0] == "numpy"
    monkeypatch.setattr(engines, "numba_installed", lambda: False)
    assert engines.choose(big, 200_000, False, "cpu", "float64", epochs=10**6)[0] == "numpy"


def test_auto_weighs_numpy_against_the_fused_engines_threads_for_large_batches(monkeypatch):
    monkeypatch.setattr(engines, "fused_cached", lambda: True)
    monkeypatch.setattr(engines, "fused_loaded", lambda: False)
    narrow, wide = random_network((2, 16, 16, 1), seed=0), random_network((2, 64, 64, 1), seed=0)
    monkeypatch.setattr(engines, "cpus", lambda: 1)  # one thread: numpy's chunked pass is the faster
    for network in (narrow, wide):
        for dtype in ("float64", "float32"):
            name, reason = engines.choose(network, 200_000, False, "cpu", dtype, epochs=1_000)
            assert name == "numpy" and reason.text().startswith("its chunked pass about ")
            assert "ms an epoch on 1 process(es)" in reason.text()
            assert reason.text().endswith("ms on 1 thread(s)") and "스레드 1개" in reason.text("ko")
    # Split over processes (Linux), the chunked pass stays ahead of the fused engine's threads.
    monkeypatch.setattr(sys, "platform", "linux")
    for cpus in (2, 4):
        monkeypatch.setattr(engines, "cpus", lambda cpus=cpus: cpus)
        for network in (narrow, wide):
            name, reason = engines.choose(network, 200_000, False, "cpu", "float32", epochs=1_000)
            assert name == "numpy" and f"on {cpus} process(es)" in reason.text()
            assert f"프로세스 {cpus}개" in reason.text("ko")
    # Where the numpy engine cannot fork, the fused engine's threads take the lead where they repay its start.
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    assert engines.choose(narrow, 200_000, False, "cpu", "float32", epochs=1_000)[0] == "numba"
    assert engines.choose(narrow, 200_000, False, "cpu", "float32", epochs=10)[0] == "numpy"  # start not repaid
    assert engines.choose(wide, 200_000, False, "cpu", "float64", epochs=1_000)[0] == "numpy"
    monkeypatch.setattr(engines, "cpus", lambda: 4)
    assert engines.choose(wide, 200_000, False, "cpu", "float64", epochs=1_000)[0] == "numba"
    monkeypatch.setattr(engines, "cpus", lambda: 2)
    monkeypatch.setattr(engines, "fused_loaded", lambda: True)  # its machine code in this process already
    name, reason = engines.choose(narrow, 200_000, False, "cpu", "float32", epochs=10)
    assert name == "numba" and "(about 0.01 s, its machine code cached)" in reason.text()
    monkeypatch.setattr(sys, "platform", "linux")
    assert engines.choose(SEED, 4, False, "cpu", "float64", epochs=10)[0] == "compiled"  # small: unchanged
    assert engines.choose(SEED, 4, False, "cpu", "float64", epochs=10**6)[0] == "numba"


def test_auto_trains_on_it_and_says_why(monkeypatch):
    monkeypatch.setattr(engines, "fused_cached", lambda: True)
    network = random_network((2, 16, 16, 1), seed=0, lr=0.05)  # not chaotic: rounding stays small
    result = train(network, *XOR, TrainSettings(epochs=20_000, log_every=10_000))
    assert result.backend == "numba" and "fused numba engine" in result.reason.text()
    exact = train(network, *XOR, TrainSettings(epochs=20_000, log_every=10_000, backend="numpy"))
    assert math.isclose(result.final_loss, exact.final_loss, rel_tol=1e-6)  # 20,000 epochs of rounding


def test_the_seed_is_still_the_scalar_engines():
    from backprop_cli.engines.numba_engine import NumbaEngine

    assert engines.load("numba", SEED) is NumbaEngine
    assert engines.load("numba", SEED, "float32") is FusedEngine
    assert engines.load("numba", random_network((2, 16, 16, 1))) is FusedEngine
