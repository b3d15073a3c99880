"""The same benchmarks on two versions of the package, interleaved in one run: before and after a change.

    python benchmarks/versions.py --before a2e9c9b          # 11 rounds; --rounds N, --markdown

``--before`` is a git revision, checked out into a temporary worktree; "after" is this tree.
Each measurement runs in a fresh process whose ``PYTHONPATH`` puts one version first, the two
versions alternating round by round so that both see the same machine load; the medians are
compared. Measured: ``backprop step`` start to exit (the seed; a 4-16-16-3 network of 403
parameters, whose time grows with its size), and the training loop's own seconds (the seed for
10,000 epochs on the compiled engine; 200,000 × 2-16-16-1 for 10 epochs on the numpy and torch
engines). Derivatives are cached per version in a folder of its own, filled by a first run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TRAIN = """
import json, sys, numpy as np
from backprop_cli.model import SEED, SEED_X, SEED_Y, random_network
from backprop_cli.training import TrainSettings, train
which = sys.argv[1]
if which == "seed":
    network, xs, ys, settings = SEED, SEED_X, SEED_Y, TrainSettings(epochs=10_000, backend="compiled", log_every=100)
else:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(200_000, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float64)
    network = random_network((2, 16, 16, 1), seed=0, lr=0.5, decimals=None)
    xs, ys = tuple(map(tuple, x.tolist())), tuple(map(tuple, y.tolist()))
    settings = TrainSettings(epochs=10, backend=which, log_every=1)
result = train(network, xs, ys, settings)
print(json.dumps({"seconds": result.seconds, "loss": result.final_loss}))
"""


def run(tree: Path, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and output of ``python ARGS`` with ``tree`` first on the path."""
    env = {**env, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True, env=env, cwd=tree)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--markdown", action="store_true")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="backprop-versions-"))
    before = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), options.before],
                   check=True, capture_output=True)
    try:
        trees = {"before": before, "after": ROOT}
        envs = {}
        for name, tree in trees.items():
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["BACKPROP_CACHE_DIR"] = str(work / f"cache-{name}")
            envs[name] = env
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "backprop_cli")], check=True)
        sys.path.insert(0, str(ROOT))
        from backprop_cli.io import spec_toml
        from backprop_cli.model import random_network

        wide = work / "wide.toml"
        network = random_network([4, 16, 16, 3], activation="sigmoid", output_activation="softmax",
                                 loss="cross_entropy")
        wide.write_text(spec_toml(network, [(0.5, -1.0, 0.25, 2.0)], [(0.0, 1.0, 0.0)]))
        measures: dict[str, tuple[list[str], bool]] = {
            "backprop step (the seed), start to exit": (["-m", "backprop_cli", "step"], False),
            "backprop step, 4-16-16-3 (403 parameters)": (
                ["-m", "backprop_cli", "step", "--network", str(wide)], False),
            "train, seed, 10,000 epochs, compiled (loop)": (["-c", TRAIN, "seed"], True),
            "train, 200,000 × 2-16-16-1, 10 epochs, numpy (loop)": (["-c", TRAIN, "numpy"], True),
            "train, 200,000 × 2-16-16-1, 10 epochs, torch (loop)": (["-c", TRAIN, "torch"], True),
        }
        for name, tree in trees.items():  # fill each version's derivative cache
            for args, _ in measures.values():
                if args[-1] not in ("numpy", "torch"):
                    run(tree, args, envs[name])
        times: dict[str, dict[str, list[float]]] = {m: {"before": [], "after": []} for m in measures}
        for round_ in range(options.rounds):
            order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
            for measure, (args, in_process) in measures.items():
                for name in order:
                    seconds, out = run(trees[name], args, envs[name])
                    times[measure][name].append(json.loads(out)["seconds"] if in_process else seconds)
        load = os.getloadavg()[0]
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], capture_output=True)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python"
          f" {platform.python_version()}; load average {load:.2f}; {options.rounds} rounds, medians.")
    if options.markdown:
        print("\n| measure | before | after | after / before |\n|---|---|---|---|")
    for measure, sides in times.items():
        b, a = statistics.median(sides["before"]), statistics.median(sides["after"])
        if options.markdown:
            print(f"| {measure} | {b * 1000:.1f} ms | {a * 1000:.1f} ms | {a / b:.3f} |")
        else:
            print(f"{measure:55s} before {b * 1000:9.1f} ms   after {a * 1000:9.1f} ms   {a / b:.3f}×")


if __name__ == "__main__":
    main()
