"""``conv1d`` and ``conv2d``: ``nn.Conv1d`` and ``nn.Conv2d`` (then an activation, identity by default).

Forward, for output channel o at (i, j): ``z[o,i,j] = Σ_c Σ_p Σ_q K[o,c,p,q] · x[c, i·s + p − pad, j·s + q − pad]
+ b[o]`` (a cross-correlation, as torch computes it; the padding holds zeros), then ``a = f(z)``.
Backward, from δ = ∂𝓛/∂z: the kernel is shared by every position, so
``∂𝓛/∂K[o,c,p,q] = Σ_n Σ_i Σ_j δ[o,i,j] · x[c, i·s + p − pad, j·s + q − pad]`` (the correlation of the
input with δ), ``∂𝓛/∂b[o] = Σ_n Σ_i Σ_j δ[o,i,j]``, and each input gathers δ·K from every window it
was in (the full convolution of δ with the kernel). ``weight`` has torch's layout
``(out_channels, in_channels, kernel_h, kernel_w)`` (``kernel_size`` for conv1d); a sample is kept
flat, ``C·H·W`` values in C order (``windows.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import (
    MAX_PARAMETERS,
    Array,
    Kind,
    NumpyRun,
    Path,
    SpecContext,
    check_keys,
    integer,
    number,
    shown,
    vector,
)
from backprop_cli.layers.windows import (
    Window,
    Windowed,
    input_shape,
    kernel_steps,
    map_steps,
    pair,
    window,
    written,
)

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message


def tensor(value: Any, key: str, depth: int) -> tuple[Any, tuple[int, ...]]:
    """Nested lists of numbers ``depth`` deep, all of one shape: (nested tuples, shape)."""
    if depth == 0:
        return number(value, key), ()
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key}: expected nested lists {depth} deep (torch's layout), got {shown(value)}")
    items = [tensor(item, f"{key}[{i}]", depth - 1) for i, item in enumerate(value)]
    shape = items[0][1]
    for i, (_, other) in enumerate(items):
        if other != shape:
            raise SpecError(f"{key}[{i}]: has shape {'×'.join(map(str, other))} but {key}[0] has"
                            f" {'×'.join(map(str, shape))} (ragged)")
    return tuple(item for item, _ in items), (len(items), *shape)


@dataclass(frozen=True)
class Convolution(Windowed, Kind):
    """A convolution over ``window`` with ``weight`` (out, in, kernel…) and ``bias`` (one per output channel).

    Args:
        weight: the kernels, torch's layout.
        bias: one value per output channel, or None.
        window: the input's maps and the kernel's size, stride and padding.
        activation: applied to every output element.
    """

    weight: Any
    bias: tuple[float, ...] | None
    window: Window
    activation: str = "identity"

    dims: ClassVar[int] = 2
    keys = ("kind", "in_channels", "out_channels", "kernel_size", "stride", "padding", "bias", "weight",
            "activation")
    parameter_names = ("weight", "bias")
    state_names = ("weight", "bias")
    glyphs = {"weight": "K", "bias": "b"}

    @property
    def out_channels(self) -> int:
        return len(self.weight)

    @property
    def kernel(self) -> Any:
        """The weight as an array (out, in, kernel_h, kernel_w), 1-D kernels with a height of 1."""
        import numpy as np

        return np.array(self.weight, dtype=float).reshape(self.out_channels, self.window.channels, *self.window.kernel)

    @property
    def maps_out(self) -> int:
        return self.out_channels

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        kernel = "×".join(map(str, self.window.kernel[2 - self.dims:]))
        activation = f", {named(self.activation, lang)}" if self.activation != "identity" else ""
        return f"{named(self.kind, lang)} {self.out_channels}@{kernel}{activation}"

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        return len(shapes.get("weight", ())) == cls.dims + 2 and set(shapes) <= {"weight", "bias"}

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Convolution:
        check_keys(document, cls.keys, where + ".")
        dims = cls.dims
        shape = input_shape(context.in_shape, document, where, dims, cls.kind)
        channels = shape[0]
        if "in_channels" in document and integer(document["in_channels"], f"{where}.in_channels") != channels:
            raise SpecError(f"{where}.in_channels: is {document['in_channels']} but the input has {channels}"
                            " channel(s)")
        activation = document.get("activation", "identity")
        if not isinstance(activation, str):
            raise SpecError(f"{where}.activation: expected a name or a formula in x, got {shown(activation)}")
        stride = pair(document.get("stride", 1), f"{where}.stride", dims, 1)
        padding = pair(document.get("padding", 0), f"{where}.padding", dims, 0)
        if "weight" in document:
            weight, got = tensor(document["weight"], f"{where}.weight", dims + 2)
            if got[1] != channels:
                raise SpecError(f"{where}.weight: has {got[1]} input channel(s) (its second axis) but the input"
                                f" has {channels}")
            kernel = (1, got[2]) if dims == 1 else (got[2], got[3])
            if "kernel_size" in document and pair(document["kernel_size"], f"{where}.kernel_size", dims, 1) != kernel:
                raise SpecError(f"{where}.kernel_size: is {shown(document['kernel_size'])} but the weight's kernels are"
                                f" {'×'.join(map(str, got[2:]))}")
            if "out_channels" in document and integer(document["out_channels"], f"{where}.out_channels") != got[0]:
                raise SpecError(f"{where}.out_channels: is {document['out_channels']} but the weight has {got[0]}")
            raw = document.get("bias")
            bias = None if raw is None or raw is False else vector(raw, f"{where}.bias")
            if bias is not None and len(bias) != got[0]:
                raise SpecError(f"{where}.bias: has {len(bias)} values but the layer has {got[0]} output channels")
            slide = window(shape, kernel, stride, padding, where, dims)
        else:
            for key in ("out_channels", "kernel_size"):
                if key not in document:
                    raise SpecError(f"{where}: needs weight (and bias), or out_channels and kernel_size for random"
                                    " weights")
            out_channels = integer(document["out_channels"], f"{where}.out_channels")
            kernel = pair(document["kernel_size"], f"{where}.kernel_size", dims, 1)
            slide = window(shape, kernel, stride, padding, where, dims)
            fan_in = channels * kernel[0] * kernel[1]
            if (fan_in + 1) * out_channels > MAX_PARAMETERS:
                raise SpecError(f"{where}.out_channels: the layer would have more than {MAX_PARAMETERS:,} parameters")
            has_bias = document.get("bias", True)
            if not isinstance(has_bias, bool):
                raise SpecError(f"{where}.bias: with random weights, bias is true or false, got {shown(has_bias)}")
            weight, bias = cls.random(out_channels, slide, random.Random(context.seed), has_bias)
        if min(slide.out) < 1:
            raise SpecError(f"{where}: the output would be empty; use a smaller kernel or stride, or more padding")
        return cls(weight=weight, bias=bias, window=slide, activation=activation)

    @classmethod
    def random(cls, out_channels: int, slide: Window, rng: random.Random, bias: bool) -> tuple[Any, Any]:
        """torch's default initialisation, U(−1/√fan_in, 1/√fan_in) for kernels and biases, to 4 decimals."""
        fan_in = slide.channels * slide.kernel[0] * slide.kernel[1]
        bound = 1.0 / math.sqrt(fan_in)

        def draw() -> float:
            return round(rng.uniform(-bound, bound), 4)

        def kernel() -> Any:
            rows = tuple(tuple(draw() for _ in range(slide.kernel[1])) for _ in range(slide.kernel[0]))
            return rows[0] if cls.dims == 1 else rows

        weight = tuple(tuple(kernel() for _ in range(slide.channels)) for _ in range(out_channels))
        return weight, (tuple(draw() for _ in range(out_channels)) if bias else None)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "in_channels": self.window.channels,
                                 "out_channels": self.out_channels,
                                 "kernel_size": written(self.window.kernel, self.dims)}
        if self.window.stride != (1, 1):
            entry["stride"] = written(self.window.stride, self.dims)
        if self.window.padding != (0, 0):
            entry["padding"] = written(self.window.padding, self.dims)
        entry["weight"] = _lists(self.weight)
        if self.bias is not None:
            entry["bias"] = list(self.bias)
        else:
            entry["bias"] = False
        if self.activation != "identity":
            entry["activation"] = self.activation
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def correlate(self, X: Array, K: Array, b: Array | None) -> Array:
        """z for the flat rows ``X`` (N × C·H·W): (N, out, out_h, out_w)."""
        import numpy as np

        windows = self.window.view(X)
        z = np.tensordot(windows, K.reshape(self.out_channels, self.window.channels, *self.window.kernel),
                         axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
        if b is not None:
            z = z + np.reshape(b, (1, -1, 1, 1))
        return z

    def gradients(self, X: Array, K: Array, delta: Array, wants_input: bool) -> tuple[Array, Array, Array | None]:
        """∂𝓛/∂K (out, in, kh, kw), ∂𝓛/∂b (out) and ∂𝓛/∂X (N × C·H·W, or None) from δ (N, out, out_h, out_w)."""
        import numpy as np

        windows = self.window.view(X)
        grad_k = np.tensordot(delta, windows, axes=([0, 2, 3], [0, 2, 3]))
        grad_b = delta.sum(axis=(0, 2, 3))
        grad_x = None
        if wants_input:
            K = K.reshape(self.out_channels, self.window.channels, *self.window.kernel)
            spread = np.tensordot(delta, K, axes=([1], [0])).transpose(0, 3, 1, 2, 4, 5)
            grad_x = self.window.fold(spread)
        return grad_k, grad_b, grad_x

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        from backprop_cli.layers.elementwise import numpy_activation

        z = self.correlate(X, run.params[(path, "weight")], run.param(path, "bias")).reshape(X.shape[0], -1)
        function = numpy_activation(self.activation)
        a = function.forward(z)
        run.cache[path] = {"x": X, "z": z, "a": a, "f": function}
        return a

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        cache = run.cache[path]
        delta = G if pre_activation else cache["f"].backward(cache["z"], cache["a"], G)
        oh, ow = self.window.out
        K = run.params[(path, "weight")]
        grad_k, grad_b, grad_x = self.gradients(cache["x"], K, delta.reshape(-1, self.out_channels, oh, ow),
                                                run.wants_input(path))
        run.grads[(path, "weight")] = grad_k.reshape(K.shape)
        if self.bias is not None:
            run.grads[(path, "bias")] = grad_b
        return grad_x if grad_x is not None else delta

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import activation_module

        module = torch.nn.Conv1d if self.dims == 1 else torch.nn.Conv2d
        kernel = self.window.kernel[2 - self.dims:]
        conv = module(self.window.channels, self.out_channels, kernel, stride=self.window.stride[2 - self.dims:],
                      padding=self.window.padding[2 - self.dims:], bias=self.bias is not None, dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor(self.weight, dtype=torch.float64))
            if self.bias is not None:
                conv.bias.copy_(torch.tensor(self.bias, dtype=torch.float64))
        parts = [torch.nn.Unflatten(1, self.window.in_shape), conv, torch.nn.Flatten()]
        if not without_activation:
            parts.append(activation_module(torch, self.activation))
        return torch.nn.Sequential(*parts)

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {name: getattr(module[1], name) for name in self.parameters()}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import name, say

        w = self.window
        activation = name(self.activation)
        return say("kind.conv.title", layer=number, kind=name(self.kind), inputs="×".join(map(str, w.in_shape)),
                   outputs="×".join(map(str, self.out_shape(w.in_shape))), channels=self.out_channels,
                   kernel="×".join(map(str, w.kernel[2 - self.dims:])), stride=written(w.stride, self.dims),
                   padding=written(w.padding, self.dims), activation=activation)

    def pre_activation(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> sp.Basic:
        return page.Z(page.number(path))

    def kernel_symbol(self, symbols: Any, o: int, c: int, p: int, q: int) -> Any:
        return symbols[o][c][q] if self.dims == 1 else symbols[o][c][p][q]

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        import sympy as sp

        from backprop_cli.layers.activation import scalar_activation
        from backprop_cli.locales import say
        from backprop_cli.notation import add, mul

        K = page.parameter(path, "weight")
        b = page.parameter(path, "bias") if self.bias is not None else None
        w = self.window
        H, W = w.size
        oh, ow = w.out
        steps: list[Step] = []
        outputs = []
        for n, row in enumerate(inputs):
            zs = []
            for o in range(self.out_channels):
                for i in range(oh):
                    for j in range(ow):
                        terms = [mul(self.kernel_symbol(K, o, c, p, q), row[w.index(c, h, x, H, W)])
                                 for c in range(w.channels) for p, q, h, x in w.taps(i, j)]
                        if b is not None:
                            terms.append(b[o])
                        z = page.node("z", path, (o * oh + i) * ow + j, n)
                        note = say("kind.conv.scalar", kernel="×".join(map(str, w.kernel[2 - self.dims:])),
                                   channels=w.channels) if not steps else None
                        steps.append(page.define(path, z, add(*terms) if terms else sp.S.Zero, note=note))
                        zs.append(z)
            outputs.append(scalar_activation(page, path, self.activation, zs, n, steps))
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.layers.dense import matrix_activation
        from backprop_cli.locales import say
        from backprop_cli.notation import Correlate, add

        number = page.number(path)
        values = page.arrays
        K = page_symbol(page, path, "weight")
        b = page_symbol(page, path, "bias") if self.bias is not None else None
        z = self.correlate(values[inputs], values[K], None if b is None else values[b].reshape(-1))
        expr = Correlate(inputs, K) if b is None else add(Correlate(inputs, K), b)
        w = self.window
        note = say("kind.conv.matrix", inputs="×".join(map(str, w.in_shape)), channels=self.out_channels,
                   kernel="×".join(map(str, w.kernel[2 - self.dims:])),
                   outputs="×".join(map(str, self.out_shape(w.in_shape))))
        steps = map_steps(page, "A", 0, values[inputs], w.in_shape) if inputs == page.A(0) else []
        steps += kernel_steps(page, number, values[page_symbol(page, path, "weight")], w.kernel[2 - self.dims:])
        steps.append(page.record(values, page.Z(number), (expr,), value=z.reshape(z.shape[0], -1), note=note))
        steps += self.unfolded(page, path, inputs)
        steps += matrix_activation(page, path, self.activation)
        return steps + map_steps(page, "A", number, values[page.A(number)], self.out_shape(w.in_shape))

    def unfolded(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        """The im2col view: the input unfolded, a row per position (and sample), then the
        convolution as one matrix product with the kernels."""
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, MatMul, Node, Transpose, add

        number = page.number(path)
        values = page.arrays
        windows = self.window.view(values[inputs])
        unfolded = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, self.window.channels * math.prod(self.window.kernel))
        U, K = Node("U", layer=number), page_symbol(page, path, "weight")
        product = MatMul(U, Transpose(K))
        expr = product if self.bias is None else add(product, page_symbol(page, path, "bias"))
        return [page.record(values, U, (Elementwise("unfold", inputs),), value=unfolded, substitute=False,
                            note=say("kind.conv.unfold", positions=self.window.positions, samples=page.samples)),
                page.record(values, Node("Ztilde", layer=number), (expr,), note=say("kind.conv.im2col"))]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli.layers.dense import matrix_delta
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, Convolve, Correlate, ElementSum, Partial

        number = page.number(path)
        values = page.arrays
        steps = [] if pre_activation else matrix_delta(page, path, self.activation, upstream)
        delta = page.delta(number)
        K = page_symbol(page, path, "weight")
        oh, ow = self.window.out
        wants = page.wants_gradient(inputs)
        grad_k, grad_b, grad_x = self.gradients(values[inputs], values[K],
                                                values[delta].reshape(-1, self.out_channels, oh, ow), wants)
        shape = self.out_shape(self.window.in_shape)
        steps += map_steps(page, "delta", number, values[delta], shape)
        steps.append(page.record(values, Partial(LOSS, K), (Correlate(inputs, delta),),
                                 value=grad_k.reshape(self.out_channels, -1),
                                 note=say("kind.conv.kernel_gradient", positions=oh * ow, samples=page.samples)))
        steps += kernel_steps(page, number, values[Partial(LOSS, K)], self.window.kernel[2 - self.dims:],
                              gradient=True)
        if self.bias is not None:
            b = page_symbol(page, path, "bias")
            steps.append(page.record(values, Partial(LOSS, b), (ElementSum(delta, "n,i,j"),),
                                     value=grad_b.reshape(1, -1), note=say("kind.conv.bias_gradient")))
        if grad_x is None:
            return steps, delta
        target = Partial(LOSS, inputs)
        steps.append(page.record(values, target, (Convolve(delta, K),), value=grad_x,
                                 note=say("kind.conv.input_gradient")))
        return steps, target


def page_symbol(page: MatrixPage, path: Path, name: str) -> Any:
    """The page's symbol of the parameter ``name`` of the layer at ``path`` (K⁽ˡ⁾, b⁽ˡ⁾)."""
    from backprop_cli.notation import Node

    return Node(Convolution.glyphs[name], layer=page.number(path))


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


@dataclass(frozen=True)
class Conv1d(Convolution):
    kind = "conv1d"
    dims = 1


@dataclass(frozen=True)
class Conv2d(Convolution):
    kind = "conv2d"
    dims = 2
