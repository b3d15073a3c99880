"""backprop-cli's training engines against their peers, each checked to reach the same final loss.

    python benchmarks/peers.py                          # every case, 3 interleaved rounds
    python benchmarks/peers.py --rounds 5 --cases seed xor
    python benchmarks/peers.py --one jax_fori seed      # one run in this process (end-to-end timing)

Peers (none of them is a dependency; install what you compare with, e.g. ``pip install jax``, or
beside the project's environment: ``pip install --target DIR 'jax[cpu]'`` and
``PYTHONPATH=DIR python benchmarks/peers.py``):
hand-written numpy (the matrix form over the whole batch), hand-written numba (a loop over the
samples and the layers' units, ``numba.njit``, the epoch loop inside), JAX (``jax.jit`` of a step
called once an epoch, and ``jax.lax.fori_loop`` with every epoch inside one call), PyTorch eager
(``nn.Sequential``, the loss module, ``torch.optim.SGD``) and ``torch.compile`` of its forward and
loss. All start from the same weights, run full-batch SGD in float64 (float32 where the case says
so) and compute the loss every epoch; the final loss of each must equal backprop-cli's (relative
1e-9 in float64, 1e-4 in float32), else the row says it differs.

Loop time is the training loop alone, compilation excluded (each side compiles first: numba and
JAX by a call, torch.compile by a first step; backprop-cli's ``TrainResult.seconds``); medians of
rounds interleaved case by case. End to end is a fresh process from start to exit: ``backprop
train`` against ``python benchmarks/peers.py --one IMPLEMENTATION CASE`` (its imports, data,
compilation and loop), for the small cases.

For the 200,000-sample cases the table ends with the layer-wise memory-bandwidth floor: the bytes a
layer-by-layer pass must move at least (forward: read each layer's input, write its output;
backward: read its δ and its input, write the δ below), over this machine's bandwidth measured
by copying an array larger than the caches (``numpy.copyto``, read and write counted; the fastest
of 20 copies); and the ratio of each implementation to it.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The numpy engine forks its helper processes in this process after JAX has run here, and JAX warns
# of any fork; the helpers run numpy alone, never JAX.
warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Case:
    name: str
    title: str
    widths: tuple[int, ...]
    hidden: str  # sigmoid | relu
    output: str  # sigmoid (bce) | softmax (cross_entropy)
    weights: list[tuple[np.ndarray, np.ndarray]]
    X: np.ndarray
    Y: np.ndarray
    lr: float
    epochs: int
    dtype: str = "float64"

    def network(self) -> Any:
        from backprop_cli.model import Layer, Network

        layers = tuple(Layer(tuple(map(tuple, W.tolist())), tuple(b.tolist()),
                             self.output if i == len(self.weights) - 1 else self.hidden)
                       for i, (W, b) in enumerate(self.weights))
        return Network(layers, loss="bce" if self.output == "sigmoid" else "cross_entropy", lr=self.lr)


def _weights(network: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array(layer.weight, dtype=np.float64), np.array(layer.bias, dtype=np.float64))
            for layer in network.layers]


def make_case(name: str) -> Case:
    from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, random_network

    if name == "seed":
        return Case(name, "seed 2-2-1, 1 sample, 10,000 epochs", (2, 2, 1), "sigmoid", "sigmoid",
                    _weights(SEED), np.array(SEED_X, float), np.array(SEED_Y, float), 1.0, 10_000)
    if name == "xor":
        xs, ys = DATASETS["xor"]
        return Case(name, "XOR 2-4-1, 4 samples, 10,000 epochs", (2, 4, 1), "sigmoid", "sigmoid",
                    _weights(random_network((2, 4, 1), seed=0)), np.array(xs, float), np.array(ys, float),
                    1.0, 10_000)
    if name == "spiral":
        # Three arms of 100 points (cs231n's spiral), noise from a fixed generator.
        rng = np.random.default_rng(0)
        r = np.tile(np.linspace(0.0, 1.0, 100), 3)
        t = np.repeat(np.arange(3) * 4.0, 100) + r * 4.0 + rng.normal(0, 0.2, 300)
        X = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        Y = np.eye(3)[np.repeat(np.arange(3), 100)]
        network = random_network((2, 16, 16, 3), activation="relu", output_activation="softmax",
                                 loss="cross_entropy", seed=0)
        return Case(name, "spiral 300 × 2-16-16-3 relu/softmax, 2,000 epochs", (2, 16, 16, 3), "relu", "softmax",
                    _weights(network), X, Y, 0.5, 2_000)
    if name in ("large", "large32"):
        rng = np.random.default_rng(0)
        X = rng.uniform(-1.0, 1.0, (200_000, 2))
        Y = (X[:, :1] * X[:, 1:] > 0).astype(np.float64)
        dtype = "float32" if name == "large32" else "float64"
        return Case(name, f"200,000 × 2-16-16-1 sigmoid/bce, 10 epochs, {dtype}", (2, 16, 16, 1), "sigmoid",
                    "sigmoid", _weights(random_network((2, 16, 16, 1), seed=0)), X, Y, 0.5, 10, dtype)
    raise SystemExit(f"unknown case {name}")


CASES = ("seed", "xor", "spiral", "large", "large32")

# --- backprop-cli ----------------------------------------------------------------------------


def ours(backend: str) -> Callable[[Case], tuple[float, float]]:
    def run(case: Case) -> tuple[float, float]:
        from backprop_cli.training import TrainSettings, train

        xs = [tuple(row) for row in case.X.tolist()]
        ys = [tuple(row) for row in case.Y.tolist()]
        result = train(case.network(), xs, ys, TrainSettings(epochs=case.epochs, backend=backend, dtype=case.dtype,
                                                             log_every=case.epochs))
        return result.seconds, result.final_loss

    return run


# --- hand-written numpy ----------------------------------------------------------------------


def numpy_loop(case: Case) -> tuple[float, float]:
    dtype = np.dtype(case.dtype)
    X, Y = case.X.astype(dtype), case.Y.astype(dtype)
    params = [(W.astype(dtype), b.astype(dtype)) for W, b in case.weights]
    n, last = len(X), len(params) - 1

    def forward(params: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[np.ndarray], float]:
        A = [X]
        for i, (W, b) in enumerate(params):
            Z = A[-1] @ W.T + b
            if i < last:
                A.append(1 / (1 + np.exp(-Z)) if case.hidden == "sigmoid" else np.maximum(Z, 0))
            elif case.output == "sigmoid":
                P = 1 / (1 + np.exp(-Z))
                A.append(P)
                loss = -(Y * np.maximum(np.log(P), -100) + (1 - Y) * np.maximum(np.log(1 - P), -100)).mean()
            else:
                top = Z.max(axis=1, keepdims=True)
                log_p = Z - top - np.log(np.exp(Z - top).sum(axis=1, keepdims=True))
                A.append(np.exp(log_p))
                loss = -(Y * log_p).sum() / n
        return A, float(loss)

    start = time.perf_counter()
    for _ in range(case.epochs):
        A, _loss = forward(params)
        delta = (A[-1] - Y) / (Y.size if case.output == "sigmoid" else n)
        updated = []
        for i in range(last, -1, -1):
            W, b = params[i]
            gW, gb = delta.T @ A[i], delta.sum(axis=0)
            if i:
                back = delta @ W
                delta = back * (A[i] * (1 - A[i]) if case.hidden == "sigmoid" else (A[i] > 0))
            updated.append((W - case.lr * gW, b - case.lr * gb))
        params = updated[::-1]
    seconds = time.perf_counter() - start
    return seconds, forward(params)[1]


# --- hand-written numba ----------------------------------------------------------------------


def _numba_kernel() -> Any:
    import numba

    @numba.njit(error_model="numpy")
    def train(params, sizes, woff, boff, relu, softmax, X, Y, lr, epochs, history):  # pragma: no cover
        layers = len(sizes) - 1
        width = sizes.max()
        N = X.shape[0]
        act = np.empty((layers + 1, width))
        delta = np.empty((layers + 1, width))
        grad = np.empty_like(params)
        outputs = sizes[layers]
        for epoch in range(epochs + 1):
            grad[:] = 0.0
            total = 0.0
            for n in range(N):
                for i in range(sizes[0]):
                    act[0, i] = X[n, i]
                for h in range(layers):
                    for j in range(sizes[h + 1]):
                        z = params[boff[h] + j]
                        row = woff[h] + j * sizes[h]
                        for i in range(sizes[h]):
                            z += params[row + i] * act[h, i]
                        if h < layers - 1:
                            act[h + 1, j] = max(z, 0.0) if relu else 1.0 / (1.0 + math.exp(-z))
                        else:
                            act[h + 1, j] = z
                if softmax:
                    top = act[layers, 0]
                    for j in range(outputs):
                        top = max(top, act[layers, j])
                    s = 0.0
                    for j in range(outputs):
                        s += math.exp(act[layers, j] - top)
                    for j in range(outputs):
                        log_p = act[layers, j] - top - math.log(s)
                        total -= Y[n, j] * log_p
                        delta[layers, j] = (math.exp(log_p) - Y[n, j]) / N
                else:
                    for j in range(outputs):
                        p = 1.0 / (1.0 + math.exp(-act[layers, j]))
                        y = Y[n, j]
                        total -= y * max(math.log(p), -100.0) + (1.0 - y) * max(math.log(1.0 - p), -100.0)
                        delta[layers, j] = (p - y) / (N * outputs)
                for h in range(layers - 1, -1, -1):
                    for j in range(sizes[h + 1]):
                        d = delta[h + 1, j]
                        grad[boff[h] + j] += d
                        row = woff[h] + j * sizes[h]
                        for i in range(sizes[h]):
                            grad[row + i] += d * act[h, i]
                    if h > 0:
                        for i in range(sizes[h]):
                            back = 0.0
                            for j in range(sizes[h + 1]):
                                back += delta[h + 1, j] * params[woff[h] + j * sizes[h] + i]
                            a = act[h, i]
                            delta[h, i] = back * ((a > 0.0) if relu else a * (1.0 - a))
            if epoch < epochs:
                history[epoch] = total / (N * outputs if not softmax else N)
                for k in range(len(params)):
                    params[k] -= lr * grad[k]
            else:
                return total / (N * outputs if not softmax else N)
        return 0.0

    return train


def numba_loop(case: Case) -> tuple[float, float]:
    train = _numba_kernel()
    sizes = np.array(case.widths, dtype=np.int64)
    flat, woff, boff = [], [], []
    offset = 0
    for W, b in case.weights:
        woff.append(offset)
        flat.append(W.ravel())
        offset += W.size
        boff.append(offset)
        flat.append(b)
        offset += b.size
    params = np.concatenate(flat)
    args = (sizes, np.array(woff), np.array(boff), case.hidden == "relu", case.output == "softmax",
            np.ascontiguousarray(case.X), np.ascontiguousarray(case.Y), case.lr)
    train(params.copy(), *args, 1, np.empty(1))  # compiles
    history = np.empty(case.epochs)
    start = time.perf_counter()
    final = train(params, *args, case.epochs, history)
    return time.perf_counter() - start, float(final)


# --- JAX ---------------------------------------------------------------------------------------


def _jax_setup(case: Case) -> tuple[Any, Any, Any]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    dtype = jnp.float32 if case.dtype == "float32" else jnp.float64
    X, Y = jnp.asarray(case.X, dtype), jnp.asarray(case.Y, dtype)
    params = [(jnp.asarray(W, dtype), jnp.asarray(b, dtype)) for W, b in case.weights]
    last = len(params) - 1

    def loss_fn(params: Any) -> Any:
        A = X
        for i, (W, b) in enumerate(params):
            Z = A @ W.T + b
            if i < last:
                A = jax.nn.sigmoid(Z) if case.hidden == "sigmoid" else jnp.maximum(Z, 0)
        if case.output == "sigmoid":
            P = jax.nn.sigmoid(Z)
            return -(Y * jnp.maximum(jnp.log(P), -100) + (1 - Y) * jnp.maximum(jnp.log(1 - P), -100)).mean()
        return -(Y * jax.nn.log_softmax(Z, axis=1)).sum() / X.shape[0]

    def step(params: Any) -> tuple[Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return jax.tree.map(lambda p, g: p - case.lr * g, params, grads), loss

    return jax, params, (loss_fn, step)


def jax_jit(case: Case) -> tuple[float, float]:
    jax, params, (loss_fn, step) = _jax_setup(case)
    step = jax.jit(step)
    jax.block_until_ready(step(params))  # compiles
    losses = []
    start = time.perf_counter()
    for _ in range(case.epochs):
        params, loss = step(params)
        losses.append(loss)
    jax.block_until_ready(params)
    seconds = time.perf_counter() - start
    return seconds, float(jax.jit(loss_fn)(params))


def jax_fori(case: Case) -> tuple[float, float]:
    jax, params, (loss_fn, step) = _jax_setup(case)
    import jax.numpy as jnp

    @jax.jit
    def train(params: Any) -> Any:
        def body(i: Any, carry: Any) -> Any:
            params, history = carry
            params, loss = step(params)
            return params, history.at[i].set(loss)

        return jax.lax.fori_loop(0, case.epochs, body, (params, jnp.zeros(case.epochs, params[0][0].dtype)))

    jax.block_until_ready(train(params))  # compiles
    start = time.perf_counter()
    params, history = jax.block_until_ready(train(params))
    seconds = time.perf_counter() - start
    return seconds, float(jax.jit(loss_fn)(params))


# --- PyTorch -----------------------------------------------------------------------------------


def _torch_loop(case: Case, compiled: bool, device: str = "cpu", read_each: bool = True) -> tuple[float, float]:
    """The PyTorch loop; ``read_each``: ``loss.item()`` every epoch, else the losses kept on the device
    and read once at the end."""
    import torch

    dtype = torch.float32 if case.dtype == "float32" else torch.float64
    modules: list[Any] = []
    for i, (W, b) in enumerate(case.weights):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(W))
            linear.bias.copy_(torch.tensor(b))
        modules.append(linear)
        if i < len(case.weights) - 1:
            modules.append(torch.nn.Sigmoid() if case.hidden == "sigmoid" else torch.nn.ReLU())
        elif case.output == "sigmoid":
            modules.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*modules).to(device)
    X, Y = torch.tensor(case.X, dtype=dtype, device=device), torch.tensor(case.Y, dtype=dtype, device=device)
    criterion = torch.nn.BCELoss() if case.output == "sigmoid" else torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=case.lr)

    def objective() -> Any:
        return criterion(model(X), Y)

    forward = torch.compile(objective) if compiled else objective
    if compiled:  # compiles forward and backward, then restores the weights
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        forward().backward()
        model.load_state_dict(saved)
        optimizer.zero_grad()
    if device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    losses = []
    for _ in range(case.epochs):
        optimizer.zero_grad()
        loss = forward()
        loss.backward()
        optimizer.step()
        losses.append(loss.item() if read_each else loss.detach())
    if not read_each:
        torch.stack(losses).tolist()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        return seconds, float(objective())


IMPLEMENTATIONS: dict[str, tuple[str, Callable[[Case], tuple[float, float]]]] = {
    "auto": ("backprop-cli, --backend auto", ours("auto")),
    "compiled": ("backprop-cli, compiled", ours("compiled")),
    "numba": ("backprop-cli, numba", ours("numba")),
    "numpy": ("backprop-cli, numpy", ours("numpy")),
    "numpy_hand": ("hand-written numpy", numpy_loop),
    "numba_hand": ("hand-written numba", numba_loop),
    "jax_jit": ("JAX jit, a call an epoch", jax_jit),
    "jax_fori": ("JAX lax.fori_loop", jax_fori),
    "torch": ("PyTorch eager loop", lambda case: _torch_loop(case, False)),
    "torch_compile": ("torch.compile", lambda case: _torch_loop(case, True)),
}


def applies(name: str, case: Case) -> bool:
    from backprop_cli.engines import COMPILED_MAX_PARAMETERS

    parameters = sum(W.size + b.size for W, b in case.weights)
    if case.dtype == "float32" and name in ("compiled", "numba_hand"):
        return False
    if name == "compiled":
        return parameters <= COMPILED_MAX_PARAMETERS and len(case.X) * parameters <= 200_000
    return True


def bandwidth_floor(case: Case, repeats: int = 20) -> tuple[float, float]:
    """The layer-wise memory-bandwidth floor of an epoch (seconds), and the bandwidth (bytes/s): the
    fastest of the copies, as a floor (other processes only slow a copy down)."""
    itemsize = np.dtype(case.dtype).itemsize
    widths, n = case.widths, len(case.X)
    forward = sum(widths[i] + widths[i + 1] for i in range(len(widths) - 1))
    backward = sum(widths[i + 1] + widths[i] + (widths[i] if i else 0) for i in range(len(widths) - 1))
    moved = (forward + backward) * n * itemsize
    src = np.ones(64 * 2**20 // 8)  # 64 MiB, past the caches
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - start)
    bandwidth = 2 * src.nbytes / min(times)
    return moved / bandwidth, bandwidth


def one(name: str, case_name: str) -> None:
    """A whole script's work: the data, compilation and the loop (end-to-end timing)."""
    seconds, loss = IMPLEMENTATIONS[name][1](make_case(case_name))
    print(f"{name} {case_name}: loop {seconds:.4f} s, final loss {loss!r}")


def end_to_end(case: Case, rounds: int) -> list[tuple[str, float]]:
    from backprop_cli.io import spec_toml

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "net.toml"
        spec.write_text(spec_toml(case.network(), [tuple(r) for r in case.X.tolist()],
                                  [tuple(r) for r in case.Y.tolist()]))
        env = {**os.environ, "BACKPROP_CACHE_DIR": str(Path(tmp) / "cache")}
        backprop = [str(Path(sys.executable).with_name("backprop")), "train", "--network", str(spec),
                    "--epochs", str(case.epochs), "--format", "json"]
        commands = {"backprop train (auto)": backprop,
                    "backprop train --backend numba (compiled code cached)": backprop + ["--backend", "numba"],
                    "numba script": [sys.executable, __file__, "--one", "numba_hand", case.name],
                    "JAX fori_loop script": [sys.executable, __file__, "--one", "jax_fori", case.name]}
        subprocess.run(commands["backprop train --backend numba (compiled code cached)"], check=True,
                       stdout=subprocess.DEVNULL, env=env)  # fills the cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
                times[name].append(time.perf_counter() - start)
    return [(name, statistics.median(values)) for name, values in times.items()]


def print_table(case: Case, titles: dict[str, str], times: dict[str, list[float]], finals: dict[str, float],
                failed: dict[str, str], reference: float | None, base: str, base_title: str) -> None:
    """A case's Markdown table: each implementation's median loop time, its ratio to ``base``'s, its
    final loss and whether that equals ``reference`` (relative 1e-9 in float64, 1e-4 in float32)."""
    tol = 1e-4 if case.dtype == "float32" else 1e-9
    base_time = statistics.median(times[base]) if times.get(base) else None
    print(f"| implementation | loop (s) | µs an epoch | ÷ {base_title} | final loss | same loss |")
    print("|---|---:|---:|---:|---:|---|")
    for name, title in titles.items():
        if name in failed:
            print(f"| {title} | — | — | — | — | {failed[name]} |")
            continue
        median = statistics.median(times[name])
        same = "—" if reference is None else "✓" if math.isclose(finals[name], reference, rel_tol=tol) else "✗ differs"
        ratio = f"{median / base_time:.2f}" if base_time else ""
        print(f"| {title} | {median:.4f} | {median / case.epochs * 1e6:.3g} | {ratio} |"
              f" {finals[name]:.10g} | {same} |")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--only", nargs="*", default=list(IMPLEMENTATIONS), choices=list(IMPLEMENTATIONS))
    parser.add_argument("--one", nargs=2, metavar=("IMPLEMENTATION", "CASE"))
    parser.add_argument("--no-end-to-end", action="store_true")
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    os.environ.setdefault("BACKPROP_CACHE_DIR", tempfile.mkdtemp(prefix="backprop-peers-"))
    import numpy

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" numpy {numpy.__version__}; load average {os.getloadavg()[0]:.1f} at the start\n")
    for case_name in args.cases:
        case = make_case(case_name)
        names = [name for name in args.only if applies(name, case)]
        times: dict[str, list[float]] = {name: [] for name in names}
        finals: dict[str, float] = {}
        failed: dict[str, str] = {}
        for _ in range(args.rounds):
            for name in names:
                if name in failed:
                    continue
                try:
                    seconds, loss = IMPLEMENTATIONS[name][1](case)
                except Exception as error:  # a peer that is not installed or fails: said in its row
                    failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
                    continue
                times[name].append(seconds)
                finals[name] = loss
        print(f"### {case.title} (load average {os.getloadavg()[0]:.1f})\n")
        print_table(case, {name: IMPLEMENTATIONS[name][0] for name in names}, times, finals, failed,
                    reference=finals.get("numpy", finals.get("auto")), base="auto", base_title="backprop auto")
        if case_name.startswith("large"):
            floor, bandwidth = bandwidth_floor(case)
            ratios = ", ".join(f"{IMPLEMENTATIONS[name][0]} {statistics.median(times[name]) / case.epochs / floor:.1f}×"
                               for name in names if times.get(name))
            print(f"Layer-wise memory-bandwidth floor: {floor * 1e3:.2f} ms an epoch (copy bandwidth"
                  f" {bandwidth / 1e9:.1f} GB/s). Time an epoch ÷ floor: {ratios}.\n")
        if case_name in ("seed", "xor") and not args.no_end_to_end:
            print(f"End to end, {case.title} (fresh processes, medians of {args.rounds}):\n")
            print("| command | seconds |")
            print("|---|---:|")
            for name, seconds in end_to_end(case, args.rounds):
                print(f"| {name} | {seconds:.2f} |")
            print()


if __name__ == "__main__":
    main()
