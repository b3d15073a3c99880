"""Files: network spec files (TOML, JSON), data files (CSV, npz/npy), atomic writes.

Spec files are checked key by key: an unknown or misspelt key, a wrong type, a ragged or
mis-chained shape is a SpecError that names the key, e.g. ``layers[1].weight``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from backprop_cli.errors import DataError, OutputError, SpecError
from backprop_cli.model import (
    ACTIVATIONS,
    Layer,
    Network,
    Optimizer,
    Vector,
    random_network,
)

TOP_KEYS = ("loss", "lr", "optimizer", "momentum", "beta1", "beta2", "eps", "layers", "data",
            "inputs", "seed", "init")
LAYER_KEYS = ("weight", "bias", "activation", "freeze_bias", "units")
DATA_KEYS = ("x", "y")


@dataclass(frozen=True)
class Spec:
    """What a spec file gives: the network and, if it has a ``[data]`` table, samples."""

    network: Network
    xs: tuple[Vector, ...] | None = None
    ys: tuple[Vector, ...] | None = None


def _unknown(key: str, allowed: Sequence[str], where: str) -> SpecError:
    close = get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return SpecError(f"{where}{key}: unknown key{hint}")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"{key}: {value} is not a finite number")
    return number


def _vector(value: Any, key: str) -> Vector:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key}: expected a non-empty list of numbers")
    return tuple(_number(v, f"{key}[{i}]") for i, v in enumerate(value))


def _matrix(value: Any, key: str) -> tuple[Vector, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key}: expected a list of rows, e.g. [[0.1, 0.2], [0.3, 0.4]]")
    rows = tuple(_vector(row, f"{key}[{i}]") for i, row in enumerate(value))
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise SpecError(f"{key}: row {i + 1} has {len(row)} values, row 1 has {width} (ragged)")
    return rows


def _integer(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{key}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def parse_spec(document: dict[str, Any]) -> Spec:
    """A Spec from a parsed TOML/JSON document.

    Raises:
        SpecError: naming the first offending key.
    """
    if not isinstance(document, dict):
        raise SpecError("spec: the file must hold a table of keys (loss, lr, layers, …)")
    for key in document:
        if key not in TOP_KEYS:
            raise _unknown(key, TOP_KEYS, "")
    layers_doc = document.get("layers")
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError("layers: the spec needs a [[layers]] table for each layer")
    loss = document.get("loss", "bce")
    if not isinstance(loss, str):
        raise SpecError(f"loss: expected a name such as \"bce\", got {loss!r}")
    lr = _number(document.get("lr", 1.0), "lr")
    optimizer_name = document.get("optimizer", "sgd")
    if not isinstance(optimizer_name, str):
        raise SpecError(f"optimizer: expected a name such as \"sgd\", got {optimizer_name!r}")
    optimizer_settings = {key: _number(document[key], key)
                          for key in ("momentum", "beta1", "beta2", "eps") if key in document}
    optimizer = Optimizer(optimizer_name, **optimizer_settings)
    seed = _integer(document.get("seed", 0), "seed", minimum=0)
    init = document.get("init", "xavier")
    if not isinstance(init, str):
        raise SpecError(f"init: expected xavier, he or uniform, got {init!r}")
    previous = _integer(document["inputs"], "inputs") if "inputs" in document else None
    layers = []
    for index, layer_doc in enumerate(layers_doc):
        where = f"layers[{index}]."
        if not isinstance(layer_doc, dict):
            raise SpecError(f"layers[{index}]: expected a table with weight/bias or units")
        for key in layer_doc:
            if key not in LAYER_KEYS:
                raise _unknown(key, LAYER_KEYS, where)
        activation = layer_doc.get("activation", "sigmoid")
        if not isinstance(activation, str):
            raise SpecError(f"{where}activation: expected a name or a formula in x, got {activation!r}")
        freeze = layer_doc.get("freeze_bias", False)
        if not isinstance(freeze, bool):
            raise SpecError(f"{where}freeze_bias: expected true or false, got {freeze!r}")
        if "weight" in layer_doc:
            if "units" in layer_doc:
                raise SpecError(f"{where}units: give either weight (explicit) or units (random), not both")
            weight = _matrix(layer_doc["weight"], f"{where}weight")
            if previous is not None and len(weight[0]) != previous:
                raise SpecError(
                    f"{where}weight: has {len(weight[0])} columns but the layer before has"
                    f" {previous} units; each row needs one weight per unit of the layer before")
            bias = _vector(layer_doc["bias"], f"{where}bias") if "bias" in layer_doc else None
        elif "units" in layer_doc:
            units = _integer(layer_doc["units"], f"{where}units")
            if previous is None:
                raise SpecError("inputs: a first layer given by units needs the top-level inputs = N")
            drawn = random_network((previous, units), seed=seed + index, init=init,
                                   bias=layer_doc.get("bias", True) is not False).layers[0]
            weight, bias = drawn.weight, drawn.bias
        else:
            raise SpecError(f"layers[{index}]: needs weight (and bias) or units")
        layers.append(Layer(weight=weight, bias=bias, activation=activation, freeze_bias=freeze))
        previous = len(weight)
    network = Network(layers=tuple(layers), loss=loss, lr=lr, optimizer=optimizer)
    xs = ys = None
    if "data" in document:
        data = document["data"]
        if not isinstance(data, dict):
            raise SpecError("data: expected a table with x and y")
        for key in data:
            if key not in DATA_KEYS:
                raise _unknown(key, DATA_KEYS, "data.")
        if "x" not in data or "y" not in data:
            raise SpecError("data: needs both x and y, one row per sample")
        xs = _matrix(data["x"], "data.x")
        ys = _matrix(data["y"], "data.y")
    return Spec(network, xs, ys)


def load_spec(path: str | Path) -> Spec:
    """Read a spec file (.toml or .json; .pt through ``torch_io``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pt" or suffix == ".pth":
        from backprop_cli.torch_io import load_state_dict_spec

        return load_state_dict_spec(path)
    if suffix not in (".toml", ".json"):
        raise SpecError(f"network: {path} should end in .toml, .json or .pt")
    text = _read_text(path, "network")
    if suffix == ".toml":
        import tomllib

        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"network: {path} is not valid TOML ({error})") from None
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise SpecError(f"network: {path} is not valid JSON ({error.msg} at line {error.lineno})") from None
    return parse_spec(document)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what}: {path} does not exist") from None
    except IsADirectoryError:
        raise SpecError(f"{what}: {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{what}: {path} is not UTF-8 text") from None
    except OSError as error:
        raise SpecError(f"{what}: cannot read {path} ({error.strerror})") from None


def load_data(path: str | Path, targets: int = 1) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """Samples from a .csv (last ``targets`` columns are y; a header row is skipped) or .npz/.npy."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _load_csv(path, targets)
    if suffix in (".npz", ".npy"):
        return _load_numpy(path, targets)
    raise DataError(f"data: {path} should be xor, and, or, or a file ending in .csv, .npz or .npy")


def _load_csv(path: Path, targets: int) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    try:
        text = _read_text(path, "data")
    except SpecError as error:
        raise DataError(str(error)) from None
    rows = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"data: {path} is empty")
    if not _numeric_row(rows[0]):
        rows = rows[1:]
        if not rows:
            raise DataError(f"data: {path} has a header but no samples")
    width = len(rows[0])
    if targets < 1 or width <= targets:
        raise DataError(
            f"data: {path} has {width} columns; with {targets} target column(s) there must be"
            " at least one input column (--targets sets how many are targets)")
    xs, ys = [], []
    for line, row in enumerate(rows, start=1):
        if len(row) != width:
            raise DataError(f"data: {path} sample {line} has {len(row)} columns, the first has {width}")
        values = []
        for column, cell in enumerate(row, start=1):
            try:
                value = float(cell)
            except ValueError:
                raise DataError(
                    f"data: {path} sample {line}, column {column}: {cell.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise DataError(f"data: {path} sample {line}, column {column}: {cell.strip()} is not finite")
            values.append(value)
        xs.append(tuple(values[:-targets]))
        ys.append(tuple(values[-targets:]))
    return tuple(xs), tuple(ys)


def _numeric_row(row: list[str]) -> bool:
    try:
        for cell in row:
            float(cell)
    except ValueError:
        return False
    return True


def _load_numpy(path: Path, targets: int) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    import numpy as np

    if not path.is_file():
        raise DataError(f"data: {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"data: {path} cannot be read without pickle ({error})") from None
    except OSError as error:
        raise DataError(f"data: {path} is not a numpy file ({error})") from None
    if isinstance(loaded, np.ndarray):
        array = np.asarray(loaded, dtype=float)
        if array.ndim != 2 or array.shape[1] <= targets:
            raise DataError(f"data: {path} must hold a 2-D array with input columns then {targets} target column(s)")
        x, y = array[:, :-targets], array[:, -targets:]
    else:
        with loaded:
            missing = [k for k in ("x", "y") if k not in loaded.files]
            if missing:
                raise DataError(f"data: {path} needs arrays named x and y (missing {', '.join(missing)})")
            x, y = np.asarray(loaded["x"], dtype=float), np.asarray(loaded["y"], dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim == 1:
            y = y[:, None]
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
            raise DataError(f"data: {path}: x and y must be 2-D with one row per sample (shapes {x.shape}, {y.shape})")
    if len(x) == 0:
        raise DataError(f"data: {path} holds no samples")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError(f"data: {path} holds values that are not finite")
    return tuple(map(tuple, x.tolist())), tuple(map(tuple, y.tolist()))


def check_writable(path: str | Path, force: bool) -> Path:
    """Refuse to overwrite an existing file unless ``force``; check the folder exists."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"output: {path} exists; use --force to overwrite it")
    if path.is_dir():
        raise OutputError(f"output: {path} is a directory")
    if not path.parent.exists():
        raise OutputError(f"output: the folder {path.parent} does not exist")
    return path


def write_atomic(path: str | Path, data: str | bytes, force: bool = False) -> Path:
    """Write to a temporary file beside ``path`` and rename it into place.

    An interrupted write leaves the old file or the new one, never half of one.
    """
    path = check_writable(path, force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions open() would (0666 less umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def spec_toml(network: Network, xs: Sequence[Vector] | None = None,
              ys: Sequence[Vector] | None = None, header: str = "") -> str:
    """A spec file for ``network`` (and samples), in the format ``load_spec`` reads."""

    def number(value: float) -> str:
        return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else f"{value:.1f}"

    def row(values: Sequence[float]) -> str:
        return "[" + ", ".join(number(v) for v in values) + "]"

    lines = [f"# {line}" if line else "#" for line in header.splitlines()] if header else []
    if lines:
        lines.append("")
    lines += [
        f'loss = "{network.loss}"            # {" | ".join(("bce", "mse", "sse", "half_sse", "cross_entropy"))}',
        f"lr = {number(network.lr)}",
        f'optimizer = "{network.optimizer.name}"       # sgd | momentum | adam',
    ]
    optimizer = network.optimizer
    if optimizer.name == "momentum":
        lines.append(f"momentum = {number(optimizer.momentum)}")
    if optimizer.name == "adam":
        lines += [f"beta1 = {number(optimizer.beta1)}", f"beta2 = {number(optimizer.beta2)}",
                  f"eps = {optimizer.eps!r}"]
    for index, layer in enumerate(network.layers):
        inputs = f"{layer.inputs} input{'s' if layer.inputs != 1 else ''}"
        units = f"{layer.units} unit{'s' if layer.units != 1 else ''}"
        lines += ["", f"[[layers]]              # layer {index + 1}: {inputs} -> {units}"]
        lines.append("weight = [" + ", ".join(row(r) for r in layer.weight) + "]")
        if layer.bias is not None:
            lines.append(f"bias = {row(layer.bias)}")
        if layer.freeze_bias:
            lines.append("freeze_bias = true")
        activation = json.dumps(layer.activation, ensure_ascii=False)
        comment = f"  # {' | '.join(ACTIVATIONS)} | a formula in x" if index == 0 else ""
        lines.append(f"activation = {activation}{comment}")
    if xs is not None and ys is not None:
        lines += ["", "[data]                  # one row per sample",
                  "x = [" + ", ".join(row(r) for r in xs) + "]",
                  "y = [" + ", ".join(row(r) for r in ys) + "]"]
    return "\n".join(lines) + "\n"
