"""Live PyTorch objects in and out: an ``nn.Module`` with its criterion and optimizer read as a
network, and a network built as an ``nn.Module``.

The model is read by walking its modules, never by running its code on traced inputs: the
leaves of nested ``nn.Sequential`` and of custom modules (whose children, in the order they were
registered, must be the chain their ``forward`` runs, like the seed's ``CustomModel``) become the
spec's ``[[layers]]`` tables, and the spec's checks apply as for a file. ``nn.Linear`` followed by
an activation module is one dense layer. The criterion gives the loss (``nn.CrossEntropyLoss``
and ``nn.BCEWithLogitsLoss`` take logits: the page adds the softmax or sigmoid they apply), the
optimizer's one parameter group its class and settings. One forward pass of the model on the
sample then checks that the page's network computes what the model computes; the model's own
parameters are never changed.

torch is imported by the caller; nothing here imports it at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop_cli.errors import SpecError
from backprop_cli.model import Network, Vector

SUPPORTED = ("Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Identity", "Softmax", "LogSoftmax",
             "Dropout", "BatchNorm1d", "LayerNorm", "Flatten (of 2-D input)", "Sequential")


def is_module(obj: Any) -> bool:
    """Whether ``obj`` is a torch ``nn.Module`` (without importing torch when it is not loaded)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _leaves(module: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """The modules without children, in registration order, with their dotted names."""
    children = list(module.named_children())
    if not children:
        return [(prefix or type(module).__name__, module)]
    out = []
    for name, child in children:
        out += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return out


def _values(tensor: Any, name: str) -> Any:
    import torch

    if tensor.is_meta:
        raise SpecError(f"model: {name} is a meta tensor (a shape without values)")
    values = tensor.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise SpecError(f"model: {name} holds values that are not finite")
    return values.tolist()


ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU": "relu", "LeakyReLU": "leaky_relu",
               "Softmax": "softmax", "LogSoftmax": "log_softmax"}


def _activation(name: str, module: Any) -> str:
    kind = type(module).__name__
    if kind == "LeakyReLU" and module.negative_slope != 0.01:
        raise SpecError(f"model: {name}: LeakyReLU(negative_slope={module.negative_slope}); the page"
                        " works torch's default slope 0.01, or give the activation as a formula")
    if kind in ("Softmax", "LogSoftmax") and module.dim not in (1, -1, None):
        raise SpecError(f"model: {name}: {kind}(dim={module.dim}); the page applies it over the units (dim=1)")
    return ACTIVATIONS[kind]


def layer_tables(model: Any) -> tuple[list[dict[str, Any]], bool]:
    """The ``[[layers]]`` tables of ``model``, and whether it holds a dropout that draws a mask.

    Raises:
        SpecError: naming the first module the page has no kind for.
    """
    tables: list[dict[str, Any]] = []
    random_dropout = False
    for name, module in _leaves(model):
        kind = type(module).__name__
        if kind == "Linear":
            table: dict[str, Any] = {"kind": "dense", "weight": _values(module.weight, f"{name}.weight"),
                                     "activation": "identity"}
            if module.bias is not None:
                table["bias"] = _values(module.bias, f"{name}.bias")
                if not module.bias.requires_grad:
                    table["freeze_bias"] = True
            tables.append(table)
        elif kind in ACTIVATIONS:
            activation = _activation(name, module)
            last = tables[-1] if tables else None
            if last is not None and last["kind"] == "dense" and last["activation"] == "identity":
                last["activation"] = activation
            else:
                tables.append({"kind": "activation", "activation": activation})
        elif kind == "Identity":
            continue
        elif kind == "Flatten":
            if module.start_dim != 1:
                raise SpecError(f"model: {name}: Flatten(start_dim={module.start_dim}); the page's samples"
                                " are rows, so only Flatten() of 2-D input (a no-op) is read")
            continue
        elif kind == "Dropout":
            if not module.training or not module.p:
                continue  # the identity
            random_dropout = True
            tables.append({"kind": "dropout", "p": float(module.p)})
        elif kind == "BatchNorm1d":
            if not module.training:
                raise SpecError(f"model: {name}: BatchNorm1d in eval mode; the page works a training step"
                                " (batch statistics): call model.train()")
            table = {"kind": "batch_norm", "num_features": module.num_features, "eps": module.eps,
                     "momentum": module.momentum, "affine": module.affine}
            if module.affine:
                table["weight"] = _values(module.weight, f"{name}.weight")
                table["bias"] = _values(module.bias, f"{name}.bias")
            if module.track_running_stats and module.running_mean is not None:
                table["running_mean"] = _values(module.running_mean, f"{name}.running_mean")
                table["running_var"] = _values(module.running_var, f"{name}.running_var")
            tables.append(table)
        elif kind == "LayerNorm":
            shape = tuple(module.normalized_shape)
            if len(shape) != 1:
                raise SpecError(f"model: {name}: LayerNorm over {shape}; the page normalizes a row (one dimension)")
            table = {"kind": "layer_norm", "normalized_shape": shape[0], "eps": module.eps,
                     "elementwise_affine": module.elementwise_affine}
            if module.elementwise_affine:
                table["weight"] = _values(module.weight, f"{name}.weight")
                if module.bias is not None:
                    table["bias"] = _values(module.bias, f"{name}.bias")
            tables.append(table)
        else:
            raise SpecError(f"model: {name} is a {kind}, which the page has no kind for; the modules read"
                            f" are {', '.join(SUPPORTED)}")
    if not any(t["kind"] == "dense" for t in tables):
        raise SpecError("model: no nn.Linear layer found; the page works networks of Linear layers")
    return tables, random_dropout


LOSSES = {"BCELoss": "bce", "BCEWithLogitsLoss": "bce", "MSELoss": "mse", "CrossEntropyLoss": "cross_entropy",
          "NLLLoss": "nll", "L1Loss": "l1", "SmoothL1Loss": "smooth_l1"}


def criterion_settings(criterion: Any, tables: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec's ``loss`` (and ``beta``) for ``criterion``; a criterion that takes logits adds its
    softmax or sigmoid to the last layer of ``tables``."""
    kind = type(criterion).__name__
    if kind not in LOSSES:
        raise SpecError(f"criterion: {kind} has no loss on the page; the criteria read are"
                        f" {', '.join(LOSSES)}")
    reduction = getattr(criterion, "reduction", "mean")
    out: dict[str, Any] = {"loss": LOSSES[kind]}
    if kind == "MSELoss" and reduction == "sum":
        out["loss"] = "sse"
    elif reduction != "mean":
        raise SpecError(f"criterion: {kind}(reduction={reduction!r}); the page works reduction='mean'"
                        " (and MSELoss(reduction='sum'), its sse)")
    for attribute in ("weight", "pos_weight"):
        if getattr(criterion, attribute, None) is not None:
            raise SpecError(f"criterion: {kind}({attribute}=…) is not on the page; leave it out")
    if kind == "CrossEntropyLoss" and criterion.label_smoothing:
        raise SpecError("criterion: CrossEntropyLoss(label_smoothing=…) is not on the page; leave it out")
    if kind == "SmoothL1Loss":
        out["beta"] = float(criterion.beta)
    if kind in ("CrossEntropyLoss", "BCEWithLogitsLoss"):
        applied = "softmax" if kind == "CrossEntropyLoss" else "sigmoid"
        last = tables[-1]
        if last["kind"] == "dense" and last["activation"] == "identity":
            last["activation"] = applied
        else:
            raise SpecError(f"criterion: {kind} takes logits, but the model ends with"
                            f" {last.get('activation', last['kind'])}; end the model with nn.Linear")
    return out


OPTIMIZERS = {"SGD", "Adam", "AdamW", "RMSprop"}


def optimizer_settings(optimizer: Any, model: Any) -> dict[str, Any]:
    """The spec's ``optimizer``, ``lr`` and settings, read from a fresh torch.optim optimizer of
    ``model``'s parameters.

    Raises:
        SpecError: for another class, several parameter groups, parameters that are not the
            model's, options the page does not work (nesterov, amsgrad …) or state from earlier steps.
    """
    kind = type(optimizer).__name__
    if kind not in OPTIMIZERS:
        raise SpecError(f"optimizer: {kind} is not on the page; the optimizers read are"
                        f" {', '.join(sorted(OPTIMIZERS))}")
    if len(optimizer.param_groups) != 1:
        raise SpecError(f"optimizer: {len(optimizer.param_groups)} parameter groups; the page works one"
                        " (optim.SGD(model.parameters(), …))")
    group = optimizer.param_groups[0]
    ours = [p for p in model.parameters() if p.requires_grad]
    theirs = list(group["params"])
    if {id(p) for p in theirs} != {id(p) for p in ours}:
        raise SpecError("optimizer: its parameters are not the model's trainable parameters; build it"
                        " with optim.SGD(model.parameters(), …)")
    if any(optimizer.state.get(p) for p in theirs):
        raise SpecError("optimizer: it has state from earlier steps (momentum buffers or moments); the page"
                        " works the first step of a fresh optimizer: build a new one")
    for flag_name in ("nesterov", "amsgrad", "maximize", "capturable", "differentiable"):
        if group.get(flag_name):
            raise SpecError(f"optimizer: {kind}({flag_name}=True) is not on the page")
    lr = group["lr"]
    if not isinstance(lr, (int, float)):
        raise SpecError("optimizer: a tensor learning rate is not read; give lr as a number")
    out: dict[str, Any] = {"lr": float(lr)}
    decay = float(group.get("weight_decay", 0.0))
    if kind == "SGD":
        if group.get("dampening"):
            raise SpecError("optimizer: SGD(dampening=…) is not on the page; leave it out")
        momentum = float(group.get("momentum", 0.0))
        out["optimizer"] = "momentum" if momentum else "sgd"
        if momentum:
            out["momentum"] = momentum
    elif kind in ("Adam", "AdamW"):
        out["optimizer"] = "adamw" if kind == "AdamW" or group.get("decoupled_weight_decay") else "adam"
        out["beta1"], out["beta2"] = (float(b) for b in group["betas"])
        out["eps"] = float(group["eps"])
    else:
        out.update(optimizer="rmsprop", alpha=float(group["alpha"]), eps=float(group["eps"]),
                   momentum=float(group["momentum"]), centered=bool(group["centered"]))
    if decay or out["optimizer"] == "adamw":
        out["weight_decay"] = decay
    return out


def from_torch(model: Any, criterion: Any = None, optimizer: Any = None) -> Network:
    """The network ``model`` is, with the loss of ``criterion`` and the update of ``optimizer``
    (default: bce and SGD with lr 1, as the spec's defaults).

    Raises:
        SpecError: naming the module, criterion or optimizer setting the page does not work.
    """
    from backprop_cli.io import parse_spec

    if not is_module(model):
        raise SpecError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    tables, _ = layer_tables(model)
    document: dict[str, Any] = {"layers": tables}
    if criterion is not None:
        document.update(criterion_settings(criterion, tables))
    if optimizer is not None:
        document.update(optimizer_settings(optimizer, model))
    try:
        return parse_spec(document).network
    except SpecError as error:
        raise SpecError(f"model: {error}") from None


def check_forward(model: Any, network: Network, xs: Sequence[Vector], criterion: Any = None) -> None:
    """One forward pass of ``model`` on the samples: its output must equal the network's (before a
    logits criterion's softmax or sigmoid), else the model's forward is not the chain of its modules.

    The model runs on a float64 copy, so neither its parameters nor its buffers change.
    """
    import copy

    import torch

    from backprop_cli.layers.torch_modules import sequential

    _, random_dropout = layer_tables(model)
    if random_dropout:
        return  # torch draws its own mask: the outputs differ by design
    twin = copy.deepcopy(model).to(dtype=torch.float64, device="cpu")
    kind = type(criterion).__name__ if criterion is not None else ""
    fused = kind in ("CrossEntropyLoss", "BCEWithLogitsLoss")
    x = torch.tensor([list(row) for row in xs], dtype=torch.float64)
    with torch.no_grad():
        theirs = twin(x)
        ours = sequential(torch, network.layers, fuse_last=fused)(x)
    if not isinstance(theirs, torch.Tensor) or theirs.shape != ours.shape or not torch.allclose(
            theirs, ours, rtol=1e-9, atol=1e-12):
        raise SpecError("model: its forward does not compute the chain of its modules in the order they"
                        " were registered; the page reads a plain chain (nn.Sequential, or a module"
                        " whose forward calls its children in order)")


def to_torch(network: Network) -> Any:
    """``network`` as a float64 ``nn.Sequential`` (one module per layer, a dense layer as
    ``nn.Sequential(nn.Linear, activation)``), its parameters set to the network's."""
    import torch

    from backprop_cli.layers.torch_modules import sequential

    return sequential(torch, network.layers)
