"""What `backprop step --format json` costs in each form, before and after it stopped building the page.

    python benchmarks/step_json.py            # 15 rounds; --rounds N to change

Before: the JSON of the scalar form was the scalar page's numbers, the page built line by line
(the same command with ``cli.json_form`` returning the form asked, as it did). After: the CLI
works the JSON's exact values by the matrix form whichever form is asked.
Each variant runs in one process (imports and derivative cache warm), interleaved round by round;
medians in milliseconds. The same pairs are then timed as whole commands.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = {
    "seed 2-2-1, 1 sample": [],
    "5-4-3-1, 1 sample": ["--layers", "5", "4", "3", "1", "--seed", "0", "--x", "1", "2", "3", "4", "5", "--y", "1"],
    "4-16-16-3 (403 parameters), 1 sample": ["--layers", "4", "16", "16", "3", "--seed", "0", "--loss", "mse",
                                             "--x", "0.5", "-1", "2", "0.1", "--y", "0", "1", "0"],
    "5-4-3-1, 32 samples": ["--layers", "5", "4", "3", "1", "--seed", "0"] + [
        token for i in range(32)
        for token in ["--x", *(str(round((i * 7 + j * 3) % 11 / 5 - 1, 2)) for j in range(5)), "--y", str(i % 2)]],
}


def in_process(args: list[str], form: str, before: bool) -> Callable[[], None]:
    from backprop_cli import cli

    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["step", "--format", "json", "--form", form, *args]) == 0

    def old() -> None:
        # What step did before: the page of the form asked, built for its numbers.
        chosen = cli.json_form
        cli.json_form = lambda fmt, rounding, graph, form: form
        try:
            run()
        finally:
            cli.json_form = chosen

    return old if before else run


def median_ms(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BACKPROP_CACHE_DIR"] = str(Path(tmp) / "cache")
        print("| network | scalar page's JSON (before) | --form scalar (after) | --form matrix | before / after |")
        print("|---|---:|---:|---:|---:|")
        for name, case in CASES.items():
            runs = {"before": in_process(case, "scalar", True), "scalar": in_process(case, "scalar", False),
                    "matrix": in_process(case, "matrix", False)}
            for run in runs.values():
                run()  # warm: imports, derivative cache
            ms = median_ms(runs, args.rounds)
            print(f"| {name} | {ms['before']:.2f} ms | {ms['scalar']:.2f} ms | {ms['matrix']:.2f} ms |"
                  f" {ms['before'] / ms['scalar']:.1f}× |")
        backprop = [str(Path(sys.executable).with_name("backprop"))]
        print()
        print("| network, whole command | --form scalar | --form matrix |")
        print("|---|---:|---:|")
        for name, case in CASES.items():
            commands = {form: backprop + ["step", "--format", "json", "--form", form, *case]
                        for form in ("scalar", "matrix")}

            def command(c: list[str]) -> Callable[[], None]:
                return lambda: subprocess.run(c, check=True, stdout=subprocess.DEVNULL)

            ms = median_ms({form: command(c) for form, c in commands.items()}, max(3, args.rounds // 3))
            print(f"| {name} | {ms['scalar']:.0f} ms | {ms['matrix']:.0f} ms |")


if __name__ == "__main__":
    main()
