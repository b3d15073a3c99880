"""backprop-cli: backpropagation worked out line by line, for any small network.

From Python or a notebook::

    import backprop_cli
    step = backprop_cli.derive()                       # the seed example
    step = backprop_cli.derive(layers=[2, 3, 1], activation="tanh", loss="mse", x=[0.5, -1], y=[0.2])
    step                                               # Jupyter draws the page (HTML with MathML)
    step.to_markdown(), step.to_latex(), step.to_html(), step.to_json(), step.to_dict()

Importing the package is light: sympy and the rest are imported when ``derive`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop_cli.derivation import Derivation
    from backprop_cli.model import Network

__version__ = "0.1.0"
__all__ = ["derive"]

_NETWORK_OPTIONS = ("layers", "activation", "loss", "lr", "seed", "init", "optimizer", "momentum", "beta1",
                    "beta2", "eps", "data", "targets")
_PAGE_OPTIONS = ("precision", "rounding", "form", "lang")


def _samples(values: Any, name: str) -> list[tuple[float, ...]] | None:
    """One sample (``[1, 1]``, a 1-D array) or several (``[[1, 1], [0, 1]]``) as tuples of floats."""
    if values is None:
        return None
    rows = list(values) if hasattr(values, "__iter__") else [values]
    if not any(hasattr(row, "__len__") for row in rows):
        rows = [rows]
    try:
        return [tuple(float(v) for v in row) for row in rows]
    except (TypeError, ValueError):
        from backprop_cli.errors import DataError

        raise DataError(f"{name}: expected numbers, one sequence per sample, got {values!r}") from None


def derive(network: str | Network | None = None, x: Any = None, y: Any = None, **options: Any) -> Derivation:
    """Work out one training step, as ``backprop step`` does, and return it as a Derivation.

    The Derivation displays itself in Jupyter (``_repr_html_``: the page with MathML;
    ``_repr_markdown_``: the Markdown page) and writes itself out with ``to_markdown()``,
    ``to_latex()``, ``to_html()``, ``to_json()`` and ``to_dict()`` (the JSON contract).

    Args:
        network: a spec file (.toml, .json, .pt), a :class:`~backprop_cli.model.Network`, or None for
            the seed network (or random weights with ``layers``).
        x: the inputs of one sample (``[1, 1]``) or of several (``[[1, 1], [0, 1]]``).
        y: the targets, likewise.
        **options: the command line's options: ``layers``, ``activation`` (a name or formula, or
            one per layer), ``loss``, ``lr``, ``seed``, ``init``, ``optimizer``, ``momentum``,
            ``beta1``, ``beta2``, ``eps``, ``data``, ``targets``; and how the page is worked:
            ``precision``, ``rounding`` (``exact`` or ``carry``), ``form`` (``auto``, ``scalar``,
            ``matrix``), ``lang`` (``en``, ``ko``).

    Raises:
        TypeError: for an option that does not exist.
        BackpropError: for a value that does not fit (the message names it), as on the command line.
    """
    unknown = sorted(set(options) - set(_NETWORK_OPTIONS) - set(_PAGE_OPTIONS))
    if unknown:
        known = ", ".join(_NETWORK_OPTIONS + _PAGE_OPTIONS)
        raise TypeError(f"derive() got unknown option(s) {', '.join(unknown)}; the options are {known}")
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options
    from backprop_cli.locales import check_language
    from backprop_cli.resolve import NetworkOptions, resolve

    given = {key: options[key] for key in _NETWORK_OPTIONS if key in options}
    if isinstance(given.get("activation"), str):
        given["activation"] = [given["activation"]]
    if given.get("layers") is not None:
        given["layers"] = [int(w) for w in given["layers"]]
    page = Options(**{key: options[key] for key in _PAGE_OPTIONS if key in options})
    check_language(page.lang)
    from backprop_cli.model import Network

    source = network if network is None or isinstance(network, Network) else str(network)
    net, xs, ys = resolve(NetworkOptions(network=source, x=_samples(x, "x"), y=_samples(y, "y"), **given))
    return build_derivation(net, xs, ys, page)
