"""Files: network spec files (TOML, JSON), data files (CSV, npz/npy), atomic writes.

Spec files are checked key by key: an unknown or misspelt key, a wrong type, a ragged or
mis-chained shape is a SpecError that names the key, e.g. ``layers[1].weight``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprop_cli.errors import DataError, OutputError, SpecError
from backprop_cli.layers import layer_spec, parse_layers
from backprop_cli.layers.base import SpecContext, flag, integer, matrix, number, shown, unknown_key
from backprop_cli.layers.dense import Layer
from backprop_cli.losses import NAMES as LOSS_NAMES
from backprop_cli.model import ACTIVATIONS, INITS, OPTIMIZERS, Network, Optimizer, Vector
from backprop_cli.optimizers.base import SETTINGS

TOP_KEYS = ("loss", "beta", "lr", "optimizer", *SETTINGS, "layers", "data",
            "inputs", "input_shape", "seed", "init")
LAYER_KEYS = Layer.keys
"""The keys of a dense layer's table (each kind's are its class's ``keys``)."""
DATA_KEYS = ("x", "y")


@dataclass(frozen=True)
class Spec:
    """What a spec file gives: the network and, if it has a ``[data]`` table, samples."""

    network: Network
    xs: tuple[Vector, ...] | None = None
    ys: tuple[Vector, ...] | None = None


def parse_spec(document: dict[str, Any]) -> Spec:
    """A Spec from a parsed TOML/JSON document.

    Raises:
        SpecError: naming the first offending key.
    """
    if not isinstance(document, dict):
        raise SpecError("spec: the file must hold a table of keys (loss, lr, layers, …)")
    for key in document:
        if key not in TOP_KEYS:
            raise unknown_key(key, TOP_KEYS, "")
    layers_doc = document.get("layers")
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError("layers: the spec needs a [[layers]] table for each layer")
    loss = document.get("loss", "bce")
    if not isinstance(loss, str):
        raise SpecError(f"loss: expected a name such as \"bce\", got {shown(loss)}")
    lr = number(document.get("lr", 1.0), "lr")
    optimizer_name = document.get("optimizer", "sgd")
    if not isinstance(optimizer_name, str):
        raise SpecError(f"optimizer: expected a name such as \"sgd\", got {shown(optimizer_name)}")
    optimizer_settings: dict[str, Any] = {key: number(document[key], key)
                          for key in SETTINGS if key in document and key != "centered"}
    if "centered" in document:
        optimizer_settings["centered"] = flag(document["centered"], "centered")
    optimizer = Optimizer(optimizer_name, **optimizer_settings)
    seed = integer(document.get("seed", 0), "seed", minimum=0)
    init = document.get("init", "xavier")
    if not isinstance(init, str):
        raise SpecError(f"init: expected xavier, he or uniform, got {shown(init)}")
    if init not in INITS:
        raise SpecError(f"init: unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    previous = integer(document["inputs"], "inputs") if "inputs" in document else None
    shape = sample_shape(document["input_shape"]) if "input_shape" in document else None
    if shape is not None:
        if previous is not None and previous != math.prod(shape):
            raise SpecError(f"inputs: is {previous} but input_shape {list(shape)} holds {math.prod(shape)} values;"
                            " give one of them")
        previous = math.prod(shape)
    for index, layer_doc in enumerate(layers_doc):
        if not isinstance(layer_doc, dict):
            raise SpecError(f"layers[{index}]: expected a table with weight/bias or units")
    layers = parse_layers(layers_doc, "layers", previous, SpecContext(previous, seed=seed, init=init, in_shape=shape))
    beta = number(document.get("beta", 1.0), "beta")
    network = Network(layers=tuple(layers), loss=loss, lr=lr, optimizer=optimizer, beta=beta)
    xs = ys = None
    if "data" in document:
        data = document["data"]
        if not isinstance(data, dict):
            raise SpecError("data: expected a table with x and y")
        for key in data:
            if key not in DATA_KEYS:
                raise unknown_key(key, DATA_KEYS, "data.")
        if "x" not in data or "y" not in data:
            raise SpecError("data: needs both x and y, one row per sample")
        xs = matrix([flat_sample(row, f"data.x[{i}]") for i, row in enumerate(data["x"])]
                    if shape is not None and isinstance(data["x"], list) else data["x"], "data.x")
        raw = data["y"]
        # One number per sample (a class index, or a single output): a column of them.
        flat = isinstance(raw, list) and raw and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in raw)
        ys = matrix([[v] for v in raw] if flat else raw, "data.y")
    return Spec(network, xs, ys)


def sample_shape(value: Any) -> tuple[int, ...]:
    """``input_shape``: [C, L] or [C, H, W] (one sample's shape, as torch's without the batch axis)."""
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise SpecError(f"input_shape: expected [C, L] or [C, H, W] (channels, then length or height and width),"
                        f" got {shown(value)}")
    shape = tuple(integer(v, f"input_shape[{i}]") for i, v in enumerate(value))
    if math.prod(shape) > 1_000_000:
        raise SpecError(f"input_shape: {list(shape)} holds more than 1,000,000 values a sample")
    return shape


def flat_sample(row: Any, key: str) -> Any:
    """A sample given nested to its shape ([[[…]]]) as one row in C order; a flat row as it is."""
    if not isinstance(row, list):
        return row
    out: list[Any] = []
    for index, item in enumerate(row):
        if isinstance(item, list):
            out.extend(flat_sample(item, f"{key}[{index}]"))
        else:
            out.append(item)
    return out


def load_spec(path: str | Path) -> Spec:
    """Read a spec file (.toml or .json; ``resolve.load_network_file`` reads .pt files too)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise SpecError(f"network: {path} should end in .toml, .json or .pt")
    return parse_spec(read_document(path))


def read_document(path: Path, what: str = "network") -> dict[str, Any]:
    """The parsed TOML or JSON document of a spec file (checked by ``parse_spec`` afterwards).

    Raises:
        SpecError: when the file cannot be read or is not valid TOML/JSON.
    """
    text = _read_text(path, what)
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            try:
                document: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                raise SpecError(f"{what}: {path} is not valid TOML ({error})") from None
        else:
            try:
                document = json.loads(text, object_pairs_hook=_unique_keys)
            except SpecError as error:
                raise SpecError(f"{what}: {path}: {error}") from None
            except json.JSONDecodeError as error:
                raise SpecError(f"{what}: {path} is not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise SpecError(f"{what}: {path} nests lists or tables too deeply") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise SpecError(f"{what}: {path} cannot be read ({error})") from None
    if not isinstance(document, dict):
        raise SpecError(f"{what}: {path} must hold a table of keys (loss, lr, layers, …)")
    return document


MAX_INPUT_BYTES = 64_000_000
"""Spec and data files larger than this are refused before they are read."""


def check_readable(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> int:
    """The size of ``path``, a regular file of at most ``limit`` bytes; else a SpecError.

    A FIFO, a device (``/dev/zero``) or a socket is refused without reading from it (reading
    would block forever or never end); a link is followed to what it points to.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SpecError(f"{what}: {path} does not exist") from None
    except OSError as error:
        raise SpecError(f"{what}: cannot read {path} ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(f"{what}: {path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{what}: {path} is not a regular file (a device, FIFO or socket); give a file")
    if info.st_size > limit:
        raise SpecError(f"{what}: {path} is {info.st_size:,} bytes, more than the {limit:,} this tool reads;"
                        " use a smaller file")
    return info.st_size


def _read_text(path: Path, what: str) -> str:
    limit = MAX_INPUT_BYTES
    check_readable(path, what, limit)
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO after the check, opening it does not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise SpecError(f"{what}: {path} is not a regular file; give a file")
            data = file.read(limit + 1)
    except OSError as error:
        raise SpecError(f"{what}: cannot read {path} ({error.strerror})") from None
    if len(data) > limit:
        raise SpecError(f"{what}: {path} is more than {limit:,} bytes; use a smaller file")
    try:
        # utf-8-sig: a byte-order mark (as some editors write) is not part of the first value.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{what}: {path} is not UTF-8 text") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (TOML refuses a repeated key; so does this)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise SpecError(f"key {shown(key)} is given twice; keep one")
        document[key] = value
    return document


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
    try:
        import io as text_io

        rows = [row for row in csv.reader(text_io.StringIO(text, newline="")) if any(map(str.strip, row))]
    except csv.Error as error:
        raise DataError(f"data: {path} is not a readable CSV file ({error})") from None
    if not rows:
        raise DataError(f"data: {path} is empty")
    # A header is a first row without any number; a first row with a typo is a sample (and an error).
    if not any(_is_number(cell) for cell in rows[0]):
        rows = rows[1:]
        if not rows:
            raise DataError(f"data: {path} has a header but no samples")
    width = len(rows[0])
    if targets < 1:
        raise DataError(f"targets: must be at least 1, got {targets}")
    if width <= targets:
        raise DataError(
            f"data: {path} has {width} column(s); with {targets} target column(s) there must be"
            " at least one input column (--targets sets how many are targets)")
    xs, ys = [], []
    finite = math.isfinite
    for line, row in enumerate(rows, start=1):
        if len(row) != width:
            raise DataError(f"data: {path} sample {line} has {len(row)} columns, the first has {width}")
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            values = []
        joined = "".join(row)
        if len(values) != width or not all(map(finite, values)) or "\n" in joined or "\r" in joined:
            _bad_cell(path, line, row)
        xs.append(tuple(values[:-targets]))
        ys.append(tuple(values[-targets:]))
    return tuple(xs), tuple(ys)


def _bad_cell(path: Path, line: int, row: Sequence[str]) -> None:
    """Raise DataError naming the first cell of this row that is not a finite number."""
    for column, cell in enumerate(row, start=1):
        where = f"data: {path} sample {line}, column {column}:"
        if not _is_number(cell) or "\n" in cell or "\r" in cell:
            raise DataError(f"{where} {shown(cell.strip())} is not a number")
        if not math.isfinite(float(cell)):
            raise DataError(f"{where} {cell.strip()} is not finite")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _load_numpy(path: Path, targets: int) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    import zipfile

    import numpy as np

    try:
        check_readable(path, "data")
    except SpecError as error:
        raise DataError(str(error)) from None
    try:
        with path.open("rb") as file:
            magic = file.read(len(_NPY_MAGIC))
    except OSError as error:
        raise DataError(f"data: cannot read {path} ({error.strerror})") from None
    if not (magic.startswith(_NPY_MAGIC) or magic.startswith(_ZIP_MAGIC)):
        hint = " (it looks like a pickle, which is never loaded)" if magic[:1] == b"\x80" else ""
        raise DataError(f"data: {path} is not a .npy or .npz file{hint}; save arrays with"
                        " numpy.save or numpy.savez(file, x=…, y=…)")
    try:
        # allow_pickle=False: object arrays (pickles) are refused by numpy, nothing in them runs.
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            array = _float_array(loaded, path, "the array")
            if array.ndim != 2 or array.shape[1] <= targets:
                raise DataError(
                    f"data: {path} must hold a 2-D array with input columns then {targets} target column(s),"
                    f" not shape {array.shape}")
            x, y = array[:, :-targets], array[:, -targets:]
        else:
            with loaded:
                missing = [k for k in ("x", "y") if k not in loaded.files]
                if missing:
                    raise DataError(f"data: {path} needs arrays named x and y (missing {', '.join(missing)})")
                x, y = _float_array(loaded["x"], path, "x"), _float_array(loaded["y"], path, "y")
    except DataError:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise DataError(f"data: {path} holds pickled (object) arrays, which are never loaded;"
                            " save numeric arrays") from None
        raise DataError(f"data: {path} is not a readable numpy file ({_first_line(error)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"data: {path} is not a readable numpy file ({_first_line(error)})") from None
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise DataError(f"data: {path}: x and y must be 2-D with one row per sample (shapes {x.shape}, {y.shape})")
    if len(x) == 0 or x.shape[1] == 0 or y.shape[1] == 0:
        raise DataError(f"data: {path} holds no samples (shapes {x.shape}, {y.shape})")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError(f"data: {path} holds values that are not finite")
    return tuple(map(tuple, x.tolist())), tuple(map(tuple, y.tolist()))


def _float_array(array: Any, path: Path, name: str) -> Any:
    """``array`` as float64; a DataError for text, complex or other non-numeric arrays."""
    import numpy as np

    if array.dtype.kind not in "biuf":
        raise DataError(f"data: {path}: {name} holds {array.dtype} values, not real numbers")
    with np.errstate(all="ignore"):  # float128 beyond float64's range: inf, refused as not finite
        return np.asarray(array, dtype=np.float64)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return shown(text[0] if text else type(error).__name__, 120).strip("'\"")


def check_writable(path: str | Path, force: bool) -> Path:
    """The file to write for ``path``: refuses what is not a regular file or a missing path.

    An existing file is replaced only with ``force``; a symbolic link only with ``force``, and
    then the file it points to is written (never a device, a FIFO or a folder). Checked before
    any work is done.

    Raises:
        OutputError: naming the problem and the fix.
    """
    path = Path(path)
    target = path
    if path.is_symlink():
        if not force:
            raise OutputError(f"output: {path} is a symbolic link; use --force to write to the file it points to")
        target = Path(os.path.realpath(path))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise OutputError(f"output: cannot write {path} ({error.strerror})") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"output: {path} is a directory; give a file name")
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"output: {path} is not a regular file (a device, FIFO or socket);"
                              " give the name of a file")
        if not force and target == path:
            raise OutputError(f"output: {path} exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise OutputError(f"output: the folder {target.parent} does not exist")
    return target


def check_folder(path: str | Path) -> Path:
    """A folder to write files into: an existing folder, or a new one whose parent exists.

    Raises:
        OutputError: naming the problem and the fix.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputError(f"output: {path} is not a folder; give a folder to write the files into")
    elif not path.parent.is_dir():
        raise OutputError(f"output: the folder {path.parent} does not exist; create it first")
    return path


def check_distinct(paths: dict[str, Path | None]) -> None:
    """Refuse two output options that name the same file (one write would lose the other)."""
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None:
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise OutputError(f"output: {seen[key]} and {option} both name {path}; give each its own file")
        seen[key] = option


def write_atomic(path: str | Path, data: str | bytes, force: bool = False) -> Path:
    """Write to a temporary file beside ``path``, flush it to disk and rename it into place.

    The rename is atomic (POSIX ``rename``, Windows ``MoveFileEx``), so an interrupted or failed
    write leaves the old file or the new one, never half of one, and the temporary file is
    removed. The new file gets the old file's permissions, or the usual ones (0666 less umask).

    Raises:
        OutputError: when the file exists and ``force`` is false, or cannot be written.
    """
    path = check_writable(path, force)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = path.stat().st_mode & 0o7777 if path.is_file() else _default_mode()
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputError(f"output: cannot write {path} ({error.strerror or error})") from None
    try:
        # mkstemp makes the file private (0600); give it the permissions open() would (0666 less umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OutputError(f"output: cannot write {path} ({error.strerror or error})") from None
        raise
    _sync_folder(path.parent)
    return path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk too (POSIX); where folders cannot be opened, nothing to do."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


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
        f'loss = "{network.loss}"            # {" | ".join(LOSS_NAMES)}',
        *([f"beta = {number(network.beta)}"] if network.beta != 1.0 else []),
        f"lr = {number(network.lr)}",
        f'optimizer = "{network.optimizer.name}"       # {" | ".join(OPTIMIZERS)}',
    ]
    for key, item in _written_settings(network).items():
        text = ("true" if item else "false") if isinstance(item, bool) else repr(item) if key == "eps" else number(item)
        lines.append(f"{key} = {text}")
    if len(network.input_shape) > 1:
        lines.append(f"input_shape = {list(network.input_shape)}")
    widths = network.widths

    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, str):
            return json.dumps(item, ensure_ascii=False)
        if isinstance(item, (int, float)):
            return number(item) if isinstance(item, float) else str(item)
        if item and isinstance(item[0], (list, tuple)):
            return "[" + ", ".join(value(r) for r in item) + "]"
        return row(item)

    def table(entry: dict[str, Any], name: str, comment: str, first: bool) -> None:
        lines.extend(["", f"[[{name}]]".ljust(24) + f"# {comment}"])
        nested = entry.pop("layers", None)
        for key, item in entry.items():
            note = f"  # {' | '.join(ACTIVATIONS)} | a formula in x" if key == "activation" and first else ""
            lines.append(f"{key} = {value(item)}{note}")
        for index, layer in enumerate(nested or ()):
            table(dict(layer), f"{name}.layers", f"{name}.layers[{index}]: {layer.get('kind', 'dense')}", False)

    sizes = network.sizes
    for index, layer in enumerate(network.layers):
        inputs = sizes[index] if "×" in sizes[index] else f"{widths[index]} input{'s' if widths[index] != 1 else ''}"
        units = (sizes[index + 1] if "×" in sizes[index + 1]
                 else f"{widths[index + 1]} unit{'s' if widths[index + 1] != 1 else ''}")
        table(layer_spec(layer), "layers", f"layer {index + 1}: {inputs} -> {units}", index == 0)
    if xs is not None and ys is not None:
        lines += ["", "[data]                  # one row per sample",
                  "x = [" + ", ".join(row(r) for r in xs) + "]",
                  "y = [" + ", ".join(row(r) for r in ys) + "]"]
    return "\n".join(lines) + "\n"

def _written_settings(network: Network) -> dict[str, Any]:
    """The optimizer's settings a spec file records: those its rule reads, less a zero weight decay
    and an uncentered RMSprop (their defaults)."""
    settings = network.optimizer.settings()
    if not settings.get("weight_decay", 1.0) and network.optimizer.name != "adamw":
        settings.pop("weight_decay")
    if not settings.get("centered", True):
        settings.pop("centered")
    return settings


def spec_text(file: Path, network: Network, xs: Sequence[Vector] | None, ys: Sequence[Vector] | None,
              header: str = "") -> str:
    """A spec file's text in ``file``'s format: TOML with ``header`` as comments, or JSON."""
    if file.suffix.lower() == ".toml":
        return spec_toml(network, xs, ys, header=header)
    return json.dumps(spec_document(network, xs, ys), indent=2) + "\n"


def spec_document(network: Network, xs: Sequence[Vector] | None = None,
                  ys: Sequence[Vector] | None = None) -> dict[str, Any]:
    """The spec of ``network`` (and samples) as the dict a JSON spec file holds."""
    layers = [layer_spec(layer) for layer in network.layers]
    document: dict[str, Any] = {"loss": network.loss, **({"beta": network.beta} if network.beta != 1.0 else {}),
                                "lr": network.lr, "optimizer": network.optimizer.name}
    document.update(_written_settings(network))
    if len(network.input_shape) > 1:
        document["input_shape"] = list(network.input_shape)
    document["layers"] = layers
    if xs is not None and ys is not None:
        document["data"] = {"x": [list(r) for r in xs], "y": [list(r) for r in ys]}
    return document
