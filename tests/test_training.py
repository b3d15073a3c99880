"""training.py: what is logged, batching and shuffling, snapshots, Ctrl-C, settings."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from backprop_cli.errors import BackpropError
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y
from backprop_cli.training import (
    EpochOrder,
    TrainSettings,
    _first_ctrl_c_stops,
    check_settings,
    logged_epochs,
    train,
)
from tests.reference import assert_close, torch_train

XOR = DATASETS["xor"]


def test_logged_epochs_are_the_first_every_kth_and_the_last():
    history, curve = logged_epochs(TrainSettings(epochs=95, log_every=10))
    assert sorted(history) == [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert history <= curve and len(curve) == 95
    history, _ = logged_epochs(TrainSettings(epochs=1000))
    assert sorted(history)[:3] == [1, 100, 200] and len(history) == 11


def test_the_json_contract_has_exactly_the_documented_keys():
    result = train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=5, log_every=2))
    data = result.to_dict()
    assert list(data) == ["epochs", "backend", "device", "seconds", "history", "final_loss", "layers"]
    assert [row["epoch"] for row in data["history"]] == [1, 2, 4, 5]
    assert list(data["layers"][0]) == ["kind", "weight", "bias"]
    assert data["epochs"] == 5 and data["device"] == "cpu" and data["seconds"] > 0


def test_history_is_the_loss_before_each_epochs_updates():
    """Epoch 1's loss is the untrained network's: the seed page's 0.5369; final is after the last epoch."""
    result = train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=3, log_every=1))
    assert result.history[0][1] == pytest.approx(0.5368841905553434, rel=1e-14)
    after_two = train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=2)).final_loss
    assert result.history[2][1] == pytest.approx(after_two, rel=1e-14)


def test_epoch_order_is_numpys_seeded_permutation_per_epoch():
    order = EpochOrder(5, seed=3)
    expected = np.random.default_rng(3)
    first, second = expected.permutation(5), expected.permutation(5)
    assert list(order(1)) == list(first)
    assert list(order(1)) == list(first)  # asked again: the same
    assert list(order(2)) == list(second)
    with pytest.raises(ValueError):
        order(1)


def test_shuffled_batches_are_the_same_on_every_backend():
    results = [train(SEED, *XOR, TrainSettings(epochs=40, batch_size=3, shuffle=True, seed=5, backend=b, log_every=1))
               for b in ("compiled", "numpy")]
    assert_close([r.to_dict()["history"] for r in results[1:]], [results[0].to_dict()["history"]], tol=1e-12)
    reshuffled = train(SEED, *XOR, TrainSettings(epochs=40, batch_size=3, shuffle=True, seed=6, log_every=1))
    assert reshuffled.final_loss != results[0].final_loss


def test_a_keyboard_interrupt_from_progress_stops_with_whole_epochs():
    calls = []

    def progress(done, total, loss):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    result = train(SEED, *XOR, TrainSettings(epochs=10_000, log_every=1), progress=progress)
    assert result.interrupted and result.epochs == calls[-1] < 10_000
    assert len(result.history) == result.epochs
    reference = torch_train(SEED, *XOR, result.epochs)
    assert_close(result.to_dict()["layers"], reference["layers"], tol=1e-10)
    assert result.final_loss == pytest.approx(reference["final_loss"], rel=1e-10)


@pytest.fixture
def interactive_sigint():
    """SIGINT as in an interactive Python (a shell's background job starts with it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_after_the_epoch_it_came_in(interactive_sigint):
    calls = []

    def progress(done, total, loss):
        calls.append(done)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, between two chunks

    result = train(SEED, *XOR, TrainSettings(epochs=500), progress=progress)
    assert result.interrupted and result.epochs == calls[0] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_an_ignored_sigint_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup
    try:
        result = train(SEED, *XOR, TrainSettings(epochs=50),
                       progress=lambda done, total, loss: os.kill(os.getpid(), signal.SIGINT))
        assert not result.interrupted and result.epochs == 50
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_interrupts_at_once(interactive_sigint):
    stop = [False]
    with pytest.raises(KeyboardInterrupt), _first_ctrl_c_stops(stop):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop[0]
        os.kill(os.getpid(), signal.SIGINT)


def test_snapshots_hold_the_state_at_the_start_of_the_epochs_asked_for():
    result = train(SEED, *XOR, TrainSettings(epochs=20, show_steps=(1, 7, 20), log_every=1))
    assert [s.epoch for s in result.snapshots] == [1, 7, 20]
    assert result.snapshots[0].network == SEED
    six = train(SEED, *XOR, TrainSettings(epochs=6))
    assert result.snapshots[1].network == six.network
    assert result.snapshots[1].batches == (XOR,)


@pytest.mark.parametrize(("settings", "message"), [
    (TrainSettings(epochs=0), "epochs: must be at least 1"),
    (TrainSettings(batch_size=0), "batch-size: must be at least 1"),
    (TrainSettings(log_every=0), "log-every: must be at least 1"),
    (TrainSettings(backend="jax"), "unknown backend 'jax'"),
    (TrainSettings(dtype="float16"), "dtype: must be float64 or float32"),
    (TrainSettings(device="tpu"), "unknown device 'tpu'"),
    (TrainSettings(device="cuda", backend="numpy"), "needs --backend torch"),
    (TrainSettings(show_steps=(101,)), "show-steps: epoch 101 is outside 1 … 100"),
    (TrainSettings(show_steps=(1,), batch_size=100), "too long to derive"),
])
def test_settings_that_cannot_work_are_one_line_errors(settings, message):
    with pytest.raises(BackpropError, match=message.replace("(", r"\(")):
        check_settings(settings, 1000)


def test_a_batch_larger_than_the_data_is_the_whole_data():
    big = train(SEED, *XOR, TrainSettings(epochs=5, batch_size=100))
    whole = train(SEED, *XOR, TrainSettings(epochs=5))
    assert big.final_loss == whole.final_loss


def test_predictions_and_targets_of_the_first_samples():
    result = train(SEED, *XOR, TrainSettings(epochs=3000))
    assert result.targets == XOR[1] and result.inputs == XOR[0]
    assert [round(p[0]) for p in result.predictions] == [0, 1, 1, 0]
