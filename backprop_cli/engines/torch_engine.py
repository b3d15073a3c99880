"""The torch engine: the network as ``torch.nn`` modules, trained by autograd and ``torch.optim``.

It is the PyTorch loop a user would write (``nn.Sequential`` of ``nn.Linear`` and activation
modules, the loss module, ``zero_grad``/``backward``/``step``), on ``--device cpu`` or ``cuda`` in
``--dtype float64`` or ``float32``. A formula activation runs as its sympy definition printed for
torch, so autograd differentiates the same function the derivation shows.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from backprop_cli import functions
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.errors import BackpropError
from backprop_cli.model import Matrix, Network, OptimizerSlots, Vector


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


def _activation_module(torch: Any, name: str) -> Any:
    nn = torch.nn
    builtin = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "identity": nn.Identity}
    if name in builtin:
        return builtin[name]()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "softmax":
        return nn.Softmax(dim=1)
    import sympy as sp

    activation = functions.activation(name)
    assert isinstance(activation, functions.Activation)
    function = sp.lambdify(functions.X, activation.expr, modules="torch")

    module: Any = nn.Module

    class Formula(module):
        def forward(self, z: Any) -> Any:
            out = function(z)
            return out if isinstance(out, torch.Tensor) else torch.full_like(z, float(out))

        def extra_repr(self) -> str:
            return name

    return Formula()


def _loss_module(torch: Any, name: str) -> Any:
    nn = torch.nn
    if name == "bce":
        return nn.BCELoss()
    if name == "mse":
        return nn.MSELoss()
    if name == "sse":
        return nn.MSELoss(reduction="sum")
    if name == "half_sse":
        sse = nn.MSELoss(reduction="sum")
        return lambda output, target: 0.5 * sse(output, target)
    return nn.CrossEntropyLoss()  # cross_entropy, on the logits


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
        nn = torch.nn
        modules: list[Any] = []
        self.linears = []
        fused = network.loss == "cross_entropy"
        for index, layer in enumerate(network.layers):
            linear = nn.Linear(layer.inputs, layer.units, bias=layer.bias is not None, dtype=dtype,
                               device=settings.device)
            with torch.no_grad():
                linear.weight.copy_(torch.tensor(layer.weight, dtype=torch.float64))
                if layer.bias is not None:
                    linear.bias.copy_(torch.tensor(layer.bias, dtype=torch.float64))
            self.linears.append(linear)
            modules.append(linear)
            if not (fused and index == len(network.layers) - 1):
                modules.append(_activation_module(torch, layer.activation))
        self.model = nn.Sequential(*modules).to(device=settings.device, dtype=dtype)
        self.loss_fn = _loss_module(torch, network.loss)
        self.X = torch.tensor(xs, dtype=dtype, device=settings.device).reshape(len(xs), -1)
        self.Y = torch.tensor(ys, dtype=dtype, device=settings.device).reshape(len(ys), -1)
        params = []
        for linear, layer in zip(self.linears, network.layers, strict=True):
            params.append(linear.weight)
            if linear.bias is not None:
                if layer.freeze_bias:
                    linear.bias.requires_grad_(False)
                else:
                    params.append(linear.bias)
        opt = network.optimizer
        if opt.name == "momentum":
            self.optimizer = torch.optim.SGD(params, lr=network.lr, momentum=opt.momentum)
        elif opt.name == "adam":
            self.optimizer = torch.optim.Adam(params, lr=network.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)
        else:
            self.optimizer = torch.optim.SGD(params, lr=network.lr)
        self.steps = 0

    def _step(self, X: Any, Y: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(self.model(X), Y)
        loss.backward()
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
                        self._step(self.X[lo:hi], self.Y[lo:hi])
                    else:
                        index = permutation[lo:hi]
                        self._step(self.X[index], self.Y[index])
            done += 1
            if stop[0]:
                break
        return done, recorded

    def _loss(self, output: Any, target: Any) -> Any:
        try:
            return self.loss_fn(output, target)
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
        with torch.no_grad():
            output = self.model(self.X)
            loss = self._loss(output, self.Y).item()
            if self.network.loss == "cross_entropy":
                output = torch.softmax(output, dim=1)
        return float(loss), to_floats(output[:rows].tolist())

    def parameters(self) -> tuple[tuple[Matrix, ...], tuple[Vector | None, ...]]:
        return (tuple(to_floats(linear.weight.detach().tolist()) for linear in self.linears),
                tuple(None if linear.bias is None else to_floats(linear.bias.detach().tolist())
                      for linear in self.linears))

    def optimizer_state(self) -> OptimizerSlots:
        name = self.network.optimizer.name
        keys = {"sgd": {}, "momentum": {"v": "momentum_buffer"}, "adam": {"m": "exp_avg", "v": "exp_avg_sq"}}[name]

        def slot(parameter: Any, key: str) -> Any:
            if parameter is None or not parameter.requires_grad:
                return None
            value = self.optimizer.state.get(parameter, {}).get(key)
            if value is None:
                return to_floats(self.torch.zeros_like(parameter).tolist())
            return to_floats(value.tolist())

        return OptimizerSlots(self.steps, {
            kind: tuple((slot(linear.weight, key), slot(linear.bias, key)) for linear in self.linears)
            for kind, key in keys.items()})
