"""From what a user gives (a spec file, shorthand options, samples) to the network and data.

Shared by the command line and the Python API. Precedence: command-line values override the
spec file's; with nothing given, the network, sample and settings are the seed's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import DataError, SpecError
from backprop_cli.losses import LOSSES
from backprop_cli.optimizers.base import SETTINGS

if TYPE_CHECKING:
    from backprop_cli.io import Spec
from backprop_cli.model import (
    DATASETS,
    SEED,
    SEED_X,
    SEED_Y,
    Network,
    Optimizer,
    Vector,
    convolutional_network,
    random_network,
)

GENERATED = {"shapes": "backprop_cli.shapes", "hello": "backprop_cli.sequences", "corpus": "backprop_cli.tokens"}
"""Data sets a module makes (``samples()``), each with the network it is shown with (``network(seed)``)."""


def generated(name: str) -> Any:
    """The module of the generated data set ``name``."""
    import importlib

    return importlib.import_module(GENERATED[name])


@dataclass(frozen=True)
class NetworkOptions:
    """The network and data options every command shares (all optional).

    Args:
        network: a spec file (.toml, .json) or a torch state_dict (.pt), or a Network itself.
        layers: widths, inputs first, for a randomly initialised network.
        input_shape: (C, L) or (C, H, W): a small random convolutional network for such samples.
        activation: one name or formula for every layer, or one per layer.
        loss: the loss name.
        lr: the learning rate.
        seed: seeds random initialisation (and shuffling in training).
        init: xavier, he or uniform.
        optimizer: sgd, momentum or adam, with ``momentum``, ``beta1``, ``beta2``, ``eps``.
        x: inputs, one sequence per sample.
        y: targets, one sequence per sample.
        data: xor, and, or, or a .csv/.npz/.npy file.
        targets: how many trailing columns of a data file are targets (None: 1; given for any other
            source of samples, an error).
        tokens: words, one sample of next-token prediction (``tokens.py``).
        token_ids: the same as ids.
        vocab_text: the text whose sorted distinct words are the vocabulary (else the tokens').
    """

    network: str | Network | None = None
    layers: Sequence[int] | None = None
    input_shape: Sequence[int] | None = None
    activation: Sequence[str] | None = None
    loss: str | None = None
    lr: float | None = None
    seed: int | None = None
    init: str | None = None
    optimizer: str | None = None
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    alpha: float | None = None
    weight_decay: float | None = None
    centered: bool | None = None
    x: Sequence[Sequence[float]] | None = None
    y: Sequence[Sequence[float]] | None = None
    data: str | None = None
    targets: int | None = None
    tokens: str | None = None
    token_ids: Sequence[float] | None = None
    vocab_text: str | None = None


def check_name(value: str | None, option: str) -> None:
    """An empty name, or one typed in look-alike (fullwidth, non-ASCII) letters, is refused by name."""
    if value is None:
        return
    import unicodedata

    if not value.strip():
        raise SpecError(f"{option}: the value is empty; give a name, or leave out --{option} for the default")
    plain = unicodedata.normalize("NFKC", value)
    if not value.isascii() and plain.isascii():
        raise SpecError(f"{option}: {value[:40]!r} is typed in non-ASCII (e.g. fullwidth) characters;"
                        f" type {plain[:40]!r} in plain ASCII")


def check_options(options: NetworkOptions) -> None:
    """The checks every entry point shares (step, train, verify, init and the Python API)."""
    for option in ("loss", "init", "optimizer", "data"):
        check_name(getattr(options, option), option)
    if isinstance(options.network, str):
        check_name(options.network, "network")
    for name in options.activation or ():
        check_name(name, "activation")
    if options.seed is not None and options.seed < 0:
        raise SpecError(f"seed: must be 0 or more, got {options.seed}")
    if options.layers is not None:
        for width in options.layers:
            if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                raise SpecError(f"layers: every width must be a whole number of at least 1, got {width!r}")


def resolve(options: NetworkOptions) -> tuple[Network, tuple[Vector, ...], tuple[Vector, ...]]:
    """The network and samples these options describe.

    Raises:
        BackpropError: for any inconsistent or malformed option, naming it.
    """
    check_options(options)
    file_xs: tuple[Vector, ...] | None = None
    file_ys: tuple[Vector, ...] | None = None
    activations = list(options.activation or [])
    data = (options.data or "").lower()
    if options.network is not None and (options.layers or options.input_shape):
        option = "layers" if options.layers else "input-shape"
        raise SpecError(f"{option}: give either --network FILE or --{option}, not both")
    if options.layers and options.input_shape:
        raise SpecError("layers: give either --input-shape (a convolutional network) or --layers, not both")
    tokens = _token_sample(options)
    if isinstance(options.network, Network):
        network = options.network
    elif options.network is not None:
        spec = load_network_file(options.network)
        network, file_xs, file_ys = spec.network, spec.xs, spec.ys
    elif tokens is not None:
        from backprop_cli.tokens import token_network

        size, token_xs, _ = tokens
        network = token_network(size, len(token_xs[0]), seed=options.seed or 0)
    elif options.input_shape:
        outputs = len(generated(data).samples()[1][0]) if data in GENERATED else _outputs(options)
        network = convolutional_network(options.input_shape, outputs, seed=options.seed or 0)
    elif data in GENERATED and not options.layers:
        network = generated(data).network(seed=options.seed or 0)
    elif options.layers:
        widths = list(options.layers)
        hidden = activations[0] if activations else "sigmoid"
        output = activations[-1] if activations else "sigmoid"
        loss = options.loss or ("cross_entropy" if output == "softmax" else "bce")
        network = random_network(widths, activation=hidden, output_activation=output, loss=loss,
                                 lr=1.0, seed=options.seed or 0, init=options.init or "xavier")
    else:
        if options.init is not None:
            raise SpecError("init: --init applies to random weights; add --layers (e.g. --layers 2 2 1)")
        network = SEED
    network = _override(network, options, activations)
    xs, ys = tokens[1:] if tokens is not None else _samples(options, network, file_xs, file_ys)
    return network, xs, class_targets(network, ys)


def _token_sample(options: NetworkOptions) -> tuple[int, tuple[Vector, ...], tuple[Vector, ...]] | None:
    """The vocabulary's size and the one sample of ``--tokens`` or ``--token-ids``; None without them."""
    if options.tokens is None and options.token_ids is None:
        if options.vocab_text is not None:
            raise DataError("vocab-text: goes with --tokens or --token-ids (the vocabulary they are read in)")
        return None
    option = "tokens" if options.tokens is not None else "token-ids"
    if options.x or options.y or options.data is not None:
        raise DataError(f"{option}: give either --{option} or --x/--y/--data, not both")
    if options.layers or options.input_shape:
        raise SpecError(f"{option}: --{option} builds its own network (or reads --network); leave out"
                        " --layers/--input-shape")
    from backprop_cli.tokens import from_options

    return from_options(options.tokens, options.token_ids, options.vocab_text)


def class_targets(network: Network, ys: Sequence[Vector]) -> tuple[Vector, ...]:
    """Targets given as class indices (one integer per sample, as torch's CrossEntropyLoss and
    NLLLoss take them) as the one-hot rows the page works with; other targets as they are."""
    entry = LOSSES.get(network.loss)
    outputs, positions = network.classes, network.positions
    if entry is None or not entry.classes or outputs == 1 or not ys or any(len(y) != positions for y in ys):
        return tuple(ys)
    each = "per sample" if positions == 1 else f"per position ({positions} a sample)"
    rows = []
    for n, values in enumerate(ys, start=1):
        row: list[float] = []
        for value in values:
            if value != int(value) or not 0 <= value < outputs:
                raise DataError(f"y (sample {n}): {value:g} is not a class index of the {outputs} outputs (0 to"
                                f" {outputs - 1}); give one class index {each}, or one-hot rows")
            row += [1.0 if k == int(value) else 0.0 for k in range(outputs)]
        rows.append(tuple(row))
    return tuple(rows)


def data_label(options: NetworkOptions, xs: Sequence[Vector], ys: Sequence[Vector]) -> str:
    """Where the samples ``resolve`` gave came from, for a training report: the data set or file
    (``options.data``), ``options`` (--x/--y), ``seed`` (the seed sample) or ``spec`` (a spec's [data])."""
    if options.data is not None:
        return options.data
    if options.x:
        return "options"
    if (tuple(xs), tuple(ys)) == (SEED_X, SEED_Y):
        return "seed"
    return "spec" if options.network is not None else "seed"


def load_network_file(path: str | Path) -> Spec:
    """A network file: a spec (.toml, .json) or a PyTorch state_dict (.pt, .pth, with its sidecar)."""
    if Path(path).suffix.lower() in (".pt", ".pth"):
        from backprop_cli.torch_io import load_state_dict_spec

        return load_state_dict_spec(path)
    from backprop_cli.io import load_spec

    return load_spec(path)


def _override(network: Network, options: NetworkOptions, activations: list[str]) -> Network:
    layers = network.layers
    if activations:
        # The layers that end with an activation (dense, activation) take one each.
        targets = [index for index, layer in enumerate(layers) if layer.activation is not None]
        if len(activations) == 1:
            names = activations * len(targets)
        elif len(activations) == len(targets):
            names = activations
        else:
            raise SpecError(
                f"activation: got {len(activations)} activations for {len(targets)} layers; give one"
                " for every layer or one per layer (e.g. --activation tanh sigmoid)")
        if len(activations) == 1 and activations[0] == "softmax" and len(targets) > 1:
            raise SpecError(
                "activation: softmax is for the output layer only; give one per layer,"
                f" e.g. --activation {' '.join(['sigmoid'] * (len(targets) - 1))} softmax")
        chosen = dict(zip(targets, names, strict=True))
        layers = tuple(replace(layer, activation=chosen[index]) if index in chosen else layer  # type: ignore[type-var]
                       for index, layer in enumerate(layers))
    optimizer = network.optimizer
    settings = {key: getattr(options, key) for key in SETTINGS if getattr(options, key) is not None}
    if options.optimizer is not None or settings:
        name = options.optimizer or optimizer.name
        _check_settings_read(name, settings)
        # The same optimizer keeps the file's settings; another one starts from its own defaults.
        kept = _optimizer_settings(optimizer) if name == optimizer.name else {}
        optimizer = Optimizer(name, **{**kept, **settings})
    loss = options.loss or network.loss
    if options.loss is None and activations and activations[-1] == "softmax" and loss == "bce":
        loss = "cross_entropy"
    lr = network.lr if options.lr is None else options.lr
    if not math.isfinite(lr) or lr <= 0:
        raise SpecError(f"lr: the learning rate must be a positive number, got {lr:g}")
    return replace(network, layers=layers, loss=loss, lr=lr, optimizer=optimizer)  # keeps the loss's beta


def _check_settings_read(name: str, settings: dict[str, Any]) -> None:
    """Refuse a command-line setting the optimizer does not read (``--optimizer sgd --momentum 0.5``
    would otherwise train plain SGD)."""
    from backprop_cli.optimizers import RULES, rule

    read = rule(name).settings
    for key, value in settings.items():
        if key not in read and value is not False:  # centered=False asks for nothing
            option = "--" + key.replace("_", "-")
            takers = [other for other in RULES if key in rule(other).settings]
            example = f"--optimizer {takers[0]} {option}" + ("" if value is True else f" {value:g}")
            raise SpecError(f"{key.replace('_', '-')}: --optimizer {name} takes no {option} (it reads"
                            f" {', '.join('--' + r.replace('_', '-') for r in read)}); {option} is a setting of"
                            f" {', '.join(takers)}, e.g. {example}")


def _optimizer_settings(optimizer: Optimizer) -> dict[str, Any]:
    return {key: getattr(optimizer, key) for key in SETTINGS}


def _outputs(options: NetworkOptions) -> int:
    """The outputs the targets given ask for: a one-hot row's width, else one."""
    ys = options.y or ()
    return max((len(y) for y in ys), default=1)


def _samples(options: NetworkOptions, network: Network, file_xs: tuple[Vector, ...] | None,
             file_ys: tuple[Vector, ...] | None) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    given_x, given_y = options.x, options.y
    data = (options.data or "").lower()
    if options.targets is not None and not data.endswith((".csv", ".npy")):
        source = f"--data {options.data} holds" if options.data else "these samples hold"
        raise DataError(f"targets: --targets K splits the columns of a .csv or .npy file given with --data;"
                        f" {source} the targets apart from the inputs, so leave --targets out")
    if given_x or given_y:
        if options.data is not None:
            raise DataError("data: give either --data or --x/--y, not both")
        if not given_x:
            raise DataError("x: --y was given without --x; give one --x for each --y")
        if not given_y:
            raise DataError("y: --x was given without --y; give one --y for each --x")
        return tuple(tuple(s) for s in given_x), tuple(tuple(s) for s in given_y)
    if options.data is not None:
        name = options.data.lower()
        if name in DATASETS:
            return DATASETS[name]
        if name in GENERATED:
            samples: tuple[tuple[Vector, ...], tuple[Vector, ...]] = generated(name).samples()
            return samples
        from backprop_cli.io import load_data

        return load_data(options.data, 1 if options.targets is None else options.targets)
    if file_xs is not None and file_ys is not None:
        return file_xs, file_ys
    if network.inputs == SEED.inputs and network.outputs == SEED.outputs:
        return SEED_X, SEED_Y
    if options.input_shape and options.network is None:
        # A random convolutional network: one random sample from the same seed, of the first class.
        import random

        rng = random.Random(options.seed or 0)
        x = tuple(round(rng.uniform(0.0, 1.0), 1) for _ in range(network.inputs))
        return (x,), (tuple(1.0 if k == 0 else 0.0 for k in range(network.outputs)),)
    raise DataError(
        f"x: no sample given; add --x with {network.inputs} value(s) and --y with"
        f" {network.outputs} value(s), or --data, or a [data] table in the spec")
