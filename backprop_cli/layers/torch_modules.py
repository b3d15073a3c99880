"""PyTorch modules the kinds build on: activations by name or formula, and the containers.

Imported only where torch is asked for (the torch engine, ``verify``, ``.pt`` files).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def activation_module(torch: Any, name: str) -> Any:
    """The ``torch.nn`` module of an activation; a formula runs as its sympy definition."""
    nn = torch.nn
    builtin = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "identity": nn.Identity}
    if name in builtin:
        return builtin[name]()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name == "log_softmax":
        return nn.LogSoftmax(dim=1)
    from backprop_cli.formula import formula_function

    # Parsed straight into torch operations, not through sympy: autograd differentiates the formula
    # as written, independently of the derivation's sympy derivative.
    function = formula_function(name, torch_operations(torch))

    module: Any = nn.Module

    class Formula(module):
        def forward(self, z: Any) -> Any:
            out = function(z)
            return out if isinstance(out, torch.Tensor) else torch.full_like(z, float(out))

        def extra_repr(self) -> str:
            return name

    return Formula()


def torch_operations(torch: Any) -> Any:
    """The formula language in torch tensors, for ``formula.formula_function``."""
    import math

    from backprop_cli.formula import Operations

    def number(value: float) -> Any:
        return torch.tensor(float(value), dtype=torch.float64)

    return Operations(
        number=number,
        constants={"pi": number(math.pi), "e": number(math.e)},
        functions={
            "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
            "tanh": torch.tanh, "sinh": torch.sinh, "cosh": torch.cosh, "sin": torch.sin,
            "cos": torch.cos, "atan": torch.atan, "erf": torch.erf, "sigmoid": torch.sigmoid,
            "max": torch.maximum, "min": torch.minimum,
        },
    )


def sequential(torch: Any, layers: Sequence[Any], fuse_last: bool = False) -> Any:
    """``nn.Sequential`` of the layers' modules; ``fuse_last`` leaves out the last activation
    (``nn.CrossEntropyLoss`` applies softmax itself, from the logits)."""
    modules = [layer.torch_module(torch, without_activation=fuse_last and i == len(layers) - 1)
               for i, layer in enumerate(layers)]
    return torch.nn.Sequential(*modules)


def parameter_tensors(module: Any, layers: Sequence[Any], path: tuple[int, ...] = ()) -> list[tuple[Any, Any]]:
    """((path, name), tensor) of every parameter of a ``sequential`` of ``layers``, in the kinds' order."""
    out: list[tuple[Any, Any]] = []
    for index, layer in enumerate(layers):
        children = layer.children()
        if children:
            out += parameter_tensors(module[index].block, children, (*path, index))
        else:
            out += [(((*path, index), name), tensor) for name, tensor in layer.torch_parameters(module[index]).items()]
    return out


def buffer_tensors(module: Any, layers: Sequence[Any], path: tuple[int, ...] = ()) -> list[tuple[Any, Any]]:
    """((path, name), tensor) of every buffer a training step updates (batch_norm's running statistics)."""
    out: list[tuple[Any, Any]] = []
    for index, layer in enumerate(layers):
        children = layer.children()
        if children:
            out += buffer_tensors(module[index].block, children, (*path, index))
        else:
            out += [(((*path, index), name), tensor) for name, tensor in layer.torch_buffers(module[index]).items()]
    return out


@contextmanager
def frozen_statistics(model: Any) -> Iterator[None]:
    """Forward passes that leave running statistics as they are (the loss over all the data, logged
    between updates, is no training step)."""
    saved = [(m, m.momentum) for m in model.modules() if hasattr(m, "running_mean") and m.running_mean is not None]
    for m, _ in saved:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum


def _module_base(torch: Any) -> Any:
    base: Any = torch.nn.Module
    return base


def MaskedDropout(torch: Any, layer: Any) -> Any:  # noqa: N802 - builds an nn.Module
    """``nn.Dropout`` in training mode with a given mask: ``x ⊙ M / (1 − p)``, M's rows chosen by
    ``rows`` (the batch's samples; None for all)."""

    class _MaskedDropout(_module_base(torch)):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.p = layer.p
            self.rows: Any = None
            self.total: int | None = None
            self.spec = layer  # read by the PyTorch script (render/pytorch.py)

        def forward(self, x: Any) -> Any:
            mask = torch.tensor(layer.masks(x.shape[0] if self.rows is None else self.total, x.shape[1]),
                                dtype=x.dtype, device=x.device)
            if self.rows is not None:
                mask = mask[self.rows]
            return x * mask / (1.0 - self.p)

        def extra_repr(self) -> str:
            return f"p={self.p}, mask given"

    return _MaskedDropout()


def set_rows(model: Any, rows: Any, total: int) -> None:
    """Tell every masked dropout which samples the next forward pass holds (``model`` a module, or the
    list of its masked dropouts, found once)."""
    modules = model if isinstance(model, list) else model.modules()
    for module in modules:
        if hasattr(module, "rows") and hasattr(module, "total"):
            module.rows = rows
            module.total = total


def residual_module(torch: Any, block: Any) -> Any:
    """``x + block(x)``, the block an ``nn.Sequential`` (its parameters under ``block.``)."""

    class Residual(_module_base(torch)):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.block = block

        def forward(self, x: Any) -> Any:
            return x + self.block(x)

    return Residual()
