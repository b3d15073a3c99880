"""``max_pool1d``, ``max_pool2d``, ``avg_pool1d``, ``avg_pool2d``: torch's pooling, channel by channel.

Each output is the largest (or the mean) of a ``kernel_size`` window of its channel, the window moving
by ``stride`` (``kernel_size`` when not given, as in torch). Backward, max pooling routes each window's
∂𝓛/∂a to the input that was its maximum (the first one on a tie, as torch's CPU kernel does) and 0 to
the others; average pooling gives every input of the window an equal share, ∂𝓛/∂a / k. Where windows
overlap (stride < kernel) an input gathers from each window it is in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext, check_keys
from backprop_cli.layers.windows import Window, Windowed, input_shape, map_steps, pair, window, written

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message


@dataclass(frozen=True)
class Pool(Windowed, Kind):
    """Pooling over ``window`` (the input's maps, the kernel's size and stride)."""

    window: Window

    dims: ClassVar[int] = 2
    largest: ClassVar[bool] = True
    keys = ("kind", "kernel_size", "stride")

    @property
    def size(self) -> int:
        return self.window.kernel[0] * self.window.kernel[1]

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        return f"{named(self.kind, lang)} {'×'.join(map(str, self.window.kernel[2 - self.dims:]))}"

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Pool:
        check_keys(document, cls.keys, where + ".")
        shape = input_shape(context.in_shape, document, where, cls.dims, cls.kind)
        if "kernel_size" not in document:
            raise SpecError(f"{where}.kernel_size: {cls.kind} needs kernel_size (e.g. 2)")
        kernel = pair(document["kernel_size"], f"{where}.kernel_size", cls.dims, 1)
        stride = pair(document["stride"], f"{where}.stride", cls.dims, 1) if "stride" in document else kernel
        return cls(window=window(shape, kernel, stride, (0, 0), where, cls.dims))

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "kernel_size": written(self.window.kernel, self.dims)}
        if self.window.stride != self.window.kernel:
            entry["stride"] = written(self.window.stride, self.dims)
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def pooled(self, X: Array) -> tuple[Array, Array | None]:
        """The outputs (N × C·out_h·out_w) of the flat rows ``X``, and each window's argmax (max pooling)."""
        import numpy as np

        windows = self.window.view(X)
        entries = windows.reshape(*windows.shape[:4], -1)
        if not self.largest:
            return entries.mean(axis=-1).reshape(X.shape[0], -1), None
        choice = entries.argmax(axis=-1)
        out = np.take_along_axis(entries, choice[..., None], axis=-1)[..., 0]
        return out.reshape(X.shape[0], -1), choice

    def routed(self, G: Array, choice: Array | None) -> Array:
        """∂𝓛/∂input (N × C·H·W) from ``G`` = ∂𝓛/∂output (N × C·out_h·out_w)."""
        import numpy as np

        w = self.window
        oh, ow = w.out
        G = G.reshape(G.shape[0], w.channels, oh, ow)
        if choice is None:
            spread = np.broadcast_to((G / self.size)[..., None, None], (*G.shape, *w.kernel))
        else:
            spread = np.zeros((*G.shape, self.size), dtype=G.dtype)
            np.put_along_axis(spread, choice[..., None], G[..., None], axis=-1)
            spread = spread.reshape(*G.shape, *w.kernel)
        return w.fold(spread)

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        out, choice = self.pooled(X)
        run.cache[path] = {"choice": choice}
        return out

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        return self.routed(G, run.cache[path]["choice"])

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        name = ("MaxPool" if self.largest else "AvgPool") + f"{self.dims}d"
        axes = slice(2 - self.dims, None)
        pool = getattr(torch.nn, name)(self.window.kernel[axes], stride=self.window.stride[axes])
        return torch.nn.Sequential(torch.nn.Unflatten(1, self.window.in_shape), pool, torch.nn.Flatten())

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import name, say

        w = self.window
        return say("kind.pool.title", layer=number, kind=name(self.kind), inputs="×".join(map(str, w.in_shape)),
                   outputs="×".join(map(str, self.out_shape(w.in_shape))),
                   kernel="×".join(map(str, w.kernel[2 - self.dims:])), stride=written(w.stride, self.dims))

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import FirstMax, add, mul

        w = self.window
        H, W = w.size
        oh, ow = w.out
        steps: list[Step] = []
        outputs = []
        for n, row in enumerate(inputs):
            out = []
            for c in range(w.channels):
                for i in range(oh):
                    for j in range(ow):
                        taken = [row[w.index(c, h, x, H, W)] for _, _, h, x in w.taps(i, j)]
                        a = page.output(path, (c * oh + i) * ow + j, n)
                        note = None
                        if self.largest:
                            numbers = [page.values[s] for s in taken]
                            # ∂a/∂x is 1 for the first entry equal to the maximum, as an expression
                            # (the compiled engine reruns the page with other numbers).
                            local = {s: FirstMax(s, a, *taken[:k]) if len(taken) > 1 else sp.S.One
                                     for k, s in enumerate(taken)}
                            if not steps:
                                note = say("kind.pool.max_scalar")
                            steps.append(page.define(path, a, sp.Max(*taken, evaluate=False), value=max(numbers),
                                                     local=local, note=note))
                        else:
                            if not steps:
                                note = say("kind.pool.avg_scalar", size=len(taken))
                            steps.append(page.define(path, a, mul(sp.Rational(1, len(taken)), add(*taken)),
                                                     note=note))
                        out.append(a)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise

        values = page.arrays
        out, _ = self.pooled(values[inputs])
        w = self.window
        note = say("kind.pool.max_matrix" if self.largest else "kind.pool.avg_matrix",
                   kernel="×".join(map(str, w.kernel[2 - self.dims:])), stride=written(w.stride, self.dims))
        name = "maxpool" if self.largest else "avgpool"
        number = page.number(path)
        step = page.record(values, page.A(number), (Elementwise(name, inputs),), value=out,
                           lead=page.output_lead(path), note=note)
        return [step, *map_steps(page, "A", number, out, self.out_shape(w.in_shape))]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, Elementwise, Node, Partial

        if not page.wants_gradient(inputs):
            return [], upstream
        values = page.arrays
        steps, gradient = page.materialize(Partial(LOSS, page.A(page.number(path))), upstream)
        _, choice = self.pooled(values[inputs])
        name = "maxpool" if self.largest else "avgpool"
        target = Partial(LOSS, inputs)
        note = say("kind.pool.max_backward" if self.largest else "kind.pool.avg_backward", size=self.size)
        steps.append(page.record(values, target, (Elementwise(name, gradient, prime=True),),
                                 value=self.routed(values[gradient], choice), note=note))
        if isinstance(inputs, Node) and inputs.glyph.base == "A" and inputs.glyph.layer is not None:
            steps += map_steps(page, "A", int(inputs.glyph.layer), values[target], self.window.in_shape, gradient=True)
        return steps, target


@dataclass(frozen=True)
class MaxPool1d(Pool):
    kind = "max_pool1d"
    dims = 1


@dataclass(frozen=True)
class MaxPool2d(Pool):
    kind = "max_pool2d"
    dims = 2


@dataclass(frozen=True)
class AvgPool1d(Pool):
    kind = "avg_pool1d"
    dims = 1
    largest = False


@dataclass(frozen=True)
class AvgPool2d(Pool):
    kind = "avg_pool2d"
    dims = 2
    largest = False


@dataclass(frozen=True)
class Flatten(Kind):
    """``nn.Flatten``: a sample's maps as one vector, channel by channel, row by row.

    The data already keeps each sample flat in that order, so the numbers pass through unchanged;
    the page writes the index map.
    """

    shape: tuple[int, ...] = ()

    kind = "flatten"
    keys = ("kind", "start_dim", "end_dim")
    shapes = "shaped"

    def in_features(self) -> int | None:
        return math.prod(self.shape) if self.shape else None

    def input_shape(self) -> tuple[int, ...] | None:
        return self.shape or None

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(in_shape),)

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Flatten:
        check_keys(document, cls.keys, where + ".")
        if document.get("start_dim", 1) != 1 or document.get("end_dim", -1) != -1:
            raise SpecError(f"{where}: flatten keeps the batch axis and flattens the rest (start_dim = 1,"
                            " end_dim = -1); other axes are not supported")
        return cls(shape=tuple(context.in_shape or ()))

    def to_spec(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        return X

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        return G

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        return torch.nn.Flatten()

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.flatten.title", layer=number, inputs="×".join(map(str, self.shape or (in_features,))),
                   units=in_features)

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        import sympy as sp

        from backprop_cli.locales import say

        steps: list[Step] = []
        outputs = []
        for n, row in enumerate(inputs):
            out = []
            for m, x in enumerate(row):
                a = page.output(path, m, n)
                note = say("kind.flatten.scalar") if not steps else None
                steps.append(page.define(path, a, x, local={x: sp.S.One}, note=note))
                out.append(a)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise

        values = page.arrays
        shape = "×".join(map(str, self.shape)) if self.shape else str(values[inputs].shape[1])
        return [page.record(values, page.A(page.number(path)), (Elementwise("flatten", inputs),),
                            value=values[inputs], lead=page.output_lead(path),
                            note=say("kind.flatten.matrix", shape=shape))]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        return [], upstream
