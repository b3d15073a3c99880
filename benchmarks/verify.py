"""How long `backprop verify` takes on wide networks (issue: verify in linear time), whole commands.

    python benchmarks/verify.py            # 5 rounds; --rounds N to change
    python benchmarks/verify.py --against /tmp/main   # also another checkout's backprop_cli, interleaved

Each command runs as a fresh process (start-up, torch's import, the derivation, autograd, the
central differences and the printed table of every parameter), the cases interleaved round by
round, medians in seconds; ``import torch`` alone is timed alongside, as it is most of a small
case's time (the ratio to it, taken round by round, holds where the machine's load varies). The
report's verdict is checked: every gradient agrees.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "2-30-30-1 (1,051 parameters)": ["--layers", "2", "30", "30", "1", "--seed", "0"],
    "2-100-100-1 (10,501 parameters)": ["--layers", "2", "100", "100", "1", "--seed", "0"],
    "2-100-100-1, --format json": ["--layers", "2", "100", "100", "1", "--seed", "0", "--format", "json"],
}
GOALS = {"2-30-30-1 (1,051 parameters)": 2.0, "2-100-100-1 (10,501 parameters)": 10.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="DIR", help="a checkout whose backprop_cli to time alongside")
    args = parser.parse_args()
    if args.against:
        backprop = [sys.executable, "-m", "backprop_cli", "verify"]
    else:
        backprop = [str(Path(sys.executable).with_name("backprop")), "verify"]
    commands = {name: backprop + case for name, case in CASES.items()}
    if args.against:
        commands.update({f"{name}, {args.against}": backprop + case for name, case in CASES.items()})
    commands["import torch (for comparison)"] = [sys.executable, "-c", "import torch"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BACKPROP_CACHE_DIR": str(Path(tmp) / "cache")}
        # Each side's package first on the path, run from a folder that holds neither (``-m`` puts the
        # working folder before PYTHONPATH).
        here = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        other = {**env, "PYTHONPATH": str(Path(args.against or ".").resolve())}
        subprocess.run(backprop, check=True, stdout=subprocess.DEVNULL, env=env)  # fill the cache
        for round_ in range(args.rounds):
            # Every other round in reverse order, so that no command always follows the same one.
            for name, command in list(commands.items())[::-1 if round_ % 2 else 1]:
                start = time.perf_counter()
                done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=tmp,
                                      env=(other if name.endswith(args.against) else here) if args.against else env)
                times[name].append(time.perf_counter() - start)
                assert done.returncode == 0, (name, done.stdout[-500:])
    torch = times["import torch (for comparison)"]
    print("| command | median (s) | ÷ import torch | goal |")
    print("|---|---:|---:|---|")
    for name, values in times.items():
        median = statistics.median(values)
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"< {goal:g} s {'✓' if median < goal else '✗'}"
        print(f"| {name} | {median:.2f} | {ratio(values, torch):.2f} | {verdict} |")
    if args.against:
        print(f"\nThis checkout ÷ {args.against}, the median of the rounds' ratios:")
        for name in CASES:
            print(f"- {name}: {ratio(times[name], times[f'{name}, {args.against}']):.2f}")


def ratio(values: list[float], others: list[float]) -> float:
    """The median over the rounds of each round's ratio: the load a round ran under cancels."""
    return statistics.median(a / b for a, b in zip(values, others, strict=True))


if __name__ == "__main__":
    main()
