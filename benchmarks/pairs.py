"""What benchmarks/conv.py and benchmarks/rnn.py share: a backprop process timed from start to exit,
and a training pair run in turns, backprop-cli's engines against a plain PyTorch loop on the same
network and data, each side's final weights compared so that both did the same work."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "numpy")


def process_seconds(arguments: list[str]) -> float:
    """One ``backprop`` process from start to exit."""
    command = [sys.executable, "-m", "backprop_cli", *arguments]
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - began


def page_medians(commands: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Median seconds of each ``backprop`` command (a fresh process each), run in turns ``repeat`` times
    after one run of the seed's step that warms the file cache."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    process_seconds(["step"])
    for _ in range(repeat):
        for name, command in commands.items():
            times[name].append(process_seconds(command))
    return {name: statistics.median(values) for name, values in times.items()}


def ours(network: Any, x: Any, y: Any, epochs: int, backend: str) -> tuple[float, list[Any]]:
    """``train`` on ``backend``: the loop's seconds and the final parameters."""
    from backprop_cli.training import TrainSettings, train

    result = train(network, x, y, TrainSettings(epochs=epochs, backend=backend, log_every=1))
    return result.seconds, [np.asarray(v) for v in result.network.parameter_values().values()]


def training_medians(network: Any, x: Any, y: Any, epochs: int, repeat: int,
                     pytorch_loop: Callable[[Any, Any, Any, int], tuple[float, list[Any]]]) -> dict[str, float]:
    """Median seconds per epoch of the PyTorch loop and of each engine, run in turns ``repeat`` times;
    the final weights of each engine must equal the loop's (to 1e-9)."""
    times: dict[str, list[float]] = {"pytorch": [], **{backend: [] for backend in BACKENDS}}
    weights: dict[str, list[Any]] = {}
    for _ in range(repeat):
        seconds, weights["pytorch"] = pytorch_loop(network, x, y, epochs)
        times["pytorch"].append(seconds)
        for backend in BACKENDS:
            seconds, weights[backend] = ours(network, x, y, epochs, backend)
            times[backend].append(seconds)
    for backend in BACKENDS:
        for mine, theirs in zip(weights[backend], weights["pytorch"], strict=True):
            assert np.allclose(np.asarray(mine).reshape(theirs.shape), theirs, rtol=1e-9, atol=1e-12), backend
    return {name: statistics.median(values) / epochs for name, values in times.items()}


def machine(repeat: int) -> str:
    """The machine line above a table."""
    import torch

    return (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python"
            f" {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__};"
            f" medians of {repeat} alternating runs.\n")
