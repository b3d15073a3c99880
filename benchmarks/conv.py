"""Speed of convolutional networks, each against its baseline, timed in one run.

    python benchmarks/conv.py                # prints a Markdown table
    python benchmarks/conv.py --repeat 5 --epochs 10

1. The page: ``backprop step`` of docs/examples/lenet.toml (1×6×6 → conv2d 2@3×3, relu → max_pool2d 2
   → flatten → dense 3, softmax; its default form and the scalar form) against ``backprop step`` on
   the seed, each a fresh process from start to exit. Goal: within 3× of the seed's step.
2. Training: 10,000 ``shapes`` images on that network's architecture, full batch, float64: the
   ``torch`` engine against a plain PyTorch loop (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten,
   nn.Linear, nn.CrossEntropyLoss, torch.optim.SGD; goal: at most 1.1× its time), and the ``numpy``
   engine against the ``torch`` engine (goal: at most 1.5×).

The sides alternate ``--repeat`` times and the median is kept. Both loops read every epoch's loss;
the final weights of each pair are compared, so that both did the same work. Training times are of
the loop alone (``TrainResult.seconds``; the loop for PyTorch).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pairs import ROOT, machine, page_medians, training_medians  # noqa: E402

from backprop_cli.io import load_spec  # noqa: E402
from backprop_cli.shapes import shapes  # noqa: E402

LENET = ROOT / "docs" / "examples" / "lenet.toml"


def pytorch_loop(network: Any, x: Any, y: Any, epochs: int) -> tuple[float, list[Any]]:
    """The loop a PyTorch user writes for the LeNet; its time and final weights."""
    conv, _, _, dense = network.layers
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dtype=torch.float64), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 3, dtype=torch.float64))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(conv.weight, dtype=torch.float64))
        model[0].bias.copy_(torch.tensor(conv.bias, dtype=torch.float64))
        model[4].weight.copy_(torch.tensor(dense.weight, dtype=torch.float64))
        model[4].bias.copy_(torch.tensor(dense.bias, dtype=torch.float64))
    X = torch.tensor(x, dtype=torch.float64).reshape(-1, 1, 6, 6)
    Y = torch.tensor(y, dtype=torch.float64).argmax(dim=1)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=network.lr)
    losses = []
    began = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - began
    return seconds, [p.detach().numpy() for p in model.parameters()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args()

    commands = {"seed": ["step"], "lenet": ["step", "--network", str(LENET)],
                "lenet scalar": ["step", "--network", str(LENET), "--form", "scalar"]}
    median = page_medians(commands, args.repeat)

    network = load_spec(LENET).network
    images, y = shapes(args.samples, seed=1)
    # A jitter below the images' one decimal: exact ties in a pooling window (relu's zeros, equal
    # sums) would otherwise be broken by each side's last-digit rounding, and the weights compared
    # would differ by where one tie went.
    x = tuple(map(tuple, np.asarray(images) + np.random.default_rng(0).uniform(0, 1e-3, (args.samples, 36))))
    per = {name: seconds * 1000 for name, seconds in
           training_medians(network, x, y, args.epochs, args.repeat, pytorch_loop).items()}

    print(machine(args.repeat))
    print("| case | time | against | ratio | goal |")
    print("|---|---:|---|---:|---|")
    seed = median["seed"]
    for name in ("lenet", "lenet scalar"):
        print(f"| `backprop step` {name} (process) | {median[name]:.2f} s | seed step {seed:.2f} s |"
              f" {median[name] / seed:.2f}× | ≤ 3× |")
    print(f"| train {args.samples:,} shapes, torch engine | {per['torch']:.1f} ms/epoch | PyTorch loop"
          f" {per['pytorch']:.1f} ms/epoch | {per['torch'] / per['pytorch']:.2f}× | ≤ 1.1× |")
    print(f"| train {args.samples:,} shapes, numpy engine | {per['numpy']:.1f} ms/epoch | torch engine"
          f" {per['torch']:.1f} ms/epoch | {per['numpy'] / per['torch']:.2f}× | ≤ 1.5× |")


if __name__ == "__main__":
    main()
