"""PyTorch autograd, ``backprop verify``'s first reference: the gradients of the network rebuilt from
torch's own modules and losses, and the child process that works them out beside the derivation.

Light to import (no torch, sympy or numpy, nor the model): ``python -m backprop_cli verify`` starts the
child (``Autograd.ahead``) before anything else is loaded, so that torch's import, most of the
command's time, starts at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop_cli.model import Network, Vector


class Autograd:
    """``autograd_gradients``, started at once: in a child process (``os.fork``) where that pays, so
    that importing torch (a second or more) runs beside the derivation and the finite differences
    instead of before them; the child sends its numbers back as JSON (floats written exactly) and
    ends. Computed here instead, when asked, where torch is imported already, where another thread
    runs (a fork copies only this one), without ``fork``, or when the child fails.

    ``Autograd.ahead()`` starts the child before the network is known (the command line, before it
    parses its options): the child imports torch at once, then reads the network's spec and the
    samples from a pipe as JSON (``autograd_request``), which ``send`` writes.
    """

    def __init__(self, network: Network | None, xs: Sequence[Vector] = (), ys: Sequence[Vector] = ()) -> None:
        self.inputs = None if network is None else (network, xs, ys)
        self.pid: int | None = None
        self.requests: int | None = None
        self.done: tuple[str, list[float]] | None = None
        self.computed = False
        if network is not None and _forks():
            self._fork(lambda: autograd_gradients(network, xs, ys))

    @classmethod
    def ahead(cls) -> Autograd:
        """A child that imports torch now and computes once ``send`` gives it the network."""
        import os

        pending = cls(None)
        if _forks():
            requests, pending.requests = os.pipe()
            pending._fork(lambda: _answer_ahead(requests), child_end=requests)
        return pending

    def _fork(self, compute: Callable[[], tuple[str, list[float]] | None], child_end: int | None = None) -> None:
        import os

        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: only this function, then out without running the parent's exit code
            status = 1
            try:
                os.close(read)
                if self.requests is not None:
                    os.close(self.requests)  # the parent's end, so that the child sees the request end
                _send(write, compute())
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        if child_end is not None:
            os.close(child_end)
        self.pid, self.read = pid, read

    def send(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector]) -> None:
        """Give a child started ``ahead`` its network and samples, without waiting: a thread writes what
        the pipe does not hold until the child, still importing torch, reads it. Computed here instead:
        a network that its spec does not give back exactly, or where torch is imported here by now
        (a ``.pt`` network file)."""
        import os
        import threading

        self.inputs = network, xs, ys
        if self.requests is None:
            return
        fd, self.requests = self.requests, None
        request = None if "torch" in sys.modules else autograd_request(network, xs, ys)
        if request is None:
            os.close(fd)
            self.close()
            return
        threading.Thread(target=_write_all, args=(fd, request.encode()), daemon=True).start()

    def result(self) -> tuple[str, list[float]] | None:
        if not self.computed:
            self.done = self._from_child() if self.pid is not None else None
            if self.done is None:
                assert self.inputs is not None, "send() gives a child started ahead its network"
                self.done = autograd_gradients(*self.inputs)
            self.computed = True
        return self.done

    def _from_child(self) -> tuple[str, list[float]] | None:
        import json
        import os

        with os.fdopen(self.read, "rb") as stream:
            data = stream.read()
        _, status = os.waitpid(self.pid, 0)  # type: ignore[arg-type]
        self.pid = None
        if status != 0 or not data:
            return None
        version, gradients = json.loads(data)
        return str(version), [float(g) for g in gradients]

    def close(self) -> None:
        """End a child whose result was not asked for (the derivation failed first, or the options)."""
        import os
        import signal

        if self.requests is not None:
            os.close(self.requests)
            self.requests = None
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.read)
            self.pid = None


def _forks() -> bool:
    """Whether autograd runs in a forked child (see ``Autograd``)."""
    import importlib.util
    import os
    import threading

    return ("torch" not in sys.modules and hasattr(os, "fork") and threading.active_count() == 1
            and importlib.util.find_spec("torch") is not None)


def autograd_request(network: Network, xs: Sequence[Vector], ys: Sequence[Vector]) -> str | None:
    """What a child started ahead is sent: the network's spec (``io.spec_document``) and the samples,
    as JSON; None where reading that spec back does not give this network exactly."""
    import json

    from backprop_cli.errors import BackpropError
    from backprop_cli.io import parse_spec, spec_document

    try:
        text = json.dumps({"spec": spec_document(network), "x": xs, "y": ys})
        same = parse_spec(json.loads(text)["spec"]).network == network
    except (BackpropError, TypeError, ValueError):
        return None
    return text if same else None


def autograd_answer(request: str | bytes) -> tuple[str, list[float]] | None:
    """``autograd_gradients`` of an ``autograd_request``, as the child started ahead computes it: it
    loads the spec reader, the kinds' torch modules and the loss's criterion, not sympy (which reads
    a formula activation or loss, where there is one)."""
    import json

    from backprop_cli.io import parse_spec

    data = json.loads(request)
    network = parse_spec(data["spec"]).network
    return autograd_gradients(network, tuple(map(tuple, data["x"])), tuple(map(tuple, data["y"])))


def _answer_ahead(requests: int) -> tuple[str, list[float]] | None:
    """The child started ahead: torch first (the second or more that the parent's start-up runs
    beside), then the request, once the parent has written it."""
    import os

    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    with os.fdopen(requests, "rb") as stream:
        request = stream.read()
    return autograd_answer(request) if request else None


def _write_all(fd: int, data: bytes) -> None:
    import os

    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass  # the child ended first: the parent then computes the gradients itself
    finally:
        os.close(fd)


def _send(fd: int, result: tuple[str, list[float]] | None) -> None:
    import json

    if result is not None:
        _write_all(fd, json.dumps([result[0], result[1]]).encode())


def autograd_gradients(network: Network, xs: Sequence[Vector],
                       ys: Sequence[Vector]) -> tuple[str, list[float]] | None:
    """PyTorch's version and its float64 gradients in ``parameters`` order; None without torch.

    The network is rebuilt from torch.nn modules (each kind's ``torch_module``: nn.Linear and the
    activation's module, nn.BatchNorm1d, nn.LayerNorm …), a formula activation parsed straight into
    torch operations, and differentiated by ``loss.backward()``.
    """
    try:
        import torch as installed
    except ImportError:
        return None
    torch: Any = installed  # typed loosely: the same code checks with and without torch installed
    from backprop_cli import losses
    from backprop_cli.layers.torch_modules import parameter_tensors, sequential

    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    loss_function = losses.of(network)
    fused = loss_function.fused
    model = sequential(torch, network.layers, fuse_last=fused)
    tensors = parameter_tensors(model, network.layers)
    for _, tensor in tensors:
        tensor.requires_grad_(True)
    rows = network.per_position
    z = rows(model(x))
    a = torch.softmax(z, dim=1) if fused else z
    loss = loss_function.torch_loss(torch, a, z, rows(y))
    loss.backward()
    gradients: list[float] = []
    for _, tensor in tensors:
        gradients += tensor.grad.flatten().tolist()
    return str(torch.__version__), gradients


