"""PyTorch references for networks of any layer kind, built here from torch.nn directly.

Independent of the package's own torch modules (``Kind.torch_module``): each kind is mapped to the
torch module a user would write (nn.Linear + activation, nn.BatchNorm1d, nn.LayerNorm, dropout as
``x * mask / (1 - p)``, which is what nn.Dropout computes in training mode, and ``x + block(x)``),
run in float64, and differentiated by autograd.
"""

from __future__ import annotations

from typing import Any

import torch

from backprop_cli.layers.activation import Activation
from backprop_cli.layers.batch_norm import BatchNorm
from backprop_cli.layers.dense import Layer
from backprop_cli.layers.dropout import Dropout
from backprop_cli.layers.layer_norm import LayerNorm
from backprop_cli.layers.residual import Residual
from backprop_cli.model import Network
from tests.reference import make_optimizer, torch_activation, torch_loss

T = torch.float64


class _Residual(torch.nn.Module):
    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class _Mask(torch.nn.Module):
    def __init__(self, mask: torch.Tensor, p: float) -> None:
        super().__init__()
        self.mask, self.p = mask, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask / (1 - self.p)


def module(layer: Any, samples: int, width: int, fuse: bool = False) -> tuple[torch.nn.Module, list[tuple[str, Any]]]:
    """The torch module of ``layer`` and its (name, parameter) pairs in the kind's order."""
    if isinstance(layer, Layer):
        linear = torch.nn.Linear(layer.inputs, layer.units, bias=layer.bias is not None, dtype=T)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight, dtype=T))
            if layer.bias is not None:
                linear.bias.copy_(torch.tensor(layer.bias, dtype=T))
        params = [("weight", linear.weight)] + ([("bias", linear.bias)] if layer.bias is not None else [])
        if fuse:
            return linear, params
        return torch.nn.Sequential(linear, torch_activation(layer.activation)), params
    if isinstance(layer, Activation):
        return (torch.nn.Identity() if fuse else torch_activation(layer.activation)), []
    if isinstance(layer, Dropout):
        mask = torch.tensor(layer.masks(samples, width), dtype=T)
        return _Mask(mask, layer.p), []
    if isinstance(layer, BatchNorm):
        bn = torch.nn.BatchNorm1d(layer.features, eps=layer.eps, momentum=layer.momentum,
                                  affine=layer.weight is not None, dtype=T)
        with torch.no_grad():
            bn.running_mean.copy_(torch.tensor(layer.running_mean, dtype=T))
            bn.running_var.copy_(torch.tensor(layer.running_var, dtype=T))
            if layer.weight is not None:
                bn.weight.copy_(torch.tensor(layer.weight, dtype=T))
                bn.bias.copy_(torch.tensor(layer.bias, dtype=T))
        return bn, ([("weight", bn.weight), ("bias", bn.bias)] if layer.weight is not None else [])
    if isinstance(layer, LayerNorm):
        ln = torch.nn.LayerNorm(layer.features, eps=layer.eps, elementwise_affine=layer.weight is not None, dtype=T)
        if layer.weight is not None:
            with torch.no_grad():
                ln.weight.copy_(torch.tensor(layer.weight, dtype=T))
                ln.bias.copy_(torch.tensor(layer.bias, dtype=T))
        return ln, ([("weight", ln.weight), ("bias", ln.bias)] if layer.weight is not None else [])
    assert isinstance(layer, Residual)
    children = []
    for child in layer.layers:
        children.append(module(child, samples, width))
        width = child.out_features(width)
    return _Residual(torch.nn.Sequential(*(m for m, _ in children))), [("layers", [p for _, p in children])]


def _flat(params: list[tuple[str, Any]]) -> list[Any]:
    out = []
    for name, value in params:
        if name == "layers":
            for child in value:
                out += _flat(child)
        else:
            out.append(value)
    return out


def _frozen(layer: Any, name: str) -> bool:
    return bool(layer.frozen(name))


def _trainable(layers: Any, params: list[list[tuple[str, Any]]]) -> list[Any]:
    out = []
    for layer, pairs in zip(layers, params, strict=True):
        for name, value in pairs:
            if name == "layers":
                out += _trainable(layer.layers, value)
            elif not _frozen(layer, name):
                out.append(value)
    return out


def _entries(layers: Any, modules: Any, params: list[list[tuple[str, Any]]], outputs: dict[int, Any],
             befores: dict[int, Any], grads: dict[int, Any], news: dict[int, Any],
             buffers: dict[int, Any]) -> list[dict[str, Any]]:
    entries = []
    for layer, mod, pairs in zip(layers, modules, params, strict=True):
        entry: dict[str, Any] = {"kind": layer.kind, "output": outputs[id(mod)]}
        for name, value in pairs:
            if name == "layers":
                entry["layers"] = _entries(layer.layers, list(mod.block), value, outputs, befores, grads, news, buffers)
                continue
            entry[name] = befores[id(value)]
            entry[f"grad_{name}"] = grads[id(value)]
            entry[f"new_{name}"] = news[id(value)]  # a frozen parameter: its value, unchanged
        if id(mod) in buffers:
            entry.update(buffers[id(mod)])
        entries.append(entry)
    return entries


def modules_of(network: Network, samples: int) -> tuple[bool, list[Any], list[Any]]:
    """Whether the loss takes the logits, and the torch module and parameters of each layer."""
    fused = network.loss == "cross_entropy"
    modules, params = [], []
    width = network.inputs
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        mod, pairs = module(layer, samples, width, fuse=fused and index == last)
        modules.append(mod)
        params.append(pairs)
        width = layer.out_features(width)
    return fused, modules, params


def torch_kinds_step(network: Network, xs: Any, ys: Any) -> dict[str, Any]:
    """``backprop step --format json``'s numbers, by PyTorch: the loss, the output, each layer's output,
    its parameters' gradients and values after one optimizer step, batch norm's running statistics."""
    fused, modules, params = modules_of(network, len(xs))
    outputs: dict[int, Any] = {}

    def hook(mod: Any, _: Any, out: Any) -> None:
        outputs[id(mod)] = out.detach().tolist()

    handles = []
    for mod in modules:
        handles.append(mod.register_forward_hook(hook))
        if isinstance(mod, _Residual):
            for child in mod.block:
                handles.append(child.register_forward_hook(hook))
    model = torch.nn.Sequential(*modules)
    X = torch.tensor(xs, dtype=T)
    Y = torch.tensor(ys, dtype=T)
    logits = model(X)
    output = torch.softmax(logits, dim=1) if fused else logits
    if fused:
        outputs[id(modules[-1])] = output.detach().tolist()
    loss = torch_loss(network.loss, output, logits, Y)
    loss.backward()
    buffers = {}
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            buffers[id(mod)] = {"new_running_mean": mod.running_mean.tolist(),
                                "new_running_var": mod.running_var.tolist()}
    every = _flat([pair for pairs in params for pair in pairs])
    befores = {id(p): p.detach().tolist() for p in every}
    grads = {id(p): p.grad.tolist() for p in every}
    optimizer = make_optimizer(network, _trainable(network.layers, params))
    optimizer.step()
    news = {id(p): p.detach().tolist() for p in every}
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        after_logits = model(X)
        after = torch.softmax(after_logits, dim=1) if fused else after_logits
        loss_after = torch_loss(network.loss, after, after_logits, Y).item()
    return {"loss": loss.item(), "loss_after": loss_after, "output": output.detach().tolist(),
            "layers": _entries(network.layers, modules, params, outputs, befores, grads, news, buffers)}


def torch_kinds_train(network: Network, xs: Any, ys: Any, epochs: int) -> dict[str, Any]:
    """A plain PyTorch training loop, full batch: the loss before each epoch's update, and the
    parameters (and batch norm's running statistics) after the last, keyed as
    ``Network.parameter_values()`` keys them."""
    fused, modules, params = modules_of(network, len(xs))
    model = torch.nn.Sequential(*modules)
    optimizer = make_optimizer(network, _trainable(network.layers, params))
    X = torch.tensor(xs, dtype=T)
    Y = torch.tensor(ys, dtype=T)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        logits = model(X)
        output = torch.softmax(logits, dim=1) if fused else logits
        loss = torch_loss(network.loss, output, logits, Y)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    values: dict[Any, Any] = {}
    _collect(network.layers, modules, params, (), values)
    return {"history": history, "parameters": values}


def _collect(layers: Any, modules: Any, params: Any, prefix: tuple[int, ...], values: dict[Any, Any]) -> None:
    for index, (layer, mod, pairs) in enumerate(zip(layers, modules, params, strict=True)):
        path = (*prefix, index)
        for name, value in pairs:
            if name == "layers":
                _collect(layer.layers, list(mod.block), value, path, values)
            else:
                values[(path, name)] = value.detach().tolist()
