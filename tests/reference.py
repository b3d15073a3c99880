"""Independent references: PyTorch autograd + torch.optim in float64, and finite differences.

Nothing here uses backprop_cli's own arithmetic: the network is rebuilt as torch modules from the
plain numbers of a Network, and the losses are torch's own (BCELoss, MSELoss, CrossEntropyLoss).
"""

from __future__ import annotations

import math
from typing import Any

from backprop_cli.model import Network

try:
    import torch
except ImportError:  # pragma: no cover - CI installs torch; the finite-difference tests cover this
    torch = None


def torch_activation(name: str) -> Any:
    nn = torch.nn
    return {
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.01),
        "identity": nn.Identity(),
        "softmax": nn.Softmax(dim=1),
        "log_softmax": nn.LogSoftmax(dim=1),
    }[name]


FORMULA_LOSSES = {"(yhat - y)**4": lambda yhat, y: ((yhat - y) ** 4).mean(),
                  "yhat": lambda yhat, y: yhat.mean(),
                  "-y*log(yhat) + yhat": lambda yhat, y: (-y * torch.log(yhat) + yhat).mean()}
"""Formula losses and the same function written for torch by hand (the mean over elements)."""


def torch_loss(name: str, output: Any, logits: Any, target: Any, beta: float = 1.0) -> Any:
    nn = torch.nn
    if name in FORMULA_LOSSES:
        return FORMULA_LOSSES[name](output, target)
    if name == "l1":
        return nn.L1Loss()(output, target)
    if name == "smooth_l1":
        return nn.SmoothL1Loss(beta=beta)(output, target)
    if name == "bce":
        return nn.BCELoss()(output, target)
    if name == "mse":
        return nn.MSELoss()(output, target)
    if name == "sse":
        return nn.MSELoss(reduction="sum")(output, target)
    if name == "half_sse":
        return 0.5 * nn.MSELoss(reduction="sum")(output, target)
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()(logits, target)
    if name == "nll":
        return nn.NLLLoss()(output, target.argmax(dim=1))
    raise ValueError(name)


def build_modules(network: Network, activation: Any = torch_activation) -> tuple[list[Any], list[Any]]:
    linears, activations = [], []
    for layer in network.layers:
        linear = torch.nn.Linear(layer.inputs, layer.units, bias=layer.bias is not None).double()
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight, dtype=torch.float64))
            if layer.bias is not None:
                linear.bias.copy_(torch.tensor(layer.bias, dtype=torch.float64))
        linears.append(linear)
        activations.append(activation(layer.activation))
    return linears, activations


def forward(linears: list[Any], activations: list[Any], x: Any) -> tuple[list[Any], list[Any]]:
    zs, as_ = [], []
    a = x
    for linear, act in zip(linears, activations, strict=True):
        z = linear(a)
        if z.requires_grad:
            z.retain_grad()
        a = act(z)
        zs.append(z)
        as_.append(a)
    return zs, as_


def torch_step(network: Network, xs: Any, ys: Any, activation: Any = torch_activation) -> dict[str, Any]:
    """One SGD (or momentum/Adam) step of ``network`` in float64: the JSON layout of backprop step."""
    linears, activations = build_modules(network, activation)
    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    zs, as_ = forward(linears, activations, x)
    loss = torch_loss(network.loss, as_[-1], zs[-1], y, network.beta)
    loss.backward()
    optimizer = make_optimizer(network, trainable(linears, network))
    before = [(lin.weight.detach().clone(), None if lin.bias is None else lin.bias.detach().clone())
              for lin in linears]
    grads = [(lin.weight.grad.clone(), None if lin.bias is None else lin.bias.grad.clone()) for lin in linears]
    optimizer.step()
    with torch.no_grad():
        after_zs, after_as = forward(linears, activations, x)
        loss_after = torch_loss(network.loss, after_as[-1], after_zs[-1], y, network.beta)
    layers = []
    for i, lin in enumerate(linears):
        layers.append({
            "weight": before[i][0].tolist(),
            "bias": None if before[i][1] is None else before[i][1].tolist(),
            "z": zs[i].detach().tolist(),
            "a": as_[i].detach().tolist(),
            "grad_weight": grads[i][0].tolist(),
            "grad_bias": None if grads[i][1] is None else grads[i][1].tolist(),
            "new_weight": lin.weight.detach().tolist(),
            "new_bias": None if lin.bias is None else lin.bias.detach().tolist(),
        })
    return {"loss": loss.item(), "loss_after": loss_after.item(), "output": as_[-1].detach().tolist(),
            "layers": layers, "_output_after": after_as[-1].detach().tolist(), "_loss": network.loss}


def trainable(linears: list[Any], network: Network) -> list[Any]:
    """The parameters the optimizer updates: every weight, and every bias that is not frozen."""
    params = []
    for linear, layer in zip(linears, network.layers, strict=True):
        params.append(linear.weight)
        if linear.bias is not None and not layer.freeze_bias:
            params.append(linear.bias)
    return params


def make_optimizer(network: Network, params: list[Any]) -> Any:
    """The torch.optim object for the network's optimizer settings, written out here."""
    opt = network.optimizer
    lr, decay = network.lr, opt.weight_decay
    if opt.name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, weight_decay=decay)
    if opt.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=decay)
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=decay)
    if opt.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=opt.alpha, eps=opt.eps, weight_decay=decay,
                                   momentum=opt.momentum, centered=opt.centered)
    assert opt.name == "sgd"
    return torch.optim.SGD(params, lr=lr, weight_decay=decay)


TORCH_STATE = {"sgd": {}, "momentum": {"v": "momentum_buffer"}, "adam": {"m": "exp_avg", "v": "exp_avg_sq"},
               "adamw": {"m": "exp_avg", "v": "exp_avg_sq"},
               "rmsprop": {"v": "square_avg", "gbar": "grad_avg", "B": "momentum_buffer"}}
"""Our slot names → torch.optim's state keys, per optimizer."""


def magnitude(data: Any) -> float:
    """The largest absolute number in nested lists/dicts (1 at least)."""
    if isinstance(data, dict):
        return max([magnitude(v) for v in data.values()] + [1.0])
    if isinstance(data, (list, tuple)):
        return max([magnitude(v) for v in data] + [1.0])
    if isinstance(data, (int, float)) and math.isfinite(data):
        return max(1.0, abs(data))
    return 1.0


def bce_conditioning(outputs: list[list[float]]) -> list[float]:
    """The relative error one rounding of each prediction ŷ causes in bce and its derivatives.

    bce takes log(1 − ŷ) and log(ŷ), and its derivative 1/(1 − ŷ) and 1/ŷ: one rounding of ŷ
    (2⁻⁵² relative) moves them by about 2⁻⁵²/min(ŷ, 1 − ŷ), which is large when an output
    saturates, whatever library computes it. Capped at 100 where the output is clamped.
    """
    return [min(2.0**-52 / max(min(v, 1.0 - v), 1e-300), 100.0) for row in outputs for v in row]


def bce_slack(outputs: list[list[float]]) -> float:
    """How far two correct float64 bce losses of these predictions can differ (absolute)."""
    terms = bce_conditioning(outputs)
    return 4 * sum(terms) / len(terms)


def assert_step_close(actual: Any, expected: Any, tol: float = 1e-12) -> None:
    """A step's JSON equal to the reference within ``tol`` relative to the step's largest number.

    Two correct float64 computations that add the same terms in another order differ by a few
    units in the last place of the largest terms involved, so the absolute tolerance scales with
    the largest magnitude in the step (1 for the seed and most tests). A bce step also gets the
    slack its own conditioning gives it: the losses ``bce_slack``, and the gradients and updates,
    which carry 1/(1 − ŷ), a few times the worst ``bce_conditioning`` of the step's magnitude.
    """
    scale = tol * magnitude({k: v for k, v in expected.items() if not k.startswith("_")})
    bce = expected.get("_loss") == "bce"
    gradient_slack = 4 * max(bce_conditioning(expected["output"])) * scale / tol if bce else 0.0
    for key, value in expected.items():
        if key.startswith("_"):
            continue
        slack = 0.0 if key in ("loss", "output") else gradient_slack
        if bce and key in ("loss", "loss_after"):
            outputs = expected["output"] if key == "loss" else expected["_output_after"]
            slack += bce_slack(outputs)
        assert_close(actual[key], value, tol=tol, path=key, abs_tol=scale + slack)


def assert_close(actual: Any, expected: Any, tol: float = 1e-12, path: str = "",
                 abs_tol: float | None = None) -> None:
    """Every number equal within ``tol`` (relative for large values, absolute near zero)."""
    if abs_tol is None:
        abs_tol = tol
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key.startswith("_"):
                continue
            assert key in actual, f"{path}.{key} missing"
            assert_close(actual[key], value, tol, f"{path}.{key}", abs_tol)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, tol, f"{path}[{i}]", abs_tol)
    elif expected is None:
        assert actual is None, f"{path}: {actual} is not None"
    elif isinstance(expected, str):
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual is not None, f"{path}: None, expected {expected}"
        ok = math.isclose(actual, expected, rel_tol=tol, abs_tol=abs_tol) or (
            math.isnan(actual) and math.isnan(expected))
        assert ok, f"{path}: {actual!r} != {expected!r} (diff {abs(actual - expected):.3g})"


def torch_train(network: Network, xs: Any, ys: Any, epochs: int, batch_size: int | None = None,
                shuffle_seed: int | None = None, activation: Any = torch_activation,
                scheduler: Any = None, clip: tuple[str, float] | None = None) -> dict[str, Any]:
    """A plain PyTorch training loop in float64: the reference for ``backprop train``.

    History: the loss over all the data before each epoch's updates (``loss.item()`` of the
    forward pass with full batches). Shuffling: ``numpy.random.default_rng(seed).permutation``
    once per epoch, as documented for ``--shuffle``. ``scheduler(optimizer)`` makes a
    torch.optim.lr_scheduler object, stepped after every epoch; ``clip`` is ("norm", max_norm) for
    ``clip_grad_norm_`` or ("value", v) for ``clip_grad_value_`` before every ``optimizer.step()``.
    """
    import numpy as np

    linears, activations = build_modules(network, activation)
    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64)
    params = trainable(linears, network)
    optimizer = make_optimizer(network, params)
    schedule = scheduler(optimizer) if scheduler is not None else None
    samples = len(xs)

    def step() -> None:
        if clip is not None and clip[0] == "norm":
            torch.nn.utils.clip_grad_norm_(params, clip[1])
        elif clip is not None:
            torch.nn.utils.clip_grad_value_(params, clip[1])
        optimizer.step()
    size = batch_size or samples
    generator = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None

    def loss_of(inputs: Any, targets: Any) -> Any:
        zs, as_ = forward(linears, activations, inputs)
        return torch_loss(network.loss, as_[-1], zs[-1], targets)

    history = []
    for _ in range(epochs):
        order = generator.permutation(samples) if generator is not None else np.arange(samples)
        if size >= samples and generator is None:
            optimizer.zero_grad()
            loss = loss_of(x, y)
            history.append(loss.item())
            loss.backward()
            step()
            if schedule is not None:
                schedule.step()
            continue
        with torch.no_grad():
            history.append(loss_of(x, y).item())
        for lo in range(0, samples, size):
            index = torch.as_tensor(order[lo:lo + size])
            optimizer.zero_grad()
            loss_of(x[index], y[index]).backward()
            step()
        if schedule is not None:
            schedule.step()
    with torch.no_grad():
        final = loss_of(x, y).item()
    return {"history": history, "final_loss": final,
            "layers": [{"weight": lin.weight.detach().tolist(),
                        "bias": None if lin.bias is None else lin.bias.detach().tolist()} for lin in linears]}


def flat(value: Any) -> list[float]:
    return [v for item in value for v in flat(item)] if isinstance(value, list) else [value]


def adam_conditioning(lr: float, result: list[dict[str, Any]], expected: list[dict[str, Any]], scale: float) -> None:
    """Adam's first update is lr·g/(|g| + ε), whose derivative in g is lr·ε/(|g| + ε)²: up to lr/ε = 10⁷
    where g is near 0, which happens in exact arithmetic (attention's b_K: softmax by rows ignores a
    constant added to a row's scores; a bias whose weights after it cancel, as −0.31 − 0.4 + 0.71). Two correct
    float64 gradients that differ by rounding, ~1e-12 of the step's largest number, then give
    updates that differ by that much times lr·ε/(|g| + ε)². Each new value is checked to that
    bound (and the gradients as usual, to 1e-12), then taken as equal; the rest of the step is
    compared as usual. Where |g| ≫ ε the bound is far below 1e-12 and nothing changes."""
    eps = 1e-8
    for mine, theirs in zip(result, expected, strict=True):
        adam_conditioning(lr, mine.get("layers", []), theirs.get("layers", []), scale)
        for key in [k for k in theirs if k.startswith("grad_")]:
            name = key.removeprefix("grad_")
            grads = flat(theirs[key])
            a, b = flat(mine[f"new_{name}"]), flat(theirs[f"new_{name}"])
            for i, g in enumerate(grads):
                bound = 2 * lr * eps / (abs(g) + eps) ** 2 * 1e-12 * scale
                if bound > 1e-12 * scale:
                    assert abs(a[i] - b[i]) <= bound, (name, i, a[i], b[i], bound)
                    a[i] = b[i]
            mine[f"new_{name}"], theirs[f"new_{name}"] = a, b
