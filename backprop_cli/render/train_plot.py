"""The loss curve as an image (``--plot FILE.png|svg``), drawn with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

import io
import math

from backprop_cli.errors import BackpropError
from backprop_cli.render.curve import log_scale
from backprop_cli.training import TrainResult

PLOT_FORMATS = ("png", "svg")


def check_plot_format(suffix: str) -> str:
    """``png`` or ``svg`` from a file suffix, or a one-line error."""
    fmt = suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise BackpropError(f"plot: cannot draw a .{fmt or '?'} file; use a file ending in .png or .svg")
    return fmt


def import_pyplot() -> None:
    """Fail in one line, before training, when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise BackpropError("plot: --plot needs matplotlib; install it with pip install 'backprop-cli[plot]'")


def loss_plot(result: TrainResult, fmt: str) -> bytes:
    """The loss curve of ``result`` as a PNG or SVG image."""
    import_pyplot()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    points = [(epoch, loss) for epoch, loss in result.curve if math.isfinite(loss)]
    figure = Figure(figsize=(7, 4), dpi=120)
    axes = figure.subplots()
    axes.plot([e for e, _ in points], [v for _, v in points], color="tab:blue", linewidth=1.5)
    if log_scale([v for _, v in points]):
        axes.set_yscale("log")
    widths = " → ".join(map(str, result.network.widths))
    axes.set_title(f"{widths}, {result.network.loss}, {result.network.optimizer.name}"
                   f" (lr {result.network.lr:g}): final loss {result.final_loss:.4g}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (before the epoch's updates)")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
