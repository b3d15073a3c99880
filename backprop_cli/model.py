"""The network: layers of registered kinds (``layers/``), a loss and an optimizer, as plain frozen data.

Nothing here knows sympy, numpy or the command line. A dense layer's weights follow
``torch.nn.Linear``: ``weight[j][k]`` connects input ``k`` to unit ``j`` of the layer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

from backprop_cli.errors import DataError, SpecError
from backprop_cli.layers import leaves, walk, with_values
from backprop_cli.layers.base import MAX_PARAMETERS, Kind, Path
from backprop_cli.layers.dense import Layer
from backprop_cli.losses import LOSSES, is_formula
from backprop_cli.losses import unknown as unknown_loss
from backprop_cli.names import ACTIVATIONS, ROW_WISE
from backprop_cli.optimizers import OPTIMIZERS
from backprop_cli.optimizers.base import LayerSlot, Optimizer, OptimizerSlots

__all__ = ["ACTIVATIONS", "OPTIMIZERS", "Layer", "LayerSlot", "Kind", "MAX_PARAMETERS", "Optimizer", "OptimizerSlots"]

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]

INITS = ("xavier", "he", "uniform")


@dataclass(frozen=True)
class Network:
    """A stack of layers with the loss and optimizer that train it."""

    layers: tuple[Kind, ...]
    loss: str = "bce"
    lr: float = 1.0
    optimizer: Optimizer = field(default_factory=Optimizer)
    beta: float = 1.0
    """smooth_l1's β (torch.nn.SmoothL1Loss's ``beta``); the other losses have no setting."""

    def __post_init__(self) -> None:
        validate(self)

    @property
    def inputs(self) -> int:
        return input_width(self.layers)

    @property
    def outputs(self) -> int:
        return self.widths[-1]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample: ``(C, H, W)`` or ``(C, L)`` for a network that starts with
        convolution or pooling (after element-wise layers, if any), else ``(inputs,)``."""
        for layer in self.layers:
            shape = layer.input_shape()
            if shape is not None:
                return shape
            if layer.shapes != "any":
                break
        return (self.inputs,)

    @property
    def positions(self) -> int:
        """The positions whose outputs the output layer's softmax and the loss take one by one: T for a
        softmax at every step of a sequence (a dense layer after ``embedding`` or ``output = "all"``,
        as torch's CrossEntropyLoss on the (N·T, C) logits), else 1 (each sample's outputs together)."""
        last = self.layers[-1]
        steps = last.time_steps(None)
        return steps if steps and last.activation in ROW_WISE else 1

    @property
    def classes(self) -> int:
        """The outputs at each position (all the outputs where ``positions`` is 1)."""
        return self.outputs // self.positions

    def per_position(self, array: Any) -> Any:
        """An array of outputs or targets (samples × outputs, numpy or torch) as one row per sample and
        position, as the loss takes them (``positions`` × samples rows of ``classes``)."""
        return array if self.positions == 1 else array.reshape(-1, self.classes)

    @property
    def widths(self) -> tuple[int, ...]:
        """The input width, then each layer's output width."""
        width = self.inputs
        out = [width]
        for layer in self.layers:
            width = layer.out_features(width)
            out.append(width)
        return tuple(out)

    @property
    def sizes(self) -> tuple[str, ...]:
        """The input's and each layer's output's size as pages write them: ``36``, or ``1×6×6`` for
        feature maps."""
        from backprop_cli.layers import shapes_of

        shapes = [self.input_shape, *shapes_of(self.layers, self.input_shape)]
        return tuple("×".join(map(str, shape)) for shape in shapes)

    @property
    def parameter_count(self) -> int:
        return sum(_size(value) for _, layer in leaves(self.layers) for value in layer.parameters().values())

    @property
    def scalar_form(self) -> bool:
        """Whether every layer's kind has a scalar form (a line per unit; the compiled engine runs it)."""
        return all(layer.scalar_form for layer in self.layers)

    @property
    def dense_layers(self) -> tuple[Layer, ...]:
        """The layers of a network whose every kind has the scalar form: dense ones (the scalar
        builder's and the graph's view)."""
        if not self.scalar_form:
            raise SpecError("layers: this needs dense layers only; the network has "
                            + ", ".join(sorted({layer.kind for layer in self.layers if not layer.scalar_form})))
        return tuple(layer for layer in self.layers if isinstance(layer, Layer))

    def with_parameters(self, weights: Sequence[Matrix], biases: Sequence[Vector | None]) -> Network:
        """The same network with other weights and biases, per layer (a network of dense layers)."""
        layers = tuple(
            replace(layer, weight=weight, bias=bias)  # type: ignore[type-var]
            for layer, weight, bias in zip(self.layers, weights, biases, strict=True)
        )
        return replace(self, layers=layers)

    def with_values(self, values: Mapping[tuple[Path, str], object]) -> Network:
        """The same network with the parameters (and buffers) of ``values``, keyed by (path, name)."""
        return replace(self, layers=with_values(self.layers, values))

    def parameter_values(self) -> dict[tuple[Path, str], object]:
        """Every parameter present, by (path, name), in forward order."""
        return {(path, name): value for path, layer in leaves(self.layers)
                for name, value in layer.parameters().items()}


def _size(value: object) -> int:
    if isinstance(value, (tuple, list)):
        return sum(_size(v) for v in value)
    return 1


def input_width(layers: Sequence[Kind]) -> int:
    """The network's input width: the first width a layer's parameters fix."""
    for _, layer in walk(layers):
        fixed = layer.in_features()
        if fixed is not None:
            return fixed
    raise SpecError("layers: no layer fixes the input width; start with a dense layer or give num_features")


def validate(network: Network) -> None:
    """Check shapes, names and numbers; raise SpecError naming the offending key."""
    if not network.layers:
        raise SpecError("layers: a network needs at least one layer")
    for index, layer in enumerate(network.layers):
        layer.validate(f"layers[{index}]")
    width = network.inputs
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        layer.check(f"layers[{index}]", width)
        width = layer.out_features(width)
    for path, layer in walk(network.layers):
        if layer.reads_tokens and path != (0,):
            key = "layers[" + "].layers[".join(map(str, path)) + "]"
            raise SpecError(f"{key}: {layer.kind} reads token ids, so it must be the network's first layer")
        if layer.activation in ROW_WISE and path != (last,):
            key = "layers[" + "].layers[".join(map(str, path)) + "]"
            raise SpecError(f"{key}.activation: {layer.activation} is allowed on the output layer only")
    entry = LOSSES.get(network.loss)
    if entry is None and not is_formula(network.loss):
        raise unknown_loss(network.loss)
    if entry is not None and entry.output is not None and network.layers[-1].activation != entry.output:
        raise SpecError(
            f"loss: {network.loss} needs activation = \"{entry.output}\" on the output layer"
            " (or pick another loss)"
        )
    if network.positions > 1 and (entry is None or entry.output != network.layers[-1].activation):
        raise SpecError(f"loss: softmax at every position works with loss = \"cross_entropy\" (torch's"
                        f" CrossEntropyLoss over every position), not {network.loss}")
    if not (math.isfinite(network.beta) and network.beta >= 0):
        raise SpecError(f"beta: smooth_l1's beta must be 0 or more, got {network.beta:g}")
    if not (math.isfinite(network.lr) and network.lr > 0):
        raise SpecError(f"lr: the learning rate must be a positive number, got {network.lr:g}")


def check_samples(network: Network, xs: Sequence[Vector], ys: Sequence[Vector]) -> None:
    """Check that samples fit the network and the loss; raise DataError otherwise."""
    if not xs or not ys:
        raise DataError("data: need at least one sample (give --x … --y …, or --data)")
    if len(xs) != len(ys):
        raise DataError(
            f"data: {len(xs)} inputs but {len(ys)} targets; give one --y for each --x"
        )
    inputs, outputs, first = network.inputs, network.outputs, network.layers[0]
    entry = LOSSES.get(network.loss)
    one_hot = entry is not None and entry.one_hot
    probabilities = entry is not None and entry.probabilities
    if _all_fit(xs, ys, inputs, outputs, one_hot, probabilities) and type(first).check_sample is Kind.check_sample:
        return  # the loop below names the first sample that does not fit
    several = len(xs) > 1
    for n, (x, y) in enumerate(zip(xs, ys, strict=True), start=1):
        where = f" (sample {n})" if several else ""
        if len(x) != inputs:
            raise DataError(f"x{where}: {len(x)} values but the network has {inputs} inputs")
        if len(y) != outputs:
            raise DataError(f"y{where}: {len(y)} values but the network has {outputs} outputs")
        for name, values in (("x", x), ("y", y)):
            for value in values:
                if not math.isfinite(value):
                    raise DataError(f"{name}{where}: {value} is not a finite number")
        first.check_sample(x, where)
        if one_hot and sorted(y) != [0.0] * (len(y) - 1) + [1.0]:
            raise DataError(f"y{where}: {network.loss} needs a one-hot row (or a class index) per sample,"
                            f" got {', '.join(f'{v:g}' for v in y)}")
        if probabilities:
            for value in y:
                if not 0.0 <= value <= 1.0:
                    raise DataError(
                        f"y{where}: {value:g} is outside [0, 1], which {network.loss} needs"
                        " (targets are probabilities)"
                    )


def _all_fit(xs: Sequence[Vector], ys: Sequence[Vector], inputs: int, outputs: int, one_hot: bool,
             probabilities: bool) -> bool:
    """Whether every sample passes ``check_samples``'s checks of widths and values, each check over all
    the samples at once (200,000 samples: a few ms)."""
    if set(map(len, xs)) != {inputs} or set(map(len, ys)) != {outputs}:
        return False
    targets = list(chain.from_iterable(ys))
    if not (all(map(math.isfinite, chain.from_iterable(xs))) and all(map(math.isfinite, targets))):
        return False
    if probabilities and not 0.0 <= min(targets) <= max(targets) <= 1.0:
        return False
    return not one_hot or set(targets) <= {0.0, 1.0} and set(map(sum, ys)) == {1.0}


# The network of the seed page: 2-2-1, sigmoid, binary cross-entropy, SGD with lr 1.
SEED = Network(
    layers=(
        Layer(weight=((0.4352, 0.3545), (0.1951, 0.4835)), bias=(-0.1419, 0.0439)),
        Layer(weight=((-0.1725, 0.1129),), bias=(-0.3043,)),
    ),
    loss="bce",
    lr=1.0,
)
SEED_X: tuple[Vector, ...] = ((1.0, 1.0),)
SEED_Y: tuple[Vector, ...] = ((0.0,),)

# Built-in data sets: the truth tables of two-input logic gates.
_GATE_INPUTS: tuple[Vector, ...] = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
DATASETS: dict[str, tuple[tuple[Vector, ...], tuple[Vector, ...]]] = {
    "xor": (_GATE_INPUTS, ((0.0,), (1.0,), (1.0,), (0.0,))),
    "and": (_GATE_INPUTS, ((0.0,), (0.0,), (0.0,), (1.0,))),
    "or": (_GATE_INPUTS, ((0.0,), (1.0,), (1.0,), (1.0,))),
}


def convolutional_network(shape: Sequence[int], outputs: int, *, seed: int = 0, channels: int = 2) -> Network:
    """A small random network for samples of ``shape`` ((C, L) or (C, H, W)), LeNet's order:
    convolution (``channels`` kernels of 3, or the input's size if smaller) with relu, max pooling
    by 2 where the maps are wide enough, flatten, and a dense output layer: softmax and
    cross-entropy for several outputs, sigmoid and bce for one. Kernels as torch initialises them,
    to 4 decimals."""
    from backprop_cli.layers import parse_layers
    from backprop_cli.layers.base import SpecContext

    shape = tuple(shape)
    if len(shape) not in (2, 3):
        raise SpecError(f"input-shape: give C L (a signal) or C H W (an image), got {len(shape)} number(s)")
    dims = len(shape) - 1
    kernel = min(3, *shape[1:])
    after = [n - kernel + 1 for n in shape[1:]]
    tables: list[dict[str, object]] = [
        {"kind": f"conv{dims}d", "out_channels": channels, "kernel_size": kernel, "activation": "relu"}]
    if min(after) >= 2:
        tables.append({"kind": f"max_pool{dims}d", "kernel_size": 2})
    tables.append({"kind": "flatten"})
    activation = "softmax" if outputs > 1 else "sigmoid"
    tables.append({"units": outputs, "activation": activation})
    width = math.prod(shape)
    if width * channels > MAX_PARAMETERS:
        raise SpecError(f"input-shape: {'×'.join(map(str, shape))} is too large for a random network")
    layers = parse_layers(tables, "layers", width, SpecContext(width, seed=seed, init="uniform", in_shape=shape))
    return Network(layers=tuple(layers), loss="cross_entropy" if outputs > 1 else "bce", lr=0.5)


def random_network(
    widths: Sequence[int],
    *,
    activation: str = "sigmoid",
    output_activation: str | None = None,
    loss: str = "bce",
    lr: float = 1.0,
    seed: int = 0,
    init: str = "xavier",
    bias: bool = True,
    decimals: int | None = 4,
) -> Network:
    """A network with random weights.

    ``xavier`` is Glorot-uniform and ``he`` Kaiming-uniform (biases zero); ``uniform`` is
    ``torch.nn.Linear``'s default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
    Values are rounded to ``decimals`` so that every printed weight is exact.

    Args:
        widths: units per layer, input layer first, e.g. ``(2, 2, 1)``.
        activation: for the hidden layers (and the output unless ``output_activation``).
        output_activation: for the output layer.
        loss: the loss name.
        lr: the learning rate.
        seed: seeds the random generator.
        init: ``xavier``, ``he`` or ``uniform``.
        bias: whether layers have biases.
        decimals: digits kept, or None for full precision.
    """
    if len(widths) < 2:
        raise SpecError("layers: give at least two widths, inputs first (e.g. --layers 2 2 1)")
    for width in widths:
        if width < 1:
            raise SpecError(f"layers: every width must be at least 1, got {width}")
    if init not in INITS:
        raise SpecError(f"init: unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    count = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True))
    if count > MAX_PARAMETERS:
        raise SpecError(
            f"layers: {' → '.join(map(str, widths))} has {count:,} parameters; at most"
            f" {MAX_PARAMETERS:,} are allowed")
    rng = random.Random(seed)
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = index == len(widths) - 2
        name = output_activation if (last and output_activation) else activation
        layers.append(Layer.random(fan_in, fan_out, rng, init=init, bias=bias, decimals=decimals,
                                   activation=name))
    return Network(layers=tuple(layers), loss=loss, lr=lr)
