"""The torch engine: the network as ``torch.nn`` modules, trained by autograd and ``torch.optim``.

It is the PyTorch loop a user would write (``nn.Sequential`` of ``nn.Linear`` and activation
modules, the loss module, ``zero_grad``/``backward``/``step``), on ``--device cpu`` or ``cuda`` in
``--dtype float64`` or ``float32``. A formula activation runs as its sympy definition printed for
torch, so autograd differentiates the same function the derivation shows.

On CUDA two things differ from that loop, neither in the numbers:

- The recorded losses stay on the device until the end of each ``run`` and are read in one
  transfer, so the GPU is never idle waiting for a ``loss.item()``.
- Full-batch SGD, after ``GRAPH_AFTER`` eager epochs, captures one step (forward, loss, backward,
  ``optimizer.step()``) as a CUDA graph and replays it each epoch: the same kernels on the same
  tensors, launched in one call instead of one Python dispatch each (PyTorch's "whole network
  capture"). Where capture fails, the loop stays eager.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import Any

from backprop_cli import losses
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.errors import BackpropError
from backprop_cli.layers import leaves
from backprop_cli.layers.torch_modules import buffer_tensors, frozen_statistics, parameter_tensors, sequential, set_rows
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.optimizers.base import slot_names

GRAPH_AFTER = 32
"""Eager full-batch epochs on CUDA before the step is captured as a CUDA graph (short runs never
pay for the capture; the eager epochs before it also warm up cuBLAS and the caching allocator)."""

WARM_UP = 3
"""Eager epochs on a side stream just before the capture."""

RECURRENT_MODULES = ("RNN", "LSTM", "GRU")
"""torch.nn modules kept out of CUDA graphs (cuDNN's recurrent kernels hold state of their own)."""


def import_torch() -> Any:
    """torch, or a one-line error saying how to install it."""
    try:
        import torch
    except ImportError:
        raise BackpropError("backend: the torch backend needs PyTorch; install it with"
                            " pip install 'backprop-cli[torch]', or use --backend compiled or numpy") from None
    return torch


def check_device(torch: Any, device: str) -> None:
    """Refuse a device this machine does not have, in one line."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackpropError("device: CUDA is not available on this machine (torch.cuda.is_available()"
                            " is false); use --device cpu")


def inside_function(torch: Any) -> Any:
    """An autograd function: the predictions moved into [0, 1] (nan to ½), so that BCELoss's kernel
    never asserts, with the identity as its derivative. It changes nothing where every prediction
    is inside; where one is not, training stops with an error at the next read of the losses."""

    class Inside(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, output: Any) -> Any:
            return output.clamp(0, 1).nan_to_num_(0.5)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad

    return Inside


def class_indices(torch: Any, network: Network, loss: Any, Y: Any) -> Any:
    """The targets as ``nn.CrossEntropyLoss`` takes them fastest: where every row (every position's
    row) is one-hot, the class indices (samples × positions, ``long``), which give the same loss and
    gradient, (ŷ − y)/N, without the product and sum over the classes that probability targets
    cost; otherwise ``Y`` as it is."""
    if not loss.fused or Y.numel() == 0:
        return Y
    rows = network.per_position(Y)
    if not bool(((rows == 0) | (rows == 1)).all()) or not bool((rows.sum(dim=1) == 1).all()):
        return Y
    return rows.argmax(dim=1).reshape(Y.shape[0], -1)


class TorchEngine(Engine):
    """PyTorch modules and torch.optim; see the module's docstring."""

    name = "torch"
    devices = ("cpu", "cuda")

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        super().__init__(network, xs, ys, settings)
        torch = self.torch = import_torch()
        check_device(torch, settings.device)
        dtype = getattr(torch, settings.dtype)
        self.loss = losses.of(network)
        fused = self.loss.fused
        self.model = sequential(torch, network.layers, fuse_last=fused).to(device=settings.device, dtype=dtype)
        self.model.train()
        self.tensors = parameter_tensors(self.model, network.layers)
        self.X = torch.tensor(xs, dtype=dtype, device=settings.device).reshape(len(xs), -1)
        self.Y = class_indices(torch, network, self.loss,
                               torch.tensor(ys, dtype=dtype, device=settings.device).reshape(len(ys), -1))
        # the masked dropouts told each step's rows (none in most networks: nothing to do per step)
        self.masked = [m for m in self.model.modules() if hasattr(m, "rows") and hasattr(m, "total")]
        # the loss's rows: one per sample and position (computed once, not per step)
        self.classes = network.classes if network.positions != 1 else None
        # the loss module, built once (``Loss.torch_loss`` builds it at every call)
        assert self.loss.criterion is not None
        self.criterion = self.loss.criterion(torch, self.loss.beta)
        params = self.trainable = [tensor for _, tensor in self.tensors if tensor.requires_grad]
        opt = network.optimizer
        self.optimizer = opt.rule.torch_optimizer(torch, params, network.lr, opt)
        self.steps = 0
        cuda = settings.device.startswith("cuda")
        # On CUDA, BCELoss checks that predictions lie in [0, 1] with a device-side assert, which ends
        # the process's CUDA context. There the smallest and largest prediction are kept on the device
        # instead, read with the losses, and one outside [0, 1] (or nan) said in one line.
        self.bounds: Any = None
        if cuda and self.loss.needs_probabilities:
            self.bounds = (torch.zeros((), dtype=dtype, device=settings.device),
                           torch.ones((), dtype=dtype, device=settings.device))
            self.inside = inside_function(torch)
        # SGD's update runs as captured; Adam's and RMSprop's need capturable=True, and a schedule
        # changes the learning rate, which a graph holds fixed. Streams and the capture act on the
        # current device: another one (cuda:1) stays eager.
        self.graphable = (cuda and torch.device(settings.device).index in (None, torch.cuda.current_device())
                          and not self.masked and settings.schedule is None and settings.clip is None
                          and type(self.optimizer) is torch.optim.SGD
                          and not any(type(m).__name__ in RECURRENT_MODULES for m in self.model.modules()))
        self.graph: Any = None
        self.graph_loss: Any = None

    def _set_rows(self, rows: Any) -> None:
        if self.masked:
            set_rows(self.masked, rows, self.samples)

    def _rows(self, array: Any) -> Any:
        """``network.per_position`` of outputs or one-hot targets; class indices as one vector."""
        if array.dtype == self.torch.long:
            return array.reshape(-1)
        return array if self.classes is None else array.reshape(-1, self.classes)

    def _step(self, X: Any, Y: Any, rows: Any = None) -> Any:
        self._set_rows(rows)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(self.model(X), Y)
        loss.backward()
        if self.settings.clip is not None:
            from backprop_cli.schedules import clip_torch

            clip_torch(self.torch, self.settings.clip, self.trainable)
        self.optimizer.step()
        self.steps += 1
        return loss

    def _whole_step(self, keep: bool) -> Any:
        """One full-batch epoch's step: replayed from the CUDA graph once there is one. Its loss, where
        ``keep``, as a tensor of its own (the graph's is overwritten by the next replay)."""
        torch = self.torch
        if self.graph is not None:
            self.graph.replay()
            self.steps += 1
            return self.graph_loss.clone() if keep else None
        if not self.graphable or self.steps < GRAPH_AFTER - WARM_UP:
            return self._step(self.X, self.Y).detach()
        # The last eager epochs run on a side stream, as PyTorch's capture asks.
        side, current = torch.cuda.Stream(), torch.cuda.current_stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            loss = self._step(self.X, self.Y).detach()
        current.wait_stream(side)
        if self.steps >= GRAPH_AFTER:
            self._capture()
        return loss

    def _capture(self) -> None:
        """Record one step (nothing runs while it is recorded) as a CUDA graph; the loop stays eager
        where PyTorch cannot capture it. ``torch.cuda.graph`` without its ``gc.collect()``, which
        walks every Python object (a large data set's samples, held as tuples, among them)."""
        torch = self.torch
        self.graphable = False
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # the gradients are the graph's own, written by each replay
        torch.cuda.synchronize()
        side, current = torch.cuda.Stream(), torch.cuda.current_stream()
        try:
            with torch.cuda.stream(side):
                graph.capture_begin()
                try:
                    loss = self._loss(self.model(self.X), self.Y)
                    loss.backward()
                    self.optimizer.step()
                finally:
                    graph.capture_end()
        except RuntimeError:
            torch.cuda.synchronize()
            return
        current.wait_stream(side)
        self.graph, self.graph_loss = graph, loss

    def _read(self, pending: list[tuple[int, Any]]) -> Logged:
        """Losses kept on the device, read in one transfer (with the predictions' bounds, where kept);
        a prediction BCELoss refuses, said."""
        torch = self.torch
        losses = [loss.reshape(1) for _, loss in pending]
        if self.bounds is not None:
            losses += [bound.reshape(1) for bound in self.bounds]
        values = torch.cat(losses).tolist() if losses else []
        if self.bounds is not None:
            self._check_bounds(values[-2], values[-1])
        return [(epoch, float(value)) for (epoch, _), value in zip(pending, values, strict=False)]

    def _check_bounds(self, low: float, high: float) -> None:
        if math.isnan(low) or math.isnan(high):
            raise self._nan_error()
        if low < 0 or high > 1:
            raise BackpropError(f"{self.network.loss}: PyTorch refuses the predictions: all elements of input"
                                " should be between 0 and 1; use sigmoid on the output layer")

    def _nan_error(self) -> BackpropError:
        return BackpropError(
            "train: the network's output became nan (a function is undefined there, such as"
            " sqrt or log of a negative number, or training diverged); try a smaller --lr or"
            " another activation")

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        torch = self.torch
        recorded: Logged = []
        pending: list[tuple[int, Any]] = []  # (epoch, loss on the device), read at the end
        order = self.settings.order
        whole = self.full_batch and order is None
        bounds = batch_bounds(self.samples, self.settings.batch_size)
        done = 0
        for epoch in range(start, start + count):
            if self.settings.schedule is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr(epoch)
            if whole:
                loss = self._whole_step(keep=epoch in logged)
                if epoch in logged:
                    pending.append((epoch, loss))  # the value before this epoch's update
            else:
                if epoch in logged:
                    recorded.append((epoch, self.evaluate(0)[0]))
                permutation = None if order is None else torch.as_tensor(
                    order(epoch), dtype=torch.long, device=self.settings.device)
                for lo, hi in bounds:
                    if permutation is None:
                        self._step(self.X[lo:hi], self.Y[lo:hi], torch.arange(lo, hi, device=self.settings.device))
                    else:
                        index = permutation[lo:hi]
                        self._step(self.X[index], self.Y[index], index)
            done += 1
            if stop[0]:
                break
        return done, recorded + self._read(pending)

    def _inside(self, output: Any) -> Any:
        """``output`` as BCELoss accepts it on CUDA, its bounds kept (see ``bounds``): three kernels
        and no synchronisation."""
        torch = self.torch
        low, high = self.bounds
        least, most = torch.aminmax(output.detach())  # nan, where there is one
        torch.minimum(low, least, out=low)
        torch.maximum(high, most, out=high)
        return self.inside.apply(output)

    def _loss(self, output: Any, target: Any) -> Any:
        if self.bounds is not None:
            output = self._inside(output)
        try:
            rows = self._rows(output)
            return self.criterion(rows, rows, self._rows(target))
        except RuntimeError as error:
            if bool(self.torch.isnan(output).any()):
                # nan is outside [0, 1] too, but its cause is upstream: a function undefined there.
                raise self._nan_error() from None
            # BCELoss refuses predictions outside [0, 1] (a formula output that leaves it mid-training).
            raise BackpropError(f"{self.network.loss}: PyTorch refuses the predictions:"
                                f" {str(error).splitlines()[0]}; use sigmoid on the output layer") from None

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        torch = self.torch
        self._set_rows(None)
        with torch.no_grad(), frozen_statistics(self.model):
            output = self.model(self.X)
            loss = self._loss(output, self.Y)
            loss = self._read([(0, loss)])[0][1] if self.bounds is not None else loss.item()
            if self.loss.fused:
                output = torch.softmax(self._rows(output), dim=1).reshape(output.shape)
        return float(loss), to_floats(output[:rows].tolist())

    def parameters(self) -> dict[tuple[tuple[int, ...], str], Any]:
        values = {key: to_floats(tensor.detach().cpu().tolist()) for key, tensor in self.tensors}
        return values | {key: to_floats(tensor.detach().cpu().tolist())
                         for key, tensor in buffer_tensors(self.model, self.network.layers)}

    def optimizer_state(self) -> OptimizerSlots:
        opt = self.network.optimizer
        names = opt.rule.torch_keys(opt)
        keys = {kind: names[kind] for kind in opt.rule.slots(opt)}
        tensors = dict(self.tensors)

        def slot(path: tuple[int, ...], parameter: str, key: str) -> Any:
            tensor = tensors.get((path, parameter))
            if tensor is None or not tensor.requires_grad:
                return None
            value = self.optimizer.state.get(tensor, {}).get(key)
            if value is None:
                return to_floats(self.torch.zeros_like(tensor).tolist())
            return to_floats(value.tolist())

        return OptimizerSlots(self.steps, {
            kind: tuple(tuple(slot(path, name, key) for name in slot_names(layer))
                        for path, layer in leaves(self.network.layers))
            for kind, key in keys.items()})
