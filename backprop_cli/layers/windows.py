"""Sliding windows over feature maps: the geometry convolution and pooling share.

A sample is kept flat in the network's data, ``C·H·W`` values in C order (as ``torch.flatten`` and
``reshape`` lay out an ``(N, C, H, W)`` tensor); a kind that slides a window reshapes it here. One
dimension (``(C, L)``, ``nn.Conv1d``) is worked as two with a height of 1.

``out = (size + 2·padding − kernel) // stride + 1`` along each axis, as torch computes it
(``floor``, no dilation); zeros are padded on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import integer, shown

Array = Any


@dataclass(frozen=True)
class Window:
    """A window of ``kernel`` sliding by ``stride`` over ``channels`` maps of ``size`` padded by ``padding``.

    Every pair is (height, width); a one-dimensional map has height 1 (kernel 1, stride 1, padding 0).
    """

    channels: int
    size: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    dims: int = 2

    @property
    def out(self) -> tuple[int, int]:
        return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in  # type: ignore[return-value]
                     zip(self.size, self.kernel, self.stride, self.padding, strict=True))

    @property
    def in_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.size[2 - self.dims:])

    def out_shape(self, channels: int) -> tuple[int, ...]:
        return (channels, *self.out[2 - self.dims:])

    @property
    def positions(self) -> int:
        return self.out[0] * self.out[1]

    def index(self, channel: int, row: int, column: int, height: int, width: int) -> int:
        """The flat index of (channel, row, column) in maps of ``height × width``."""
        return (channel * height + row) * width + column

    def taps(self, row: int, column: int) -> Iterator[tuple[int, int, int, int]]:
        """(p, q, h, w) of every kernel entry (p, q) the output at (row, column) reads from the
        input's (h, w), padding left out (it holds zeros)."""
        H, W = self.size
        for p in range(self.kernel[0]):
            h = row * self.stride[0] + p - self.padding[0]
            if not 0 <= h < H:
                continue
            for q in range(self.kernel[1]):
                w = column * self.stride[1] + q - self.padding[1]
                if 0 <= w < W:
                    yield p, q, h, w

    # --- numpy --------------------------------------------------------------------------

    def maps(self, X: Array) -> Array:
        """The flat rows ``X`` (N × C·H·W) as maps (N, C, H, W)."""
        return X.reshape(X.shape[0], self.channels, *self.size)

    def view(self, X: Array) -> Array:
        """The windows of the flat rows ``X``: (N, C, out_h, out_w, kernel_h, kernel_w), a view of the padded maps."""
        import numpy as np

        maps = self.maps(X)
        ph, pw = self.padding
        if ph or pw:
            maps = np.pad(maps, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        windows = np.lib.stride_tricks.sliding_window_view(maps, self.kernel, axis=(2, 3))
        oh, ow = self.out
        (sh, sw) = self.stride
        return windows[:, :, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]

    def fold(self, G: Array) -> Array:
        """The flat rows (N × C·H·W) that ``G`` (N, C, out_h, out_w, kernel_h, kernel_w), a value per
        window entry, adds up to: each entry added where it was read from; padding dropped."""
        import numpy as np

        N = G.shape[0]
        H, W = self.size
        ph, pw = self.padding
        sh, sw = self.stride
        oh, ow = self.out
        padded = np.zeros((N, self.channels, H + 2 * ph, W + 2 * pw), dtype=G.dtype)
        for p in range(self.kernel[0]):
            for q in range(self.kernel[1]):
                padded[:, :, p: p + (oh - 1) * sh + 1: sh, q: q + (ow - 1) * sw + 1: sw] += G[:, :, :, :, p, q]
        return padded[:, :, ph: ph + H, pw: pw + W].reshape(N, -1)


def pair(value: Any, key: str, dims: int, minimum: int) -> tuple[int, int]:
    """A size setting as torch takes it (one number for every axis, or one per axis) as (height, width)."""
    if isinstance(value, list):
        if len(value) != dims:
            raise SpecError(f"{key}: expected {dims} number{'s' if dims > 1 else ''} (one per axis), got"
                            f" {shown(value)}")
        values = tuple(integer(v, f"{key}[{i}]", minimum) for i, v in enumerate(value))
    else:
        values = (integer(value, key, minimum),) * dims
    return (1 if minimum else 0, values[0]) if dims == 1 else (values[0], values[1])


def written(values: tuple[int, int], dims: int) -> int | list[int]:
    """A (height, width) setting as a spec file writes it: one number where the axes agree."""
    axes = list(values[2 - dims:])
    return axes[0] if len(set(axes)) == 1 else axes


def input_shape(context_shape: tuple[int, ...] | None, document: Mapping[str, Any], where: str,
                dims: int, kind: str) -> tuple[int, ...]:
    """The shape of a sample at a windowed layer's input: (C, L) or (C, H, W)."""
    if context_shape is None:
        raise SpecError(f"{where}: {kind} needs the shape of each sample; give input_shape ="
                        f" {'[C, L]' if dims == 1 else '[C, H, W]'} at the top of the spec")
    if len(context_shape) != dims + 1:
        raise SpecError(f"{where}: {kind} takes {'(C, L)' if dims == 1 else '(C, H, W)'} samples, but the layer"
                        f" before gives {'×'.join(map(str, context_shape))}")
    return context_shape


def window(shape: Sequence[int], kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
           where: str, dims: int) -> Window:
    """The window over samples of ``shape``, checked: the kernel fits the padded map."""
    size = (1, shape[1]) if dims == 1 else (shape[1], shape[2])
    for axis, (n, k, p) in enumerate(zip(size, kernel, padding, strict=True)):
        if axis < 2 - dims:
            continue
        if k > n + 2 * p:
            raise SpecError(f"{where}.kernel_size: {k} is wider than the input ({n}"
                            f"{f' + 2×{p} padding' if p else ''}); use a smaller kernel or more padding")
    return Window(shape[0], size, kernel, stride, padding, dims)


class Windowed:
    """What convolution and pooling say about shapes: their input is the window's maps, their output
    ``maps_out`` channels of the window's output size (a mixin of ``base.Kind``)."""

    window: Window
    shapes = "shaped"

    @property
    def maps_out(self) -> int:
        return self.window.channels

    def in_features(self) -> int:
        return math.prod(self.window.in_shape)

    def input_shape(self) -> tuple[int, ...]:
        return self.window.in_shape

    def out_features(self, in_features: int) -> int:
        return math.prod(self.out_shape(self.window.in_shape))

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.window.out_shape(self.maps_out)


MAX_MAPS = 8
"""The most feature maps (samples × channels) the matrix form draws as grids after a layer's line."""


def map_steps(page: Any, base: str, number: int, value: Array, shape: tuple[int, ...],
              gradient: bool = False) -> list[Any]:
    """Lines drawing a layer's output (or input) of ``shape`` as grids, a channel of a sample each:
    ``A⁽¹⁾₂`` is channel 2 (of sample n, after the layer's number, where the batch has several);
    with ``gradient``, the maps of ∂𝓛/∂ (that symbol)."""
    import numpy as np

    from backprop_cli.locales import say
    from backprop_cli.notation import Node

    if len(shape) < 2 or page.samples * shape[0] > MAX_MAPS:
        return []
    maps = np.asarray(value).reshape(page.samples, shape[0], -1, shape[-1])
    grids = [(Node(base, c + 1, layer=number, sample=n + 1 if page.samples > 1 else None), maps[n, c])
             for n in range(page.samples) for c in range(shape[0])]
    return _grid_steps(page, grids, gradient, say("kind.conv.maps", shape="×".join(map(str, shape))))


def kernel_steps(page: Any, number: int, value: Array, kernel: tuple[int, ...], gradient: bool = False) -> list[Any]:
    """Lines drawing kernels (out × in·kernel…, a row per output channel) as grids: K⁽¹⁾₁,₂ is the kernel
    from input channel 2 to output channel 1 (with ``gradient``, ∂𝓛/∂ of it)."""
    import numpy as np

    from backprop_cli.locales import say
    from backprop_cli.notation import Node

    array = np.asarray(value)
    inputs = array.shape[1] // int(np.prod(kernel))
    if array.shape[0] * inputs > MAX_MAPS:
        return []
    kernels = array.reshape(array.shape[0], inputs, -1, kernel[-1])
    grids = [(Node("K", f"{o + 1},{c + 1}", layer=number), kernels[o, c])
             for o in range(kernels.shape[0]) for c in range(inputs)]
    return _grid_steps(page, grids, gradient, say("kind.conv.kernels"))


def _grid_steps(page: Any, grids: list[tuple[Any, Array]], gradient: bool, note: Any) -> list[Any]:
    """A line per (symbol, grid), the symbol's ∂𝓛/∂ with ``gradient``; ``note`` under the first."""
    from backprop_cli.notation import LOSS, Partial

    return [page.record({}, Partial(LOSS, symbol) if gradient else symbol, (), value=grid, substitute=False,
                        note=note if i == 0 else None) for i, (symbol, grid) in enumerate(grids)]
