"""Speed of ``backprop train``, each engine against the loop it replaces, timed in one run.

    python benchmarks/train.py            # prints a Markdown table
    python benchmarks/train.py --repeat 3

Pairs (DESIGN.md's performance budget):

1. The seed network (2-2-1, sigmoid, bce, SGD lr 1) on the seed sample, 10,000 epochs: the
   ``compiled`` engine against a PyTorch loop (``nn.Sequential``, ``nn.BCELoss``, ``torch.optim.SGD``)
   on the CPU. Goal: at least 50× faster.
2. 200,000 samples, 2-16-16-1 sigmoid, bce, SGD, 10 full-batch epochs, float64: the ``torch``
   engine against a plain PyTorch loop (goal: at most 1.1× its time), and the ``numpy`` engine
   against a hand-written numpy loop (goal: at most 1.2×).
3. Where CUDA is available, pair 2's torch rows again on ``--device cuda``, naming the card.

Each side is run ``--repeat`` times (three times as often for pair 2, whose runs are short and
noisier on a shared machine), alternating, and the best time is kept. Both sides compute
the loss of every epoch (a loop that prints it), and the final weights of each pair are compared,
so that both did the same work. Times are of the training loop alone: ``TrainResult.seconds`` for
backprop-cli (no compilation, no data conversion), the loop for the baseline. Run it with
``PYTHONDONTWRITEBYTECODE=`` after ``python -m compileall -q backprop_cli`` so that imports are warm.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
if "--threads" in sys.argv:
    # Before numpy loads its BLAS: one setting for both sides of every pair.
    threads = sys.argv[sys.argv.index("--threads") + 1]
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = threads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from backprop_cli.model import SEED, SEED_X, SEED_Y, Network, random_network  # noqa: E402
from backprop_cli.training import TrainSettings, train  # noqa: E402


def torch_model(network: Network, device: str) -> Any:
    layers: list[Any] = []
    for layer in network.layers:
        linear = torch.nn.Linear(layer.inputs, layer.units, dtype=torch.float64, device=device)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight, dtype=torch.float64))
            linear.bias.copy_(torch.tensor(layer.bias, dtype=torch.float64))
        layers += [linear, torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def pytorch_loop(network: Network, x: Any, y: Any, epochs: int, device: str = "cpu",
                 read_loss: bool = True) -> tuple[float, list[Any]]:
    """The loop a PyTorch user writes (reading each epoch's loss, or not); its time and final weights."""
    model = torch_model(network, device)
    X = torch.as_tensor(x, dtype=torch.float64, device=device)
    Y = torch.as_tensor(y, dtype=torch.float64, device=device)
    loss_fn = torch.nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=network.lr)
    losses = []
    began = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        if read_loss:
            losses.append(loss.item())
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    return seconds, [p.detach().cpu().numpy() for p in model.parameters()]


def numpy_loop(network: Network, x: Any, y: Any, epochs: int, fused: bool = False) -> tuple[float, list[Any]]:
    """A hand-written numpy loop.

    By default it computes what PyTorch computes (BCELoss's clamps, sigmoid's derivative from its
    output). ``fused``: the shortest loop, sigmoid and bce differentiated together, δ = (ŷ − y)/n,
    without the clamps (it differs from PyTorch where the sigmoid saturates): a lower bound.
    """
    W = [np.array(layer.weight) for layer in network.layers]
    b = [np.array(layer.bias) for layer in network.layers]
    X, Y, lr = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), network.lr
    n = Y.size
    losses = []
    began = time.perf_counter()
    for _ in range(epochs):
        A = [X]
        for Wi, bi in zip(W, b, strict=True):
            A.append(1 / (1 + np.exp(-(A[-1] @ Wi.T + bi))))
        out = A[-1]
        if fused:
            losses.append(-(Y * np.log(out) + (1 - Y) * np.log(1 - out)).mean())
            delta = (out - Y) / n
        else:
            losses.append(-(Y * np.maximum(np.log(out), -100) + (1 - Y) * np.maximum(np.log(1 - out), -100)).sum() / n)
            dA = (out - Y) / np.maximum(out * (1 - out), 1e-12) / n
        for i in range(len(W) - 1, -1, -1):
            if not fused:
                delta = dA * (A[i + 1] * (1 - A[i + 1]))
            gW, gb = delta.T @ A[i], delta.sum(axis=0)
            if i:
                if fused:
                    delta = (delta @ W[i]) * (A[i] * (1 - A[i]))
                else:
                    dA = delta @ W[i]
            W[i] -= lr * gW
            b[i] -= lr * gb
    seconds = time.perf_counter() - began
    return seconds, [a for pair in zip(W, b, strict=True) for a in pair]


def ours(network: Network, xs: Any, ys: Any, epochs: int, **settings: Any) -> tuple[float, list[Any], float]:
    """backprop-cli: the training loop's seconds, the final weights, and the whole call's seconds."""
    began = time.perf_counter()
    result = train(network, xs, ys, TrainSettings(epochs=epochs, log_every=1, **settings))
    total = time.perf_counter() - began
    weights = [np.array(a) for layer in result.network.layers for a in (layer.weight, layer.bias)]
    return result.seconds, weights, total


def best(repeat: int, *runs: Callable[[], tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Each run ``repeat`` times, alternating (in turn first and last); per run its fastest repetition."""
    kept: list[tuple[Any, ...] | None] = [None] * len(runs)
    for repetition in range(repeat):
        order = list(enumerate(runs))
        for i, run in order if repetition % 2 == 0 else reversed(order):
            out = run()
            if kept[i] is None or out[0] < kept[i][0]:  # type: ignore[index]
                kept[i] = out
    return kept  # type: ignore[return-value]


def agree(a: list[Any], b: list[Any]) -> float:
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b, strict=True))


def large_problem() -> tuple[Network, Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(200_000, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float64)
    network = random_network((2, 16, 16, 1), seed=0, lr=0.5, decimals=None)
    return network, x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per side (best kept)")
    parser.add_argument("--threads", type=int, help="threads of BLAS and torch (default: theirs)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    rows: list[tuple[str, str, float, float, str, str]] = []

    # 1. The seed network, 10,000 epochs.
    epochs = 10_000
    (mine, mine_w, _), (base, base_w), (bare, _) = best(
        args.repeat, lambda: ours(SEED, SEED_X, SEED_Y, epochs, backend="compiled"),
        lambda: pytorch_loop(SEED, SEED_X, SEED_Y, epochs),
        lambda: pytorch_loop(SEED, SEED_X, SEED_Y, epochs, read_loss=False))
    rows.append(("seed 2-2-1, 10,000 epochs", "compiled vs PyTorch loop (loss.item() each epoch)", mine, base,
                 f"{base / mine:.0f}× faster (goal ≥ 50×)", f"{agree(mine_w, base_w):.1e}"))
    rows.append(("seed 2-2-1, 10,000 epochs", "compiled vs PyTorch loop (no loss.item())", mine, bare,
                 f"{bare / mine:.0f}× faster (goal ≥ 50×)", ""))
    # The compiled engine's set-up (derivation, sympy.cse, code generation) happens once per run, outside the loop.
    total = min(ours(SEED, SEED_X, SEED_Y, epochs, backend="compiled")[2] for _ in range(args.repeat))
    rows.append(("seed 2-2-1, 10,000 epochs", "compiled, whole train() call (set-up included) vs PyTorch loop",
                 total, base, f"{base / total:.0f}× faster", ""))

    # 2. 200,000 samples, 2-16-16-1, 10 full-batch epochs.
    network, x, y = large_problem()
    xs, ys = tuple(map(tuple, x.tolist())), tuple(map(tuple, y.tolist()))
    epochs = 10
    (mine, mine_w, _), (base, base_w) = best(
        3 * args.repeat, lambda: ours(network, xs, ys, epochs, backend="torch"),
        lambda: pytorch_loop(network, x, y, epochs))
    rows.append(("200,000 × 2-16-16-1, 10 epochs", "torch (cpu) vs plain PyTorch loop", mine, base,
                 f"{mine / base:.3f}× its time (goal ≤ 1.1×)", f"{agree(mine_w, base_w):.1e}"))
    (mine, mine_w, _), (base, base_w), (fused, fused_w) = best(
        3 * args.repeat, lambda: ours(network, xs, ys, epochs, backend="numpy"),
        lambda: numpy_loop(network, x, y, epochs),
        lambda: numpy_loop(network, x, y, epochs, fused=True))
    rows.append(("200,000 × 2-16-16-1, 10 epochs", "numpy vs hand-written numpy loop", mine, base,
                 f"{mine / base:.3f}× its time (goal ≤ 1.2×)", f"{agree(mine_w, base_w):.1e}"))
    rows.append(("200,000 × 2-16-16-1, 10 epochs", "numpy vs hand-written loop with fused δ = (ŷ − y)/n", mine, fused,
                 f"{mine / fused:.3f}× its time", f"{agree(mine_w, fused_w):.1e}"))

    # 3. CUDA, where there is one.
    if torch.cuda.is_available():
        card = torch.cuda.get_device_name(0)
        (mine, mine_w, _), (base, base_w) = best(
            args.repeat, lambda: ours(network, xs, ys, epochs, backend="torch", device="cuda"),
            lambda: pytorch_loop(network, x, y, epochs, device="cuda"))
        rows.append((f"200,000 × 2-16-16-1, 10 epochs ({card})", "torch (cuda) vs plain PyTorch loop (cuda)",
                     mine, base, f"{mine / base:.3f}× its time (goal ≤ 1.1×)", f"{agree(mine_w, base_w):.1e}"))
        (mine, mine_w, _), (base, base_w) = best(
            args.repeat, lambda: ours(SEED, SEED_X, SEED_Y, 10_000, backend="compiled"),
            lambda: pytorch_loop(SEED, SEED_X, SEED_Y, 10_000, device="cuda"))
        rows.append((f"seed 2-2-1, 10,000 epochs ({card})", "compiled (cpu) vs PyTorch loop (cuda)", mine, base,
                     f"{base / mine:.0f}× faster", f"{agree(mine_w, base_w):.1e}"))
    else:
        rows.append(("CUDA", "no CUDA device here: the --device cuda figures could not be measured", 0.0, 0.0, "", ""))

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python"
          f" {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__};"
          f" {torch.get_num_threads()} torch thread(s); best of {args.repeat};"
          f" load average {load:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| problem | comparison | backprop-cli (s) | baseline (s) | result | max weight difference |")
    print("|---|---|---:|---:|---|---:|")
    for problem, comparison, mine, base, result, difference in rows:
        cells = (f"{mine:.4f}" if mine else "", f"{base:.4f}" if base else "")
        print(f"| {problem} | {comparison} | {cells[0]} | {cells[1]} | {result} | {difference} |")


if __name__ == "__main__":
    main()
