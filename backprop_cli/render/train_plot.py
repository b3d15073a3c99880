"""The loss curve as an image (``--plot FILE.png|svg``), drawn with matplotlib (the ``plot`` extra)."""

from __future__ import annotations

import io
import math

from backprop_cli.errors import BackpropError
from backprop_cli.locales import say
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


# Fonts with Hangul, tried in this order before any other installed font is looked into.
HANGUL_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "NanumBarunGothic", "Malgun Gothic",
                "Apple SD Gothic Neo", "AppleGothic", "UnDotum", "Baekmuk Gulim", "Baekmuk Dotum")
# Two syllables a font with Hangul draws differently. A placeholder font (matplotlib ships "Last
# Resort", which maps every code point to one box per block) maps both to the same glyph.
HANGUL = (ord("가"), ord("힣"))


def hangul_font() -> str | None:
    """The name of an installed font matplotlib can draw Hangul with, or None."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    fonts = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
    preferred = [name for name in HANGUL_FONTS if name in fonts]
    for name in preferred + sorted(set(fonts) - set(preferred)):
        try:
            glyphs = [FT2Font(fonts[name]).get_charmap().get(code) for code in HANGUL]
        except (OSError, RuntimeError, ValueError):
            continue
        if None not in glyphs and len(set(glyphs)) == len(glyphs):
            return name
    return None


def plot_language(lang: str) -> tuple[str, str | None]:
    """The language the image's labels can be written in, and the font to draw them with.

    English needs matplotlib's default font. Korean needs a font with Hangul: without one, the
    labels stay English (with a note on stderr) rather than come out as empty boxes.
    """
    if lang == "en":
        return "en", None
    font = hangul_font()
    if font is None:
        import sys

        print("plot: no font with Hangul is installed, so the image's labels are in English"
              " (install one, e.g. Debian's fonts-nanum)", file=sys.stderr)
        return "en", None
    return lang, font


def loss_plot(result: TrainResult, fmt: str, lang: str = "en") -> bytes:
    """The loss curve of ``result`` as a PNG or SVG image, labelled in ``lang`` where a font allows."""
    import_pyplot()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    lang, font = plot_language(lang)

    points = [(epoch, loss) for epoch, loss in result.curve if math.isfinite(loss)]
    # Latin letters in matplotlib's own font; Hangul, which it lacks, falls back to ``font``.
    with matplotlib.rc_context({"font.family": ["DejaVu Sans", font]} if font else None):
        figure = Figure(figsize=(7, 4), dpi=120)
        axes = figure.subplots()
        axes.plot([e for e, _ in points], [v for _, v in points], color="tab:blue", linewidth=1.5,
                  label=say("plot.training").text(lang))
        held = [(epoch, loss) for epoch, loss in result.validation if math.isfinite(loss)]
        if held:
            axes.plot([e for e, _ in held], [v for _, v in held], color="tab:orange", linewidth=1.5,
                      label=say("plot.validation").text(lang))
            axes.legend()
        if log_scale([v for _, v in points + held]):
            axes.set_yscale("log")
        network = result.network
        axes.set_title(say("plot.title", widths=" → ".join(network.sizes), loss=network.loss,
                           optimizer=network.optimizer.name, lr=f"{network.lr:g}",
                           final=f"{result.final_loss:.4g}").text(lang))
        axes.set_xlabel(say("plot.epoch").text(lang))
        axes.set_ylabel(say("plot.loss").text(lang))
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
