"""``backprop train --backend torch --device cuda`` against plain PyTorch on the same card.

    python benchmarks/cuda.py                  # every case, 5 interleaved rounds
    python benchmarks/cuda.py --rounds 3 --cases large large32

Needs a CUDA GPU (it says so and exits otherwise). The cases are peers.py's large batch,
200,000 × 2-16-16-1 sigmoid/bce full-batch SGD, in float64 and float32, for 10 epochs (the issue's
figure) and for 1,000 (where the torch engine replays its step as a CUDA graph), and 2,000,000
samples for 200 epochs in float32. Every implementation computes the loss of every epoch:

- backprop-cli: ``train(..., TrainSettings(backend="torch", device="cuda", log_every=1))``, the
  loop's seconds (``TrainResult.seconds``: no data conversion, no start-up);
- the same with the graph captured after 4 epochs, and with it turned off (every epoch eager), to
  show what the graph buys and what its capture costs;
- the PyTorch loop a user writes (``nn.Sequential``, ``nn.BCELoss``, ``torch.optim.SGD``) with
  ``loss.item()`` every epoch, and the same loop keeping the losses on the device and reading them
  once at the end;
- JAX ``lax.fori_loop`` with every epoch inside one call (compiled first), where JAX sees the GPU.

Medians of rounds interleaved case by case; each row's final loss must equal backprop-cli's
(relative 1e-9 in float64, 1e-4 in float32).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import Case, _torch_loop, jax_fori, make_case, print_table  # noqa: E402


def ours(case: Case) -> tuple[float, float]:
    from backprop_cli.training import TrainSettings, train

    xs = [tuple(row) for row in case.X.tolist()]
    ys = [tuple(row) for row in case.Y.tolist()]
    result = train(case.network(), xs, ys, TrainSettings(epochs=case.epochs, backend="torch", device="cuda",
                                                         dtype=case.dtype, log_every=1))
    return result.seconds, result.final_loss


def graph_after(epochs: int) -> Any:
    """backprop-cli with the step captured as a CUDA graph after ``epochs`` eager ones."""

    def run(case: Case) -> tuple[float, float]:
        from backprop_cli.engines import torch_engine

        saved, torch_engine.GRAPH_AFTER = torch_engine.GRAPH_AFTER, epochs
        try:
            return ours(case)
        finally:
            torch_engine.GRAPH_AFTER = saved

    return run


def jax_gpu(case: Case) -> tuple[float, float]:
    import jax

    if jax.default_backend() != "gpu":
        raise RuntimeError(f"JAX runs on {jax.default_backend()} here, not the GPU")
    return jax_fori(case)


IMPLEMENTATIONS: dict[str, tuple[str, Any]] = {
    "ours": ("backprop-cli, --backend torch --device cuda", ours),
    "ours_early": ("backprop-cli, graph after 4 epochs", graph_after(4)),
    "ours_eager": ("backprop-cli, CUDA graph off", graph_after(2**62)),
    "torch_item": ("PyTorch loop, loss.item() each epoch", lambda case: _torch_loop(case, False, "cuda")),
    "torch_kept": ("PyTorch loop, losses read at the end", lambda case: _torch_loop(case, False, "cuda", False)),
    "jax_fori": ("JAX lax.fori_loop (GPU)", jax_gpu),
}


def cases() -> dict[str, Case]:
    large, large32 = make_case("large"), make_case("large32")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, (2_000_000, 2))
    huge = replace(large32, name="huge32", title="2,000,000 × 2-16-16-1 sigmoid/bce, 200 epochs, float32",
                   X=X, Y=(X[:, :1] * X[:, 1:] > 0).astype(np.float64), epochs=200)
    return {
        "large": large, "large32": large32,
        "long": replace(large, name="long", epochs=1000, title=large.title.replace("10 epochs", "1,000 epochs")),
        "long32": replace(large32, name="long32", epochs=1000,
                          title=large32.title.replace("10 epochs", "1,000 epochs")),
        "huge32": huge,
    }


def main() -> None:
    all_cases = cases()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="*", default=list(all_cases), choices=list(all_cases))
    parser.add_argument("--only", nargs="*", default=list(IMPLEMENTATIONS), choices=list(IMPLEMENTATIONS))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/cuda.py: no CUDA device on this machine (torch.cuda.is_available() is false)")
    print(f"Machine: {torch.cuda.get_device_name(0)}; host {platform.machine()}, {os.cpu_count()} cores;"
          f" Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}),"
          f" numpy {np.__version__}\n")
    for case_name in args.cases:
        case = all_cases[case_name]
        names = list(args.only)
        times: dict[str, list[float]] = {name: [] for name in names}
        finals: dict[str, float] = {}
        failed: dict[str, str] = {}
        for name in names:  # a first, untimed run of each: CUDA's and the libraries' start-up
            try:
                IMPLEMENTATIONS[name][1](replace(case, epochs=min(case.epochs, 40)))
            except Exception as error:  # a peer that is not installed or fails: said in its row
                failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
        for _ in range(args.rounds):
            for name in names:
                if name in failed:
                    continue
                seconds, loss = IMPLEMENTATIONS[name][1](case)
                times[name].append(seconds)
                finals[name] = loss
        print(f"### {case.title}\n")
        print_table(case, {name: IMPLEMENTATIONS[name][0] for name in names}, times, finals, failed,
                    reference=finals.get("ours"), base="ours", base_title="backprop-cli")


if __name__ == "__main__":
    main()
