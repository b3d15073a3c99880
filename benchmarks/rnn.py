"""Speed of recurrent networks, each against its baseline, timed in one run.

    python benchmarks/rnn.py                 # prints a Markdown table
    python benchmarks/rnn.py --repeat 5 --epochs 10

1. The page: ``backprop step`` of an LSTM of 4 units over 5 steps of 2 features, then a dense output
   (the matrix form, every time step's lines), against ``backprop step`` on the seed, each a fresh
   process from start to exit. Goal: within 3× of the seed's step.
2. Training: 10,000 sequences (5 steps of 2 features; the target is the sum of the first feature
   over the steps) on that network, full batch, float64, mse, SGD: the ``torch`` engine against a
   plain PyTorch loop (nn.LSTM with batch_first, nn.Linear on the last step, nn.MSELoss,
   torch.optim.SGD; goal: at most 1.1× its time), and the ``numpy`` engine against the ``torch``
   engine (no goal: its BPTT loops over the steps in Python).

The sides alternate ``--repeat`` times and the median is kept. Both loops read every epoch's loss;
the final weights of each pair are compared, so that both did the same work. Training times are of
the loop alone (``TrainResult.seconds``; the loop for PyTorch).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pairs import machine, page_medians, training_medians  # noqa: E402

from backprop_cli.io import parse_spec  # noqa: E402

STEPS, FEATURES, HIDDEN = 5, 2, 4
SPEC = {
    "loss": "mse", "lr": 0.1, "input_shape": [STEPS, FEATURES],
    "layers": [{"kind": "lstm", "hidden_size": HIDDEN}, {"units": 1, "activation": "identity"}],
    "data": {"x": [[round(0.1 * k - 0.4, 1) for k in range(STEPS * FEATURES)]], "y": [[0.5]]},
}


def pytorch_loop(network: Any, x: Any, y: Any, epochs: int) -> tuple[float, list[Any]]:
    """The loop a PyTorch user writes for the LSTM; its time and final weights."""
    lstm_layer, dense = network.layers
    lstm = torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True, dtype=torch.float64)
    linear = torch.nn.Linear(HIDDEN, 1, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, f"{name}_l0").copy_(torch.tensor(getattr(lstm_layer, name), dtype=torch.float64))
        linear.weight.copy_(torch.tensor(dense.weight, dtype=torch.float64))
        linear.bias.copy_(torch.tensor(dense.bias, dtype=torch.float64))
    params = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, linear.weight, linear.bias]
    X = torch.tensor(x, dtype=torch.float64).reshape(-1, STEPS, FEATURES)
    Y = torch.tensor(y, dtype=torch.float64)
    loss_fn = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(params, lr=network.lr)
    losses = []
    began = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        out, _ = lstm(X)
        loss = loss_fn(linear(out[:, -1]), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - began
    return seconds, [p.detach().numpy() for p in params]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        spec_path = Path(folder) / "lstm.json"
        spec_path.write_text(json.dumps(SPEC), encoding="utf-8")
        median = page_medians({"seed": ["step"], "lstm": ["step", "--network", str(spec_path)]}, args.repeat)

    network = parse_spec(SPEC).network
    rng = np.random.default_rng(1)
    sequences = rng.uniform(-1.0, 1.0, (args.samples, STEPS, FEATURES))
    x = tuple(map(tuple, sequences.reshape(args.samples, -1)))
    y = tuple((float(v),) for v in sequences[:, :, 0].sum(axis=1))
    per = {name: seconds * 1000 for name, seconds in
           training_medians(network, x, y, args.epochs, args.repeat, pytorch_loop).items()}

    print(machine(args.repeat))
    print("| case | time | against | ratio | goal |")
    print("|---|---:|---|---:|---|")
    seed = median["seed"]
    print(f"| `backprop step` lstm {HIDDEN} units, T = {STEPS} (process) | {median['lstm']:.2f} s |"
          f" seed step {seed:.2f} s | {median['lstm'] / seed:.2f}× | ≤ 3× |")
    print(f"| train {args.samples:,} sequences, torch engine | {per['torch']:.1f} ms/epoch | PyTorch loop"
          f" {per['pytorch']:.1f} ms/epoch | {per['torch'] / per['pytorch']:.2f}× | ≤ 1.1× |")
    print(f"| train {args.samples:,} sequences, numpy engine | {per['numpy']:.1f} ms/epoch | torch engine"
          f" {per['torch']:.1f} ms/epoch | {per['numpy'] / per['torch']:.2f}× | |")


if __name__ == "__main__":
    main()
