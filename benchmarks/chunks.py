"""The numpy engine's chunk size on a large batch: time an epoch for several chunk sizes, in one run.

    python benchmarks/chunks.py                          # 200,000 × 2-16-16-1, float64 and float32
    python benchmarks/chunks.py --rows 1024 3072 4096 --rounds 9

The numpy engine works a large batch of a dense network chunk by chunk (``NumpyEngine._chunked_gradients``);
``numpy_engine.chunk_rows`` sets the chunk's samples. This script sets it to each size in turn, the sizes
interleaved round by round, and prints the median time an epoch of 10 full-batch epochs (the training
loop's own seconds), marking the size the engine picks by itself. BLAS is held to one thread as the
engine holds it (threadpoolctl), so the sizes compare on the same footing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from peers import make_case  # noqa: E402

from backprop_cli.engines import numpy_engine  # noqa: E402
from backprop_cli.training import TrainSettings, train  # noqa: E402

DEFAULT_ROWS = (1024, 2048, 2560, 3072, 3584, 4096, 5120, 6144)
CASES = ("large", "large32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    picked = numpy_engine.chunk_rows
    medians: dict[str, dict[int, float]] = {}
    chosen: dict[str, int] = {}
    for name in CASES:
        case = make_case(name)
        xs = [tuple(row) for row in case.X.tolist()]
        ys = [tuple(row) for row in case.Y.tolist()]
        network = case.network()
        chosen[name] = picked(network.widths)
        times: dict[int, list[float]] = {rows: [] for rows in args.rows}
        for _ in range(args.rounds):
            for rows in args.rows:
                numpy_engine.chunk_rows = lambda widths, one_thread=True, rows=rows: rows
                result = train(network, xs, ys, TrainSettings(epochs=case.epochs, backend="numpy",
                                                              dtype=case.dtype, log_every=case.epochs))
                times[rows].append(result.seconds / case.epochs * 1e3)
        numpy_engine.chunk_rows = picked
        medians[name] = {rows: statistics.median(values) for rows, values in times.items()}
    print(f"200,000 × 2-16-16-1, 10 epochs; load average {os.getloadavg()[0]:.1f};"
          f" medians of {args.rounds} interleaved rounds, ms an epoch\n")
    print("| samples a chunk | float64 | float32 |")
    print("|---:|---:|---:|")
    for rows in args.rows:
        cells = [f"{medians[name][rows]:.1f}" + (" (picked)" if rows == chosen[name] else "") for name in CASES]
        print(f"| {rows:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
