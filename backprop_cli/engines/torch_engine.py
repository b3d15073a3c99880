"""The torch engine: the network as ``torch.nn`` modules, trained by autograd and ``torch.optim``.

It is the PyTorch loop a user would write (``nn.Sequential`` of ``nn.Linear`` and activation
modules, the loss module, ``zero_grad``/``backward``/``step``), on ``--device cpu`` or ``cuda`` in
``--dtype float64`` or ``float32``. A formula activation runs as its sympy definition printed for
torch, so autograd differentiates the same function the derivation shows.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from backprop_cli import losses
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.errors import BackpropError
from backprop_cli.layers import leaves
from backprop_cli.layers.torch_modules import buffer_tensors, frozen_statistics, parameter_tensors, sequential, set_rows
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.optimizers.base import slot_names


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

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        torch = self.torch
        recorded: Logged = []
        order = self.settings.order
        whole = self.full_batch and order is None
        bounds = batch_bounds(self.samples, self.settings.batch_size)
        done = 0
        for epoch in range(start, start + count):
            if self.settings.schedule is not None:
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr(epoch)
            if whole:
                loss = self._step(self.X, self.Y)
                if epoch in logged:
                    recorded.append((epoch, loss.item()))  # the value before this epoch's update
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
        return done, recorded

    def _loss(self, output: Any, target: Any) -> Any:
        try:
            rows = self._rows(output)
            return self.criterion(rows, rows, self._rows(target))
        except RuntimeError as error:
            if bool(self.torch.isnan(output).any()):
                # nan is outside [0, 1] too, but its cause is upstream: a function undefined there.
                raise BackpropError(
                    "train: the network's output became nan (a function is undefined there, such as"
                    " sqrt or log of a negative number, or training diverged); try a smaller --lr or"
                    " another activation") from None
            # BCELoss refuses predictions outside [0, 1] (a formula output that leaves it mid-training).
            raise BackpropError(f"{self.network.loss}: PyTorch refuses the predictions:"
                                f" {str(error).splitlines()[0]}; use sigmoid on the output layer") from None

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        torch = self.torch
        self._set_rows(None)
        with torch.no_grad(), frozen_statistics(self.model):
            output = self.model(self.X)
            loss = self._loss(output, self.Y).item()
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
