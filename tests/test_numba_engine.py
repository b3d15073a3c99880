"""The numba engine: the compiled engine's step as machine code, equal to a PyTorch loop in float64,
kept on disk safely, and picked by auto only where its compilation pays."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import engines
from backprop_cli.cli import main
from backprop_cli.engines.base import EngineSettings
from backprop_cli.errors import BackpropError
from backprop_cli.model import SEED, SEED_X, SEED_Y, Optimizer, random_network
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_train
from tests.test_engines import CASES, XOR, reference_activation, spread, trained

pytest.importorskip("numba")
pytest.importorskip("torch")

from backprop_cli.engines.numba_engine import NumbaEngine  # noqa: E402 - needs numba


def test_seed_100_epochs_equal_a_pytorch_loop():
    ours, result = trained(SEED, SEED_X, SEED_Y, 100, backend="numba")
    assert result.backend == "numba" and len(ours["history"]) == 100
    assert_close(ours, torch_train(SEED, SEED_X, SEED_Y, 100), tol=1e-10)


def test_xor_10000_epochs_equal_a_pytorch_loop():
    ours, _ = trained(SEED, *XOR, 10_000, backend="numba")
    assert_close(ours, torch_train(SEED, *XOR, 10_000), tol=1e-10)
    assert ours["final_loss"] < 0.002


@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("case", CASES)
def test_losses_activations_optimizers_and_batches_equal_a_pytorch_loop(case, batch):
    if batch is not None and case not in ("bce adam", "cross_entropy softmax"):
        pytest.skip("batches are checked on two of the cases (each case compiles anew)")
    network, ys = CASES[case]
    reference = torch_train(network, XOR[0], ys, 60, batch_size=batch, activation=reference_activation)
    ours, _ = trained(network, XOR[0], ys, 60, backend="numba", batch_size=batch)
    assert_close(ours, reference, tol=1e-10)


@pytest.mark.parametrize("form", ["scalar", "fused"])
@pytest.mark.parametrize("scale", [800.0, -800.0])
def test_overflow_gives_pytorch_values(scale, form, monkeypatch):
    if form == "fused":  # the fused engine's exp outside its vector range
        monkeypatch.setattr(engines, "NUMBA_MAX_PARAMETERS", 0)
    from backprop_cli.model import Layer, Network

    network = Network((Layer(((scale, scale),), (0.0,), "sigmoid"), Layer(((abs(scale),),), (0.0,), "sigmoid")),
                      loss="bce", lr=0.01)
    reference = torch_train(network, *XOR, 5)
    assert any(loss > 10 for loss in reference["history"])
    ours, _ = trained(network, *XOR, 5, backend="numba")
    assert_close(ours, reference, tol=1e-10)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["sgd", "momentum", "adam"]),
       st.sampled_from(["sigmoid", "tanh", "relu"]), st.integers(1, 4))
def test_random_networks_agree_with_pytorch(seed, optimizer, hidden, batch):
    network = replace(random_network((2, 3, 2, 1), activation=hidden, output_activation="sigmoid", seed=seed,
                                     init="uniform", lr=0.2, decimals=None), optimizer=Optimizer(optimizer))
    reference = torch_train(network, *XOR, 25, batch_size=batch)
    first = network.layers[0]
    nudged = replace(network, layers=(replace(first, weight=((first.weight[0][0] * (1 + 1e-15),
                                                              *first.weight[0][1:]), *first.weight[1:])),
                                      *network.layers[1:]))
    tol = max(1e-10, 10 * spread(torch_train(nudged, *XOR, 25, batch_size=batch), reference))
    ours, _ = trained(network, *XOR, 25, backend="numba", batch_size=batch)
    assert_close(ours, reference, tol=tol)


def test_equal_to_the_compiled_engine_it_is_generated_from():
    network, ys = CASES["bce momentum"]
    results = [train(network, XOR[0], ys, TrainSettings(epochs=300, log_every=7, backend=backend)).to_dict()
               for backend in ("compiled", "numba")]
    assert_close(results[1]["history"], results[0]["history"], tol=1e-12)
    assert_close(results[1]["layers"], results[0]["layers"], tol=1e-12)


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("fused_*.py"))


def test_the_machine_code_is_kept_on_disk_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path))
    network, ys = CASES["bce sgd"]
    settings_ = EngineSettings(batch_size=4)
    first = NumbaEngine(network, XOR[0], ys, settings_)
    assert first.cached is False
    (source,) = _files(tmp_path / "numba")
    assert source.read_text().endswith(first.source)
    assert (tmp_path / "numba").stat().st_mode & 0o077 == 0
    again = NumbaEngine(network, XOR[0], ys, settings_)
    assert again.cached is True
    # A source file that is not what is generated now is written again, never run as it is.
    source.write_text(source.read_text().replace("inv = ", "inv = 2.0 * "))
    third = NumbaEngine(network, XOR[0], ys, settings_)
    assert third.cached is False and source.read_text().endswith(first.source)
    for engine in (first, again, third):
        engine.run(1, 20, {1, 20}, [False])
    assert first.parameters() == again.parameters() == third.parameters()


def test_code_that_disagrees_with_the_derivation_is_compiled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path))
    answers = iter([False, True])
    monkeypatch.setattr(NumbaEngine, "_agrees", lambda self, first: next(answers))
    engine = NumbaEngine(SEED, SEED_X, SEED_Y, EngineSettings(batch_size=1))
    assert engine.cached is None  # the second compilation is in memory only
    monkeypatch.setattr(NumbaEngine, "_agrees", lambda self, first: False)
    with pytest.raises(RuntimeError, match="differs from the derivation"):
        NumbaEngine(SEED, SEED_X, SEED_Y, EngineSettings(batch_size=1))


def test_a_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    folder = tmp_path / "numba"
    folder.mkdir()
    os.chmod(folder, 0o777)
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path))
    engine = NumbaEngine(SEED, SEED_X, SEED_Y, EngineSettings(batch_size=1))
    assert engine.cached is None and not _files(folder)


def test_auto_picks_numba_only_where_its_compilation_pays(monkeypatch):
    name, reason = engines.choose(SEED, 4, False, "cpu", "float64", epochs=10_000)
    assert name == "compiled"  # 10,000 × 3.4 µs is not a second of compiling
    name, reason = engines.choose(SEED, 4, False, "cpu", "float64", epochs=5_000_000)
    assert name == "numba"
    assert reason.text() == ("5,000,000 epochs × 3.4 µs saved an epoch over compiled outweigh numba's"
                             " compilation (about 1.4 s)")
    assert "numba" in reason.text("ko")
    small = random_network((2, 4, 1), seed=0)
    assert engines.choose(small, 100, False, "cpu", "float64", epochs=100_000)[0] == "numba"
    assert engines.choose(small, 100, False, "cpu", "float64", epochs=10)[0] == "numpy"
    big = random_network((2, 16, 16, 1))
    name, reason = engines.choose(big, 4, False, "cpu", "float64", epochs=10**9)
    assert name == "numba" and "fused numba engine" in reason.text()  # too big for the scalar one
    monkeypatch.setattr(engines, "numba_installed", lambda: False)
    assert engines.choose(SEED, 4, False, "cpu", "float64", epochs=5_000_000)[0] == "compiled"


def test_what_it_does_not_run_is_refused_in_one_line(capsys):
    with pytest.raises(BackpropError, match="--shuffle runs on --backend numpy or torch"):
        train(SEED, *XOR, TrainSettings(epochs=2, backend="numba", shuffle=True, batch_size=2))
    with pytest.raises(BackpropError, match="337 parameters is more than the numba engine's 64 per-weight lines, so"
                                            " it runs its fused form.*; loss 'l1' trains on --backend numpy"):
        train(random_network((2, 16, 16, 1), loss="l1", output_activation="identity"), *XOR,
              TrainSettings(epochs=2, backend="numba"))
    assert main(["train", "--backend", "numba", "--schedule", "cosine:T_max=10", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: backend: the numba engine compiles the learning rate") and err.count("\n") == 1


def test_without_numba_the_engine_says_how_to_install_it(monkeypatch):
    from backprop_cli.engines import numba_engine

    monkeypatch.setattr(numba_engine, "available", lambda: False)
    with pytest.raises(BackpropError, match=r"pip install 'backprop-cli\[fast\]'"):
        train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=2, backend="numba"))
