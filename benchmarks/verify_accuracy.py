"""How far inside its tolerances `backprop verify` works, and how long it takes.

    python benchmarks/verify_accuracy.py            # 200 random networks; --networks N to change

For random networks (2 to 4 layers of 1 to 6 units, every activation and loss, weights of
xavier/he/uniform initialisation, 1 to 3 samples) it reports, over every gradient:

* the largest autograd error |g − autograd| as a fraction of its tolerance;
* the largest central-difference error |g − fd| as a fraction of its tolerance, and the median;
* the relative central-difference error at the 50th, 99th and 100th percentiles;

then the wall time of check_gradients on the seed and on a 4-16-16-3 network (403 parameters).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backprop_cli.model import SEED, SEED_X, SEED_Y, random_network  # noqa: E402
from backprop_cli.verification import AUTOGRAD, CENTRAL, check_gradients  # noqa: E402

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "x/(1+abs(x))", "x*sigmoid(x)")


def random_case(rng: random.Random):
    widths = [rng.randint(1, 6) for _ in range(rng.randint(3, 5))]
    loss = rng.choice(["bce", "mse", "sse", "half_sse", "cross_entropy"])
    output = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss, rng.choice(HIDDEN))
    network = random_network(widths, activation=rng.choice(HIDDEN), output_activation=output, loss=loss,
                             seed=rng.randrange(10**6), init=rng.choice(["xavier", "he", "uniform"]),
                             decimals=None)
    samples = rng.randint(1, 3)
    xs = tuple(tuple(rng.uniform(-2, 2) for _ in range(widths[0])) for _ in range(samples))
    if loss == "cross_entropy":
        ys = tuple(tuple(float(k == rng.randrange(widths[-1])) for k in range(widths[-1])) for _ in xs)
    elif loss == "bce":
        ys = tuple(tuple(rng.random() for _ in range(widths[-1])) for _ in xs)
    else:
        ys = tuple(tuple(rng.uniform(-1, 1) for _ in range(widths[-1])) for _ in xs)
    return network, xs, ys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    autograd_ratio, fd_ratios, fd_relative, failures, gradients = 0.0, [], [], 0, 0
    for _ in range(args.networks):
        network, xs, ys = random_case(rng)
        report = check_gradients(network, xs, ys, form="scalar")
        failures += len(report.failures)
        for check in report.checks:
            gradients += 1
            if check.autograd is not None:
                allowed = AUTOGRAD.rtol * abs(check.autograd.reference) + AUTOGRAD.atol * report.scale
                autograd_ratio = max(autograd_ratio, check.autograd.abs_error / allowed)
            fd = check.finite_difference
            if fd.method == "central":
                fd_ratios.append(fd.abs_error / (CENTRAL.rtol * abs(fd.reference) + CENTRAL.atol * report.scale))
                if abs(fd.reference) > 1e-6:
                    fd_relative.append(fd.rel_error)
    fd_relative.sort()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{args.networks} random networks, {gradients} gradients, {failures} outside the tolerances")
    print(f"autograd: largest error / tolerance = {autograd_ratio:.2g}")
    print(f"central differences: largest error / tolerance = {max(fd_ratios):.2g},"
          f" median {statistics.median(fd_ratios):.2g}")
    print(f"central differences, relative error (|fd| > 1e-6): median {fd_relative[len(fd_relative) // 2]:.2g},"
          f" 99th percentile {fd_relative[int(len(fd_relative) * 0.99)]:.2g}, largest {fd_relative[-1]:.2g}")
    wide = random_network((4, 16, 16, 3), output_activation="softmax", loss="cross_entropy", seed=1)
    for name, (network, xs, ys) in {"seed (9 parameters)": (SEED, SEED_X, SEED_Y),
                                    "4-16-16-3 (403 parameters)": (wide, ((0.5, -1.0, 0.25, 2.0),),
                                                                   ((0.0, 1.0, 0.0),))}.items():
        start = time.perf_counter()
        check_gradients(network, xs, ys)
        print(f"check_gradients, {name}: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
