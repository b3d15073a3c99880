"""The step as a runnable PyTorch script (``backprop step --format torch``).

The script builds the network with its weights, runs the step (``output = model(x)``,
``loss = criterion(output, y)``, ``loss.backward()``, ``optimizer.step()``) in float64, and prints
the step's numbers as JSON in the layout of ``backprop step --format json``, so the two can be
compared. It is generated from the torch modules the layer kinds build (``Kind.torch_module``):
each module is written as its ``torch.nn`` class called with the arguments its ``extra_repr``
gives, and every parameter and buffer is loaded from a ``state_dict`` of numbers written with
``repr``. The kinds that work on flat rows run as small modules the script defines and prints
around their ``torch.nn`` module: ``Sequence`` (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` with the page's
initial states and truncated BPTT, the last state or every step's), ``Residual`` (x + block(x)),
``Masked`` (dropout with the page's mask), ``Tokens`` (``nn.Embedding`` of the token ids),
``Positions`` (x + the learned or sinusoidal table) and ``SelfAttention`` (``nn.MultiheadAttention``
with the causal mask). No text of the user's reaches the script: a formula activation or loss is
refused.
"""

from __future__ import annotations

from typing import Any

from backprop_cli.errors import BackpropError

LOSSES = {
    "bce": ("nn.BCELoss()", "criterion(output, y)"),
    "mse": ("nn.MSELoss()", "criterion(output, y)"),
    "sse": ('nn.MSELoss(reduction="sum")', "criterion(output, y)"),
    "half_sse": ('nn.MSELoss(reduction="sum")', "0.5 * criterion(output, y)"),
    "l1": ("nn.L1Loss()", "criterion(output, y)"),
    "smooth_l1": ("nn.SmoothL1Loss(beta={beta!r})", "criterion(output, y)"),
    "cross_entropy": ("nn.CrossEntropyLoss()", "criterion(output, y)"),
    "nll": ("nn.NLLLoss()", "criterion(output, y.argmax(dim=1))"),
}
"""Each loss as torch has it: the criterion, and the loss from ``output`` (for cross_entropy, the
logits: nn.CrossEntropyLoss applies the softmax itself) and the targets ``y``."""


SEQUENCE = '''
class Sequence(nn.Module):
    """A recurrent module (batch_first) on flat rows, as backprop-cli's page works it: N × T·F in;
    out h_T (output="last", N × H) or every h_t (output="all", N × T·H). h0 (and an LSTM's c0): one
    row per sample, one row for all, or None for zeros. bptt: truncated backpropagation through
    time, the state's gradient stopped every bptt steps (None: the whole sequence)."""

    def __init__(self, rnn, steps, features, output="last", bptt=None, h0=None, c0=None):
        super().__init__()
        self.rnn, self.steps, self.features, self.output, self.bptt = rnn, steps, features, output, bptt
        self.initial = [h0, c0] if isinstance(rnn, nn.LSTM) else [h0]

    def forward(self, x):
        n = x.shape[0]
        sequence = x.reshape(n, self.steps, self.features)
        states = []
        for value in self.initial:
            if value is None:
                states.append(torch.zeros(1, n, self.rnn.hidden_size))
            else:
                rows = torch.tensor(value)
                states.append((rows if len(rows) > 1 else rows.expand(n, -1)).unsqueeze(0))
        state = tuple(states) if isinstance(self.rnn, nn.LSTM) else states[0]
        size = self.bptt or self.steps
        outs = []
        for start in range(0, self.steps, size):
            if start:  # truncated BPTT: the state goes on, its gradient stops here
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            out, state = self.rnn(sequence[:, start:start + size], state)
            outs.append(out)
        out = torch.cat(outs, dim=1)
        return out[:, -1] if self.output == "last" else out.reshape(n, -1)
'''
"""The script's module for a recurrent layer (``layers.recurrent``'s own ``Sequence``, written out)."""

RESIDUAL = '''
class Residual(nn.Module):
    """x + block(x): a residual block, its layers an nn.Sequential."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)
'''
"""The script's module for a residual block (``torch_modules.residual_module``, written out)."""

MASKED = '''
class Masked(nn.Module):
    """nn.Dropout in training mode with the page's mask: x * mask / (1 - p), the mask's rows the
    samples'."""

    def __init__(self, p, mask):
        super().__init__()
        self.p = p
        self.register_buffer("mask", torch.tensor(mask), persistent=False)

    def forward(self, x):
        return x * self.mask / (1.0 - self.p)
'''
"""The script's module for a dropout layer with its mask (``torch_modules.MaskedDropout``)."""

TOKENS = '''
class Tokens(nn.Module):
    """nn.Embedding on flat rows of token ids (N × T in, N × T·d out)."""

    def __init__(self, embedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, x):
        return self.embedding(x.long()).reshape(x.shape[0], -1)
'''
"""The script's module for an embedding layer (``layers.embedding``'s ``Tokens``)."""

POSITIONS = '''
class Positions(nn.Module):
    """x + P on flat rows (N × T·d): P learned (an nn.Embedding(T, d) of the positions 0 … T − 1) or
    fixed (the sinusoidal table, a buffer loaded with the state_dict)."""

    def __init__(self, steps, dim, embedding=None):
        super().__init__()
        self.steps, self.dim = steps, dim
        if embedding is not None:
            self.embedding = embedding
        else:
            self.register_buffer("encoding", torch.zeros(steps, dim))

    def forward(self, x):
        table = self.embedding(torch.arange(self.steps)) if hasattr(self, "embedding") else self.encoding
        return (x.reshape(x.shape[0], self.steps, self.dim) + table).reshape(x.shape[0], -1)
'''
"""The script's module for a positional layer (``layers.positional``'s ``Positions``)."""

SELF_ATTENTION = '''
class SelfAttention(nn.Module):
    """nn.MultiheadAttention (batch_first) as self-attention on flat rows (N × T·d in and out), with
    the causal mask where asked."""

    def __init__(self, attn, steps, causal):
        super().__init__()
        self.attn, self.steps, self.causal = attn, steps, causal
        mask = nn.Transformer.generate_square_subsequent_mask(steps, dtype=torch.get_default_dtype())
        self.register_buffer("mask", mask if causal else None, persistent=False)

    def forward(self, x):
        sequence = x.reshape(x.shape[0], self.steps, self.attn.embed_dim)
        out, _ = self.attn(sequence, sequence, sequence, attn_mask=self.mask, need_weights=False,
                           is_causal=self.causal)
        return out.flatten(1)
'''
"""The script's module for an attention layer (``layers.attention``'s ``SelfAttention``)."""

CLASSES = (("Sequence(", SEQUENCE), ("Residual(", RESIDUAL), ("Masked(", MASKED), ("Tokens(", TOKENS),
           ("Positions(", POSITIONS), ("SelfAttention(", SELF_ATTENTION))
"""Each class the script defines, with the text that shows it is used."""


def _refuse(what: str) -> BackpropError:
    return BackpropError(f"PyTorch code: {what}; the script is written with torch.nn modules, and needs"
                         " named activations and losses")


def _module_code(module: Any, indent: str, masks: dict[int, Any]) -> str:
    """``module`` as the Python expression that builds it (``masks``: each masked dropout's mask, by
    the module's id)."""
    cls = type(module)
    if id(module) in masks:  # a dropout layer: its p and mask, numbers
        return f"Masked({float(module.p)!r}, {_tensor([list(r) for r in masks[id(module)]])})"
    if cls.__name__ == "Residual" and hasattr(module, "block"):
        return f"Residual({_module_code(module.block, indent, masks)})"
    spec = getattr(module, "spec", None)
    if cls.__name__ == "Tokens" and spec is not None:
        return f"Tokens({_module_code(module.embedding, indent, masks)})"
    if cls.__name__ == "Positions" and spec is not None:
        learned = f", {_module_code(module.embedding, indent, masks)}" if hasattr(module, "embedding") else ""
        return f"Positions({int(spec.steps)}, {int(spec.dim)}{learned})"
    if cls.__name__ == "SelfAttention" and spec is not None:
        return f"SelfAttention({_module_code(module.attn, indent, masks)}, {int(spec.steps)}, {bool(spec.causal)})"
    if cls.__name__ == "MultiheadAttention":  # its extra_repr is empty
        return (f"nn.MultiheadAttention({int(module.embed_dim)}, {int(module.num_heads)},"
                f" bias={module.in_proj_bias is not None}, batch_first=True)")
    if cls.__name__ == "Sequence" and spec is not None:  # a recurrent layer: numbers and its own names only
        states = ", ".join(f"{key}={'None' if value is None else _tensor([list(r) for r in value])}"
                           for key, value in (("h0", spec.h0), ("c0", spec.c0)))
        return (f"Sequence({_module_code(module.rnn, indent, masks)}, steps={int(spec.steps)},"
                f" features={int(spec.features)}, output={str(spec.output)!r},"
                f" bptt={None if spec.bptt is None else int(spec.bptt)}, {states})")
    if not cls.__module__.startswith("torch.nn.modules"):
        raise _refuse(f"a layer runs as {cls.__name__}, which is not a torch.nn module")
    if cls.__name__ == "Sequential":
        inner = indent + "    "
        children = "".join(f"\n{inner}{_module_code(child, inner, masks)}," for child in module)
        return f"nn.Sequential({children}\n{indent})"
    arguments = module.extra_repr()
    if cls.__name__ in ("Linear", "BatchNorm1d", "LayerNorm", "RNN", "LSTM", "GRU", "Embedding"):
        arguments = ", ".join(part for part in arguments.split(", ") if not part.startswith("dtype="))
    if cls.__name__ == "RNN" and module.nonlinearity != "tanh":  # not in nn.RNN's extra_repr
        arguments += f", nonlinearity={'relu' if module.nonlinearity == 'relu' else 'tanh'!r}"
    return f"nn.{cls.__name__}({arguments})"


def _masks(torch: Any, model: Any, xs: Any) -> dict[int, Any]:
    """Each masked dropout's mask for this step, by the module's id: a forward pass of a copy (whose
    running statistics may move) finds the width each one is handed."""
    import copy

    def masked(module: Any) -> bool:
        return hasattr(module, "rows") and hasattr(module, "total") and hasattr(module, "spec")

    originals = {name: m for name, m in model.named_modules() if masked(m)}
    if not originals:
        return {}
    probe = copy.deepcopy(model)
    widths: dict[str, int] = {}
    for name, module in probe.named_modules():
        if name in originals:
            module.register_forward_pre_hook(lambda m, args, name=name: widths.__setitem__(name, args[0].shape[1]))
    with torch.no_grad():
        probe(torch.tensor(xs, dtype=torch.float64).reshape(len(xs), -1))
    return {id(m): m.spec.masks(len(xs), widths[name]) for name, m in originals.items() if name in widths}


def _entries(torch: Any, layers: Any, modules: Any, prefix: str, names: dict[int, str],
             softmax_last: bool) -> list[dict[str, Any]]:
    """What the script reports of each layer: its kind, its module's path, its parameters' and
    buffers' state_dict keys, a dense layer's z; a residual block's layers within it."""
    out = []
    last = len(layers) - 1
    for index, layer in enumerate(layers):
        module, path = modules[index], f"{prefix}{index}"
        entry: dict[str, Any] = {"kind": layer.kind, "path": path}
        children = layer.children()
        if children:
            entry["layers"] = _entries(torch, children, module.block, f"{path}.block.", names, False)
            out.append(entry)
            continue
        present = layer.torch_parameters(module)
        entry["parameters"] = {name: names[id(present[name])] if name in present else None
                               for name in (*layer.parameter_names,
                                            *(n for n in present if n not in layer.parameter_names))}
        entry["buffers"] = {name: f"{path}.{name}" for name in layer.torch_buffers(module)}
        if layer.kind == "dense":  # z: its nn.Linear's output (on every position of a sequence, flattened)
            linear = ([i for i, child in enumerate(module) if isinstance(child, torch.nn.Linear)]
                      if isinstance(module, torch.nn.Sequential) else [])
            entry["z"] = f"{path}.{linear[0]}" if linear else path
            entry["softmax"] = softmax_last and index == last
        out.append(entry)
    return out


def _tensor(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_tensor(v) for v in values) + "]"
    return repr(float(values))


def script(derivation: Any) -> str:
    """The runnable PyTorch script of ``derivation``'s step.

    Raises:
        BackpropError: for a network the script cannot build from torch.nn modules.
    """
    import torch

    from backprop_cli import losses
    from backprop_cli.layers import at
    from backprop_cli.layers.torch_modules import parameter_tensors, sequential

    network = derivation.network
    if network.loss not in LOSSES:
        raise _refuse("the loss is a formula")
    loss = losses.of(network)
    fused = bool(loss.fused)
    model = sequential(torch, network.layers, fuse_last=fused)
    names = {id(p): name for name, p in model.named_parameters()}
    layers = _entries(torch, network.layers, model, "", names, fused)
    frozen = sorted(names[id(tensor)] for (path, name), tensor in parameter_tensors(model, network.layers)
                    if at(network.layers, path).frozen(name))
    code = _module_code(model, "", _masks(torch, model, derivation.xs))
    state = model.state_dict()
    criterion, call = LOSSES[network.loss]
    if network.positions != 1 and network.loss in ("cross_entropy", "nll"):  # a class at every position
        rows = f".reshape(-1, {int(network.classes)})"
        call = call.replace("criterion(output, y", f"criterion(output{rows}, y{rows}")
    optimizer = network.optimizer
    settings = optimizer.settings()
    make = {
        "sgd": "torch.optim.SGD(params, lr={lr!r}, weight_decay={weight_decay!r})",
        "momentum": "torch.optim.SGD(params, lr={lr!r}, momentum={momentum!r}, weight_decay={weight_decay!r})",
        "adam": "torch.optim.Adam(params, lr={lr!r}, betas=({beta1!r}, {beta2!r}), eps={eps!r},"
                " weight_decay={weight_decay!r})",
        "adamw": "torch.optim.AdamW(params, lr={lr!r}, betas=({beta1!r}, {beta2!r}), eps={eps!r},"
                 " weight_decay={weight_decay!r})",
        "rmsprop": "torch.optim.RMSprop(params, lr={lr!r}, alpha={alpha!r}, eps={eps!r},"
                   " weight_decay={weight_decay!r}, momentum={momentum!r}, centered={centered!r})",
    }[optimizer.name]
    values = {"weight_decay": 0.0, **settings, "lr": float(network.lr)}
    state_lines = "".join(
        f'    "{key}": torch.tensor({_tensor(value.tolist())}'
        f'{", dtype=torch.long" if not value.is_floating_point() else ""}),\n'
        for key, value in state.items())
    lines = [
        "# One training step in PyTorch, as backprop-cli works it on its page (backprop step --format torch).",
        "# Run it with python: it prints the step's numbers as JSON, the layout of backprop step --format json.",
        "import copy",
        "import json",
        "",
        "import torch",
        "from torch import nn",
        "",
        "torch.set_default_dtype(torch.float64)",
        "",
        *(line for marker, text in CLASSES if marker in code for line in (text, "")),
        f"model = {code}",
        "model.load_state_dict({",
        state_lines.rstrip("\n"),
        "})",
        f"criterion = {criterion.format(beta=float(network.beta))}",
        f"frozen = {frozen!r}  # parameters the update leaves as they are",
        "params = [p for name, p in model.named_parameters() if name not in frozen]",
        f"optimizer = {make.format(**values)}",
        "",
        f"x = torch.tensor({_tensor([list(r) for r in derivation.xs])})",
        f"y = torch.tensor({_tensor([list(r) for r in derivation.ys])})",
        "",
        "kept = {}",
        "",
        "",
        "def keep(name):",
        "    def hook(module, args, out):",
        "        if isinstance(out, torch.Tensor):  # (nn.RNN's and nn.MultiheadAttention's are tuples)",
        "            kept[name] = out.detach()",
        "    return hook",
        "",
        "",
        "hooks = [module.register_forward_hook(keep(name)) for name, module in model.named_modules() if name]",
        "before = {name: value.detach().clone() for name, value in model.state_dict().items()}",
        "",
        "output = model(x)  # 1. the forward pass",
        f"loss = {call}  # 2. the loss",
        "optimizer.zero_grad()",
        "loss.backward()  # 3. the backward pass: every gradient dL/dtheta",
        "grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}",
        "optimizer.step()  # 4. the update",
        "",
        "for hook in hooks:",
        "    hook.remove()",
        "with torch.no_grad():",
        "    output = copy.deepcopy(model)(x)  # the loss after the update (a copy keeps the running statistics)",
        f"    loss_after = {call}",
        "after = model.state_dict()",
        "",
        f"LAYERS = {layers!r}",
        "",
        "",
        "def rows(tensor):",
        "    return tensor.tolist()",
        "",
        "",
        "def entry_of(layer):",
        "    out = kept[layer['path']]",
        "    entry = {'kind': layer['kind']}",
        "    if layer['kind'] == 'dense':",
        "        z = kept[layer['z']]",
        "        a = (torch.softmax(z, dim=-1) if layer['softmax'] else out).flatten(1)",
        "        z = z.flatten(1)",
        "        p = layer['parameters']",
        "        entry.update(weight=rows(before[p['weight']]),",
        "                     bias=rows(before[p['bias']]) if p['bias'] else None, z=rows(z), a=rows(a),",
        "                     grad_weight=rows(grads[p['weight']]),",
        "                     grad_bias=rows(grads[p['bias']]) if p['bias'] else None,",
        "                     new_weight=rows(after[p['weight']]),",
        "                     new_bias=rows(after[p['bias']]) if p['bias'] else None, output=rows(a))",
        "        return entry, a",
        "    entry['output'] = rows(out)",
        "    if 'layers' in layer:  # a residual block: x + its layers' output",
        "        entry['layers'] = [entry_of(inner)[0] for inner in layer['layers']]",
        "        return entry, out",
        "    for name, key in layer['parameters'].items():",
        "        if key is None:  # the module has no such parameter (elementwise_affine=False …)",
        "            entry.update({name: None, 'grad_' + name: None, 'new_' + name: None})",
        "        else:",
        "            entry.update({name: rows(before[key]), 'grad_' + name: rows(grads[key]),",
        "                          'new_' + name: rows(after[key])})",
        "    for name, key in layer['buffers'].items():",
        "        entry['new_' + name] = rows(after[key])",
        "    return entry, out",
        "",
        "",
        "results = []",
        "for layer in LAYERS:",
        "    entry, out = entry_of(layer)",
        "    results.append(entry)",
        "",
        "print(json.dumps({'loss': loss.item(), 'loss_after': loss_after.item(), 'output': rows(out),",
        "                  'layers': results}, indent=1))",
    ]
    return "\n".join(lines) + "\n"
