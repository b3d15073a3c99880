"""The fused numba engine on 1 … n threads against the numpy engine on 1 … n processes, on large full
batches, in one run.

    python benchmarks/threads.py                                   # the shapes of docs/benchmarks.md
    python benchmarks/threads.py --threads 1 2 4 --cases 2-16-16-1:200000:float32 --rounds 5

Each case is a dense sigmoid/bce network (its widths), a number of samples and a dtype. The engines
are built once each (the fused engine's threads and the numpy engine's processes set through
``engines.cpus``; the numpy engine forks its helper processes in its first epochs), then trained a few
full-batch epochs at a time, the engines interleaved round by round; it prints the median wall time
an epoch and the median CPU time an epoch (every thread of the process counted; the numpy engine's
helper processes not), and what ``--backend auto``'s cost model (``engines.LARGE_EPOCH``) expects on
one thread. On a machine whose
cores other processes hold, the wall times of several threads say little; the CPU times say what
splitting a batch adds to its work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

from backprop_cli import engines  # noqa: E402
from backprop_cli.engines.base import EngineSettings  # noqa: E402
from backprop_cli.engines.fused import FusedEngine  # noqa: E402
from backprop_cli.engines.numpy_engine import NumpyEngine  # noqa: E402
from backprop_cli.model import random_network  # noqa: E402

CASES = ("2-16-16-1:200000:float64", "2-16-16-1:200000:float32", "2-16-16-1:50000:float64",
         "2-16-16-1:500000:float32", "10-32-1:200000:float64", "10-32-1:200000:float32",
         "2-64-64-1:100000:float64", "2-64-64-1:100000:float32")


def timed(engine: Any, epochs: int) -> tuple[float, float]:
    """Seconds an epoch: wall, and CPU (the process's, every thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    engine.run(1, epochs, set(), [False])
    return (time.perf_counter() - wall) / epochs, (time.process_time() - cpu) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=list(CASES), metavar="WIDTHS:SAMPLES:DTYPE")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; ms an epoch,"
          f" medians of {args.rounds} rounds of {args.epochs} epochs (wall / CPU)\n")
    names = [f"numba, {count} thread{'s' if count > 1 else ''}" for count in args.threads]
    names += [f"numpy, {count} process{'es' if count > 1 else ''}" for count in args.threads]
    print("| case | " + " | ".join(names) + " | model: numba, numpy (one thread) |")
    print("|---|" + "---:|" * (len(names) + 1))
    real = engines.cpus
    for case in args.cases:
        shape, samples, dtype = case.split(":")
        widths = tuple(int(width) for width in shape.split("-"))
        rng = np.random.default_rng(0)
        X = rng.uniform(-1.0, 1.0, (int(samples), widths[0]))
        Y = (X[:, :1] * X[:, 1:2] > 0).astype(np.float64)
        network = random_network(widths, activation="sigmoid", output_activation="sigmoid", seed=0, lr=0.5)
        settings = EngineSettings(batch_size=int(samples), dtype=dtype)
        made: list[tuple[int, Any]] = []
        try:
            for count in args.threads:
                engines.cpus = lambda count=count: count
                made.append((count, FusedEngine(network, X.tolist(), Y.tolist(), settings)))
            for count in args.threads:
                made.append((count, NumpyEngine(network, X.tolist(), Y.tolist(), settings)))
            for count, engine in made:  # a warm-up: the numpy engine forks its helpers here
                engines.cpus = lambda count=count: count
                engine.run(1, args.epochs, set(), [False])
            times: list[list[tuple[float, float]]] = [[] for _ in made]
            for _ in range(args.rounds):
                for index, (count, engine) in enumerate(made):
                    engines.cpus = lambda count=count: count
                    times[index].append(timed(engine, args.epochs))
        finally:
            engines.cpus = real
            for _, engine in made:
                engine.close()
        cells = [" / ".join(f"{statistics.median(row[k] for row in rows) * 1e3:.3g}" for k in (0, 1))
                 for rows in times]
        model = [engines._large(network, int(samples), name, dtype) or 0.0 for name in ("numba", "numpy")]
        print(f"| {shape}, {int(samples):,}, {dtype} | " + " | ".join(cells)
              + f" | {model[0] * 1e3:.3g}, {model[1] * 1e3:.3g} |", flush=True)


if __name__ == "__main__":
    main()
