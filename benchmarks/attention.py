"""Speed of a one-block transformer, each side against its baseline, timed in one run.

    python benchmarks/attention.py                 # prints a Markdown table
    python benchmarks/attention.py --repeat 9 --epochs 50 --threads 1

1. The page: ``backprop step`` of a one-block transformer over 4 tokens (an embedding of 5 words
   in d = 4, sinusoidal positions, x + attention(LN(x)) with 2 causal heads, x + FFN(LN(x)), a
   softmax over the words at every position, cross-entropy; the matrix form, every head's Q, K, V,
   S and A), against ``backprop step`` on the seed, each a fresh process from start to exit.
   Goal: within 3× of the seed's step.
2. Training: 2,000 sequences of 4 token ids, next-token targets, that network, full batch, float64,
   SGD: the ``torch`` engine against a plain PyTorch loop (nn.Embedding, the positions added,
   nn.LayerNorm, nn.MultiheadAttention with batch_first and the causal mask, nn.Linear,
   nn.CrossEntropyLoss on the (N·T, V) logits, torch.optim.SGD; goal: at most 1.1× its time), and
   the ``numpy`` engine against the ``torch`` engine (no goal).

The sides alternate ``--repeat`` times, each repetition in a rotated order (so that neither side
always runs first, after the other's cache misses), and the median is kept. Both loops read every
epoch's loss; the final weights of each pair are compared, so that both did the same work. Training
times are of the loop alone (``TrainResult.seconds``; the loop for PyTorch), ``--epochs`` long each
(50 by default: about a second, far above the timer's and the scheduler's granularity).

torch runs on ``--threads`` threads (1 by default, for both sides). At this size a kernel is tens of
microseconds of work, and on a machine whose cores are busy with other processes torch's default
of one OpenMP thread per core makes each kernel wait for a descheduled thread: an epoch went from
about 13 ms to 100–400 ms, by whichever side met the other load, which is where ratios between
0.46× and 1.34× came from. The load average before and after is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pairs import BACKENDS, machine, ours, page_medians  # noqa: E402

from backprop_cli.io import parse_spec  # noqa: E402
from backprop_cli.tokens import token_tables  # noqa: E402

STEPS, DIM, WORDS, HEADS = 4, 4, 5, 2
SPEC = {
    "loss": "cross_entropy", "lr": 0.1, "optimizer": "sgd", "seed": 0, "init": "uniform",
    "input_shape": [STEPS], "layers": token_tables(WORDS, STEPS, DIM),
    "data": {"x": [[0, 1, 2, 3]], "y": [[1, 2, 3, 4]]},
}
F64 = torch.float64


def pytorch_loop(network: Any, x: Any, y: Any, epochs: int) -> tuple[float, list[Any]]:
    """The loop a PyTorch user writes for the block; its time and final weights (the network's order)."""
    embedding_layer, _, attention_block, ffn_block, out_layer = network.layers
    norm1, attention_layer = attention_block.layers
    norm2, dense1, dense2 = ffn_block.layers

    def tensor(value: Any) -> Any:
        return torch.tensor(value, dtype=F64)

    embedding = torch.nn.Embedding(WORDS, DIM, dtype=F64)
    ln1, ln2 = torch.nn.LayerNorm(DIM, dtype=F64), torch.nn.LayerNorm(DIM, dtype=F64)
    attn = torch.nn.MultiheadAttention(DIM, HEADS, batch_first=True, dtype=F64)
    fc1 = torch.nn.Linear(DIM, len(dense1.weight), dtype=F64)
    fc2 = torch.nn.Linear(len(dense1.weight), DIM, dtype=F64)
    out = torch.nn.Linear(DIM, WORDS, dtype=F64)
    with torch.no_grad():
        embedding.weight.copy_(tensor(embedding_layer.weight))
        for module, layer in ((ln1, norm1), (ln2, norm2), (fc1, dense1), (fc2, dense2), (out, out_layer)):
            module.weight.copy_(tensor(layer.weight))
            module.bias.copy_(tensor(layer.bias))
        attn.in_proj_weight.copy_(tensor(attention_layer.in_proj_weight))
        attn.in_proj_bias.copy_(tensor(attention_layer.in_proj_bias))
        attn.out_proj.weight.copy_(tensor(attention_layer.out_proj_weight))
        attn.out_proj.bias.copy_(tensor(attention_layer.out_proj_bias))
    position = torch.arange(STEPS, dtype=F64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, DIM, 2, dtype=F64) * (-math.log(10000.0) / DIM))
    positions = torch.zeros(STEPS, DIM, dtype=F64)
    positions[:, 0::2] = torch.sin(position * div_term)
    positions[:, 1::2] = torch.cos(position * div_term)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(STEPS, dtype=F64)
    params = [embedding.weight, ln1.weight, ln1.bias, attn.in_proj_weight, attn.in_proj_bias,
              attn.out_proj.weight, attn.out_proj.bias, ln2.weight, ln2.bias, fc1.weight, fc1.bias,
              fc2.weight, fc2.bias, out.weight, out.bias]
    X = torch.tensor(x, dtype=torch.long)
    Y = torch.tensor(y, dtype=torch.long).reshape(-1)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(params, lr=network.lr)
    losses = []
    began = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        h = embedding(X) + positions
        a = ln1(h)
        h = h + attn(a, a, a, attn_mask=mask, need_weights=False, is_causal=True)[0]
        h = h + fc2(torch.relu(fc1(ln2(h))))
        loss = loss_fn(out(h).reshape(-1, WORDS), Y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - began
    return seconds, [p.detach().numpy() for p in params]


def training_medians(network: Any, x: Any, y: Any, ids: Any, epochs: int, repeat: int) -> dict[str, float]:
    """Median seconds per epoch of the PyTorch loop and of each engine, run in turns ``repeat`` times,
    each turn in a rotated order; the final weights of each engine must equal the loop's (to 1e-9)."""
    sides = ("pytorch", *BACKENDS)
    times: dict[str, list[float]] = {name: [] for name in sides}
    weights: dict[str, list[Any]] = {}
    for turn in range(repeat):
        for name in sides[turn % len(sides):] + sides[:turn % len(sides)]:
            seconds, weights[name] = (pytorch_loop(network, x, ids[:, 1:], epochs) if name == "pytorch"
                                      else ours(network, x, y, epochs, name))
            times[name].append(seconds)
    for backend in BACKENDS:
        for mine, theirs in zip(weights[backend], weights["pytorch"], strict=True):
            assert np.allclose(np.asarray(mine).reshape(theirs.shape), theirs, rtol=1e-9, atol=1e-12), backend
    return {name: statistics.median(values) / epochs for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=1, help="torch's threads, both sides (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as folder:
        spec_path = Path(folder) / "transformer.json"
        spec_path.write_text(json.dumps(SPEC), encoding="utf-8")
        median = page_medians({"seed": ["step"], "block": ["step", "--network", str(spec_path)]}, args.repeat)

    network = parse_spec(SPEC).network
    rng = np.random.default_rng(1)
    ids = rng.integers(0, WORDS, (args.samples, STEPS + 1))
    x = tuple(tuple(float(v) for v in row[:-1]) for row in ids)
    y = tuple(tuple(float(v == k) for v in row[1:] for k in range(WORDS)) for row in ids)
    per = {name: seconds * 1000 for name, seconds in
           training_medians(network, x, y, ids, args.epochs, args.repeat).items()}
    load_after = os.getloadavg()

    print(machine(args.repeat))
    print(f"torch threads: {torch.get_num_threads()}; {args.epochs} epochs a run; load average (1, 5, 15 min)"
          f" {', '.join(f'{v:.2f}' for v in load_before)} before, {', '.join(f'{v:.2f}' for v in load_after)}"
          " after.\n")
    print("| case | time | against | ratio | goal |")
    print("|---|---:|---|---:|---|")
    seed = median["seed"]
    print(f"| `backprop step` transformer block, T = {STEPS}, d = {DIM}, {HEADS} heads (process) |"
          f" {median['block']:.2f} s | seed step {seed:.2f} s | {median['block'] / seed:.2f}× | ≤ 3× |")
    print(f"| train {args.samples:,} sequences, torch engine | {per['torch']:.1f} ms/epoch | PyTorch loop"
          f" {per['pytorch']:.1f} ms/epoch | {per['torch'] / per['pytorch']:.2f}× | ≤ 1.1× |")
    print(f"| train {args.samples:,} sequences, numpy engine | {per['numpy']:.1f} ms/epoch | torch engine"
          f" {per['torch']:.1f} ms/epoch | {per['numpy'] / per['torch']:.2f}× | |")


if __name__ == "__main__":
    main()
