"""Start-up and step benchmarks of backprop step (the budget of DESIGN.md), each pair in one run.

    python benchmarks/step.py            # 15 rounds; --rounds N to change, --markdown for a table

Every command is run as a fresh process, interleaved with its baseline round by round, and the
medians compared. The package's bytecode is compiled first (an installed package has it) and
PYTHONDONTWRITEBYTECODE is cleared for the children, so that neither side compiles source.
Derivatives sympy has worked out are kept between runs (backprop_cli/derived.py); the benchmark
uses a cache folder of its own, filled by a first run, and times the very first run of a fresh
folder too (``BACKPROP_CACHE_DIR=off``: every derivative worked out by sympy again).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def backprop_command() -> list[str]:
    script = Path(sys.executable).with_name("backprop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backprop_cli"]


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``command`` takes; a leading ``VAR=value`` item sets the environment."""
    while command and "=" in command[0] and not command[0].startswith(("-", "/")):
        name, _, value = command[0].partition("=")
        env = {**env, name: value}
        command = command[1:]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def write_specs(folder: Path) -> tuple[Path, Path]:
    """A 4-16-16-3 softmax/cross-entropy network (403 parameters), with 1 and with 64 samples."""
    sys.path.insert(0, str(ROOT))
    from backprop_cli.io import spec_toml
    from backprop_cli.model import random_network

    network = random_network([4, 16, 16, 3], activation="sigmoid", output_activation="softmax",
                             loss="cross_entropy", seed=1)
    assert network.parameter_count == 403
    one = folder / "net403.toml"
    one.write_text(spec_toml(network, [(0.5, -1.0, 2.0, 0.1)], [(0.0, 1.0, 0.0)]))
    xs = [tuple(round(((i * 7 + j * 3) % 11) / 5 - 1, 2) for j in range(4)) for i in range(64)]
    ys = [tuple(1.0 if j == i % 3 else 0.0 for j in range(3)) for i in range(64)]
    batch = folder / "net403x64.toml"
    batch.write_text(spec_toml(network, xs, ys))
    return one, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "backprop_cli")], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    backprop = backprop_command()
    python = [sys.executable, "-c"]
    with tempfile.TemporaryDirectory() as tmp:
        env["BACKPROP_CACHE_DIR"] = str(Path(tmp) / "cache")
        one, batch = write_specs(Path(tmp))
        pairs = [
            ("backprop step, cold", backprop + ["step"],
             "import sympy, typer, rich.console", python + ["import sympy, typer, rich.console"], 1.3),
            ("backprop step, cold, nothing cached (BACKPROP_CACHE_DIR=off)",
             ["BACKPROP_CACHE_DIR=off"] + backprop + ["step"],
             "import sympy, typer, rich.console", python + ["import sympy, typer, rich.console"], None),
            ("backprop --help", backprop + ["--help"],
             "import typer, rich.console", python + ["import typer, rich.console"], 1.5),
            ("step of 4-16-16-3 (403 parameters, cross_entropy), scalar form",
             backprop + ["step", "--network", str(one), "--form", "scalar"],
             "backprop step (seed)", backprop + ["step"], 3.0),
            ("step of 4-16-16-3, --form auto (matrix: layers wider than 8)",
             backprop + ["step", "--network", str(one)],
             "backprop step (seed)", backprop + ["step"], 3.0),
            ("64-sample step of 4-16-16-3, matrix form, Markdown",
             backprop + ["step", "--network", str(batch), "--format", "markdown"],
             "backprop step (seed)", backprop + ["step"], 3.0),
        ]
        rows = []
        for name, command, base_name, baseline, goal in pairs:
            timed(command, env)
            timed(baseline, env)  # warm the file cache
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(timed(command, env))
                theirs.append(timed(baseline, env))
            a, b = statistics.median(ours), statistics.median(theirs)
            rows.append((name, a, base_name, b, a / b, goal))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    if args.markdown:
        print(f"Machine: {machine}. Command: `python benchmarks/step.py --rounds {args.rounds}`"
              " (medians of interleaved runs, seconds).\n")
        print("| what | median | baseline | median | ratio | goal |")
        print("|---|---:|---|---:|---:|---:|")
        for name, a, base_name, b, ratio, goal in rows:
            target = "" if goal is None else f"≤ {goal}× {'✓' if ratio <= goal else '✗'}"
            print(f"| {name} | {a:.3f} | `{base_name}` | {b:.3f} | {ratio:.2f}× | {target} |")
        return
    print(f"machine: {machine}; {args.rounds} interleaved rounds, medians in seconds")
    width = max(len(r[0]) for r in rows)
    for name, a, base_name, b, ratio, goal in rows:
        verdict = "" if goal is None else f"(goal <= {goal}x) {'ok' if ratio <= goal else 'OVER'}"
        print(f"{name:<{width}}  {a:6.3f}  vs {base_name}: {b:6.3f}  = {ratio:4.2f}x {verdict}")


if __name__ == "__main__":
    main()
