"""Reading a PyTorch ``state_dict`` (.pt, .pth) as a network spec.

The file is read with ``torch.load(weights_only=True)``: PyTorch's restricted unpickler, which
rebuilds tensors and plain containers and refuses every other global, so a file that carries a
pickle payload (a class, ``os.system``, a whole pickled model) is refused before any of it runs.

Accepted: the ``state_dict()`` of a module made of the layer kinds that read .pt files (each
kind's ``state_names`` and ``recognizes_state``: ``nn.Linear``, ``nn.BatchNorm1d``,
``nn.LayerNorm``, ``nn.MultiheadAttention``) and parameter-free modules, such as an ``nn.Sequential`` (``0.weight``,
``0.bias``, ``1.running_mean`` …) or a module with named submodules (``fc1.weight`` …). Layers are
taken in the dict's order, which is the order the module registered them.

Activations, dropout, the loss and the learning rate are not in a state_dict. They come from a
sidecar spec beside the file (``model.toml`` or ``model.json`` for ``model.pt``: the spec format
with [[layers]] tables that hold the settings but no tensors, one per layer with parameters, and
tables of parameter-free kinds (``kind = "activation"``, ``"dropout"``) where they stand, plus
``loss``, ``lr``, ``optimizer`` and ``[data]``), from ``--activation``, ``--loss`` and ``--lr``
(which override the sidecar), or else the spec defaults (sigmoid, bce, lr 1).

torch is imported here only, when a .pt file is asked for.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from backprop_cli.errors import SpecError
from backprop_cli.io import Spec, check_readable, parse_spec, read_document
from backprop_cli.layers import KINDS, kind_class
from backprop_cli.model import MAX_PARAMETERS

SIDECAR_SUFFIXES = (".toml", ".json")


def load_state_dict_spec(path: str | Path) -> Spec:
    """The network of a state_dict file, with its sidecar spec's settings if there is one.

    Raises:
        SpecError: naming the problem (no torch, not a state_dict, a pickle payload, a layer that
            is not Linear, shapes that do not chain, a sidecar that does not fit).
    """
    path = Path(path)
    torch = _import_torch(path)
    check_readable(path, "network")
    state = _load(torch, path)
    layers, prefixes = _layers(torch, state, path)
    sidecar = sidecar_path(path)
    document: dict[str, Any] = read_document(sidecar) if sidecar is not None else {}
    where = f"network: {sidecar} (beside {path.name}):" if sidecar is not None else f"network: {path}:"
    tables = document.setdefault("layers", [{"kind": kind} for kind, _ in layers])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise SpecError(f"{where} layers must be [[layers]] tables, one per layer")
    # Tables of kinds without parameters (activation, dropout) hold no tensors; the others take the
    # state_dict's layers in order.
    holders = [index for index, table in enumerate(tables) if _holds_parameters(table)]
    if len(holders) != len(layers):
        raise SpecError(f"{where} has {len(holders)} [[layers]] tables for layers with parameters but"
                        f" {path.name} has {len(layers)} ({', '.join(kind for kind, _ in layers)}); give one"
                        " table (activation = …) per layer")
    for position, (index, (kind, tensors)) in enumerate(zip(holders, layers, strict=True)):
        table = tables[index]
        named = table.get("kind", "dense")
        if named != kind and _holds_parameters(table) and kind_class(named).recognizes_state(
                {key: _shape(value) for key, value in tensors.items()}):
            # The same tensors fit several kinds (nn.Embedding's weight is a bias-less nn.Linear's):
            # the sidecar's kind says which.
            kind = named
            layers[position] = (kind, tensors)
        if named != kind:
            raise SpecError(f"{where} layers[{index}].kind: is {named!r} but {path.name}'s layer there is a {kind}")
        for key in (*tensors, "units"):
            if key in table:
                raise SpecError(f"{where} layers[{index}].{key}: the weights come from {path.name};"
                                " give only the settings here (activation, freeze_bias, eps …)")
        table["kind"] = kind
        table.update(kind_class(kind).state_table(tensors))
    _check_chain(layers, prefixes, path)
    for key in ("inputs", "seed", "init"):
        if key in document:
            raise SpecError(f"{where} {key}: applies to random weights, not to {path.name}")
    try:
        return parse_spec(document)
    except SpecError as error:
        message = str(error).replace("at the top of the spec", f"in {path.with_suffix('.toml').name} beside {path.name}"
                                     if sidecar is None else f"in {sidecar.name}")
        raise SpecError(f"{where} {message}") from None


def sidecar_path(path: Path) -> Path | None:
    """``model.toml`` (or ``model.json``) beside ``model.pt``, if there is one."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _import_torch(path: Path) -> Any:
    try:
        import torch
    except ImportError:
        raise SpecError(
            f"network: reading {path.name} needs PyTorch; install it (pip install torch) or give the"
            " network as a .toml spec (backprop init writes one)") from None
    return torch


def _load(torch: Any, path: Path) -> Any:
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: the error says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file; all end here
        message = str(error)
        found = re.search(r"GLOBAL ([\w.]+)", message)
        names = [found.group(1)] if found else []
        names += [name for name in pickle_globals(path) if not name.startswith(("torch.", "collections."))]
        if names and names[0].startswith("torch.nn.modules."):
            raise SpecError(
                f"network: {path} holds a whole pickled model ({names[0].rsplit('.', 1)[-1]}), which is"
                " never unpickled; save its weights with torch.save(model.state_dict(), path)") from None
        if names:
            raise SpecError(
                f"network: {path} carries a pickle payload ({names[0]}) and was refused; nothing in it"
                " ran. Only a state_dict of tensors is read") from None
        if "Weights only load failed" in message:
            raise SpecError(
                f"network: {path} is not a state_dict that torch's safe loader accepts ({_detail(message)});"
                " nothing in it ran. Save one with torch.save(model.state_dict(), path)") from None
        raise SpecError(f"network: {path} is not a file torch.save wrote (torch.load: {type(error).__name__}"
                        f" {_detail(message)})") from None


def pickle_globals(path: Path) -> list[str]:
    """The globals (``module.name``) a pickle in ``path`` would look up, read without unpickling.

    ``pickletools.genops`` only decodes opcodes; used to name what a refused file carries.
    """
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                streams = [archive.read(name) for name in archive.namelist() if name.endswith(".pkl")]
        else:
            streams = [path.read_bytes()]
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return []
    found: list[str] = []
    for data in streams:
        strings: list[str] = []
        try:
            for opcode, argument, _ in pickletools.genops(data):
                if opcode.name in ("GLOBAL", "INST"):
                    found.append(str(argument).replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(argument, str):
                    strings.append(argument)
        except Exception:  # noqa: BLE001 - not a (whole) pickle: what was decoded so far counts
            pass
    return found


def _detail(message: str) -> str:
    """The informative line of a torch.load error, shortened."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.endswith("WeightsUnpickler error:") and index + 1 < len(lines):
            return lines[index + 1][:100]
    return lines[0][:100] if lines else "no detail"


_KEY = re.compile(r"^(?:(?P<prefix>.+)\.)?(?P<kind>weight|bias|running_mean|running_var|num_batches_tracked"
                  r"|(?:weight|bias)_(?:ih|hh)_l0|in_proj_(?:weight|bias))$")
_OUT_PROJ = re.compile(r"^(?:(?P<prefix>.+)\.)?(?P<kind>out_proj\.(?:weight|bias))$")
"""nn.MultiheadAttention's output projection, ``out_proj.weight`` beside ``in_proj_weight``: one layer."""


def _match(key: str, state: Any) -> Any:
    """The key's module prefix and tensor name; an attention's ``out_proj.*`` goes with its ``in_proj_weight``."""
    attention = _OUT_PROJ.match(key)
    if attention is not None:
        prefix = attention.group("prefix")
        if (f"{prefix}." if prefix else "") + "in_proj_weight" in state:
            return attention
    return _KEY.match(key)


def _shape(value: Any) -> tuple[int, ...]:
    """The shape of nested lists of numbers."""
    return (len(value), *_shape(value[0])) if isinstance(value, list) and value else ()


def _holds_parameters(table: dict[str, Any]) -> bool:
    kind = table.get("kind", "dense")
    return isinstance(kind, str) and kind_class(kind).holds_state(table)


def _layers(torch: Any, state: Any, path: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(kind, spec values by state_dict key) for each layer with parameters, in the state_dict's
    order; the kind is the one whose ``recognizes_state`` the tensors' names and shapes fit."""
    if not isinstance(state, dict):
        raise SpecError(f"network: {path} holds a {type(state).__name__}, not a state_dict of tensors;"
                        " save it with torch.save(model.state_dict(), path)")
    if not state:
        raise SpecError(f"network: {path} holds an empty state_dict")
    groups: dict[str, dict[str, Any]] = {}
    total = 0
    for key, value in state.items():
        if not isinstance(key, str):
            raise SpecError(f"network: {path} has a key {key!r} that is not a name")
        if not isinstance(value, torch.Tensor):
            kind = "a dict" if isinstance(value, dict) else f"a {type(value).__name__}"
            hint = (" (a checkpoint? save the model's state_dict() alone)" if isinstance(value, dict) else "")
            raise SpecError(f"network: {path}: {key!r} holds {kind}, not a tensor{hint}")
        match = _match(key, state)
        if match is None:
            raise SpecError(
                f"network: {path}: {key!r} is not a parameter of a layer kind read from .pt files"
                f" ({', '.join(name for name in KINDS if kind_class(name).state_names)})")
        total += value.numel()
        if total > MAX_PARAMETERS:
            raise SpecError(f"network: {path} has more than {MAX_PARAMETERS:,} parameters")
        groups.setdefault(match.group("prefix") or "", {})[match.group("kind")] = value
    layers = []
    for prefix, tensors in groups.items():
        name = f"{prefix}." if prefix else ""
        if not {"weight", "running_mean", "weight_ih_l0", "in_proj_weight"} & set(tensors):
            raise SpecError(f"network: {path}: {name}{next(iter(tensors))} has no {name}weight beside it")
        shapes = {key: tuple(tensor.shape) for key, tensor in tensors.items()}
        found = next((k for k in KINDS if kind_class(k).recognizes_state(shapes)), None)
        if found is None:
            described = ", ".join(f"{name}{key} {shape}" for key, shape in shapes.items())
            raise SpecError(f"network: {path}: {described}: no layer kind read from .pt files has these"
                            " (dense: a 2-D weight; conv1d, conv2d: a 3-D, 4-D weight; batch_norm: running"
                            " statistics; layer_norm: a 1-D weight; rnn, lstm, gru: weight_ih_l0 and"
                            " weight_hh_l0 of one layer; attention: in_proj_weight and out_proj.weight)")
        owned = kind_class(found).state_names
        values = {key: _floats(torch, tensor, f"{name}{key}", path).tolist()
                  for key, tensor in tensors.items() if key in owned}
        layers.append((found, values))
    return layers, list(groups)


def _check_chain(layers: list[tuple[str, dict[str, Any]]], prefixes: list[str], path: Path) -> None:
    """Consecutive dense layers must chain (the spec's checks say the rest)."""
    previous: tuple[str, int] | None = None
    for (kind, values), prefix in zip(layers, prefixes, strict=True):
        name = f"{prefix}." if prefix else ""
        if kind != "dense":
            previous = None
            continue
        weight = values["weight"]
        if not weight or not weight[0]:
            raise SpecError(f"network: {path}: {name}weight is empty; a Linear layer's weight is units × inputs")
        units, inputs = len(weight), len(weight[0])
        if previous is not None and inputs != previous[1]:
            raise SpecError(
                f"network: {path}: {name}weight takes {inputs} inputs but {previous[0]}weight has"
                f" {previous[1]} units; the layers do not chain")
        bias = values.get("bias")
        if bias is not None and len(bias) != units:
            raise SpecError(f"network: {path}: {name}bias has shape ({len(bias)},); the layer has {units} units")
        previous = (name, units)


def _floats(torch: Any, tensor: Any, key: str, path: Path) -> Any:
    """``tensor`` as dense float64 on the CPU, checked finite."""
    if tensor.is_meta:
        raise SpecError(f"network: {path}: {key} is a meta tensor (a shape without values); save the"
                        " weights themselves")
    if tensor.layout != torch.strided:
        raise SpecError(f"network: {path}: {key} is a {tensor.layout} tensor; save dense tensors")
    if not (tensor.dtype.is_floating_point or tensor.dtype in (torch.int8, torch.int16, torch.int32,
                                                                torch.int64, torch.uint8)):
        raise SpecError(f"network: {path}: {key} holds {tensor.dtype} values, not real numbers")
    values = tensor.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise SpecError(f"network: {path}: {key} holds values that are not finite")
    return values
