"""backprop-cli: backpropagation worked out line by line, for any small network.

From Python or a notebook::

    import backprop_cli
    step = backprop_cli.derive()                       # the seed example
    step = backprop_cli.derive(layers=[2, 3, 1], activation="tanh", loss="mse", x=[0.5, -1], y=[0.2])
    step                                               # Jupyter draws the page (HTML with MathML)
    step.to_markdown(), step.to_latex(), step.to_html(), step.to_json(), step.to_dict()

    run = backprop_cli.train(data="xor", epochs=2000)  # as backprop train
    run                                                # Jupyter draws the report (loss curve in SVG)
    run.history, run.final_loss, run.network, run.to_latex(), run.to_json()

Importing the package is light: sympy and the rest are imported when ``derive`` or ``train`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop_cli.derivation import Derivation
    from backprop_cli.model import Network, Vector
    from backprop_cli.resolve import NetworkOptions
    from backprop_cli.training import TrainResult
    from backprop_cli.verification import Verification

__version__ = "0.1.0"
__all__ = ["derive", "from_torch", "to_torch", "train", "verify"]

_NETWORK_OPTIONS = ("layers", "activation", "loss", "lr", "seed", "init", "optimizer", "momentum", "beta1",
                    "beta2", "eps", "alpha", "weight_decay", "centered", "data", "targets", "tokens", "token_ids",
                    "vocab_text")
_LIVE_OPTIONS = ("criterion",)
_PAGE_OPTIONS = ("precision", "rounding", "form", "lang", "figure", "brief", "layout", "momentum_form")
_TRAIN_OPTIONS = ("epochs", "batch_size", "shuffle", "backend", "device", "dtype", "log_every", "show_steps",
                  "schedule", "clip_norm", "clip_value", "validation", "early_stop", "patience")
_REPORT_OPTIONS = ("precision", "form", "lang")


def _check_options(function: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = ", ".join(allowed)
        raise TypeError(f"{function}() got unknown option(s) {', '.join(unknown)}; the options are {known}")


def _resolve(network: Any, x: Any, y: Any, options: dict[str, Any]
             ) -> tuple[NetworkOptions, Network, tuple[Vector, ...], tuple[Vector, ...]]:
    """The network options the keyword arguments give, and the network and samples they describe.

    ``network`` may be a live ``torch.nn.Module``: with ``criterion`` and an ``optimizer`` object in
    ``options`` it is read as the page's network (``live.from_torch``), and one forward pass of it on
    ``x`` checks that the page computes what it computes.
    """
    from backprop_cli.live import is_module
    from backprop_cli.model import Network
    from backprop_cli.resolve import NetworkOptions, resolve

    model = network if is_module(network) else None
    criterion = options.pop("criterion", None)
    live_optimizer = options.get("optimizer")
    if live_optimizer is not None and not isinstance(live_optimizer, str):
        options.pop("optimizer")
    else:
        live_optimizer = None
    if model is None and (criterion is not None or live_optimizer is not None):
        raise TypeError("criterion= and an optimizer object go with a torch.nn.Module as the network;"
                        " otherwise give loss= and optimizer= by name")
    if model is not None:
        from backprop_cli.live import from_torch

        network = from_torch(model, criterion, live_optimizer)
        if network.loss in ("cross_entropy", "nll") and y is not None:
            y = _class_rows(y, x)
    given = {key: options[key] for key in _NETWORK_OPTIONS if key in options}
    if isinstance(given.get("activation"), str):
        given["activation"] = [given["activation"]]
    if given.get("layers") is not None:
        given["layers"] = [int(w) for w in given["layers"]]
    source = network if network is None or isinstance(network, Network) else str(network)
    chosen = NetworkOptions(network=source, x=_samples(x, "x"), y=_samples(y, "y"), **given)
    net, xs, ys = resolve(chosen)
    if model is not None:
        from backprop_cli.live import check_forward

        check_forward(model, net, xs, criterion)
    return chosen, net, xs, ys


def _class_rows(y: Any, x: Any) -> Any:
    """Class indices as torch gives them to CrossEntropyLoss (shape (N,)): one row per sample."""
    values = y.tolist() if hasattr(y, "tolist") else y
    rows = x.tolist() if hasattr(x, "tolist") else x
    many = isinstance(rows, (list, tuple)) and rows and isinstance(rows[0], (list, tuple))
    if isinstance(values, (list, tuple)) and values and not isinstance(values[0], (list, tuple)) \
            and many and len(values) == len(rows) and all(float(v).is_integer() for v in values):
        return [[v] for v in values]
    return values


def _samples(values: Any, name: str) -> list[tuple[float, ...]] | None:
    """One sample (``[1, 1]``, a 1-D array) or several (``[[1, 1], [0, 1]]``) as tuples of floats."""
    if values is None:
        return None
    if hasattr(values, "tolist"):  # a tensor or an array
        values = values.tolist()
    rows = list(values) if hasattr(values, "__iter__") else [values]
    if not any(hasattr(row, "__len__") for row in rows):
        rows = [rows]
    try:
        return [tuple(float(v) for v in row) for row in rows]
    except (TypeError, ValueError):
        from backprop_cli.errors import DataError

        raise DataError(f"{name}: expected numbers, one sequence per sample, got {values!r}") from None


def derive(network: Any = None, x: Any = None, y: Any = None, **options: Any) -> Derivation:
    """Work out one training step, as ``backprop step`` does, and return it as a Derivation.

    The Derivation displays itself in Jupyter (``_repr_html_``: the page with MathML;
    ``_repr_markdown_``: the Markdown page) and writes itself out with ``to_markdown()``,
    ``to_latex()``, ``to_html()``, ``to_json()`` and ``to_dict()`` (the JSON contract).

    Args:
        network: a spec file (.toml, .json, .pt), a :class:`~backprop_cli.model.Network`, a live
            ``torch.nn.Module`` (with ``criterion=`` and ``optimizer=`` objects, read by
            :func:`from_torch`), or None for the seed network (or random weights with ``layers``).
        x: the inputs of one sample (``[1, 1]``) or of several (``[[1, 1], [0, 1]]``); a tensor too.
        y: the targets, likewise (class indices of shape (N,) for CrossEntropyLoss).
        **options: ``criterion`` (an ``nn`` loss module, with a model) and the command line's
            options: ``layers``, ``activation`` (a name or formula, or
            one per layer), ``loss``, ``lr``, ``seed``, ``init``, ``optimizer``, ``momentum``,
            ``beta1``, ``beta2``, ``eps``, ``data``, ``targets``; and how the page is worked:
            ``precision``, ``rounding`` (``exact`` or ``carry``), ``form`` (``auto``, ``scalar``,
            ``matrix``), ``lang`` (``en``, ``ko``).

    Raises:
        TypeError: for an option that does not exist.
        BackpropError: for a value that does not fit (the message names it), as on the command line.
    """
    _check_options("derive", options, _NETWORK_OPTIONS + _PAGE_OPTIONS + _LIVE_OPTIONS)
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options
    from backprop_cli.locales import check_language

    page = Options(**{key: options[key] for key in _PAGE_OPTIONS if key in options})
    check_language(page.lang)
    _, net, xs, ys = _resolve(network, x, y, options)
    return build_derivation(net, xs, ys, page)


def from_torch(model: Any, criterion: Any = None, optimizer: Any = None) -> Network:
    """The page's network for a live ``torch.nn.Module`` (nested ``nn.Sequential`` and custom
    modules whose forward is the chain of their children), with the loss of ``criterion`` and the
    optimizer (class, lr, momentum, betas, eps, weight decay) of a fresh torch.optim ``optimizer``.

    Raises:
        SpecError: naming the module or setting the page does not work.
    """
    from backprop_cli.live import from_torch as read

    return read(model, criterion, optimizer)


def verify(network: Any = None, x: Any = None, y: Any = None, **options: Any) -> Verification:
    """Check every gradient of the step against PyTorch autograd and finite differences, as
    ``backprop verify`` does; ``network`` as for :func:`derive` (a live ``nn.Module`` too, with
    ``criterion=``). The result's ``ok`` says whether all agree; ``to_dict()`` gives the table.

    Raises:
        TypeError: for an option that does not exist.
        BackpropError: for a value that does not fit (the message names it), as on the command line.
    """
    _check_options("verify", options, _NETWORK_OPTIONS + ("form",) + _LIVE_OPTIONS)
    from backprop_cli.verification import check_gradients

    form = options.pop("form", "auto")
    _, net, xs, ys = _resolve(network, x, y, options)
    return check_gradients(net, xs, ys, form=form)


def to_torch(network: Network) -> Any:
    """``network`` as a float64 ``torch.nn.Sequential`` with its weights."""
    from backprop_cli.live import to_torch as build

    return build(network)


def train(network: Any = None, x: Any = None, y: Any = None, **options: Any) -> TrainResult:
    """Train for many epochs, as ``backprop train`` does, and return the run as a TrainResult.

    The TrainResult holds the numbers (``history``: (epoch, loss) pairs, ``final_loss``, ``network``:
    the trained network, ``predictions``, ``seconds``) and displays itself in Jupyter as the training
    report (``_repr_html_``: the page with the loss curve in SVG; ``_repr_markdown_``); it writes the
    report out with ``to_markdown()``, ``to_latex()`` and ``to_html()`` (each takes ``timings=False``
    to leave the run time out), and ``to_json()`` / ``to_dict()`` give the JSON contract.

    Args:
        network: a spec file (.toml, .json, .pt), a :class:`~backprop_cli.model.Network`, or None for
            the seed network (or random weights with ``layers``).
        x: the inputs of one sample (``[1, 1]``) or of several (``[[1, 1], [0, 1]]``).
        y: the targets, likewise.
        **options: the command line's options: the network's, as for :func:`derive` (``layers``,
            ``activation``, ``loss``, ``lr``, ``seed``, ``init``, ``optimizer``, ``momentum``, ``beta1``,
            ``beta2``, ``eps``, ``data``, ``targets``); how to train: ``epochs`` (100), ``batch_size``,
            ``shuffle``, ``backend`` (``auto``, ``compiled``, ``numba``, ``numpy``, ``torch``), ``device``,
            ``dtype``, ``log_every``, ``show_steps`` (an epoch or a list of them, derived in full),
            ``schedule`` (``"step:step_size=10,gamma=0.5"``, as ``--schedule``), ``clip_norm``,
            ``clip_value``, ``validation`` (the share held out), ``early_stop`` and ``patience``;
            and how the report is printed: ``precision``, ``form`` (of the ``show_steps`` pages),
            ``lang``.

    Raises:
        TypeError: for an option that does not exist.
        BackpropError: for a value that does not fit (the message names it), as on the command line.
    """
    _check_options("train", options, _NETWORK_OPTIONS + _TRAIN_OPTIONS + _REPORT_OPTIONS + _LIVE_OPTIONS)
    from dataclasses import replace

    from backprop_cli.derivation import Options
    from backprop_cli.locales import check_language
    from backprop_cli.resolve import data_label
    from backprop_cli.training import TrainSettings, with_derivations
    from backprop_cli.training import train as run_training

    page = Options(**{key: options[key] for key in _REPORT_OPTIONS if key in options})
    check_language(page.lang)
    settings = {key: options[key] for key in _TRAIN_OPTIONS if key in options}
    from backprop_cli.schedules import parse_clip, parse_schedule

    settings["schedule"] = parse_schedule(settings.get("schedule"))
    settings["clip"] = parse_clip(settings.pop("clip_norm", None), settings.pop("clip_value", None))
    steps = settings.get("show_steps", ())
    settings["show_steps"] = tuple(int(e) for e in ((steps,) if isinstance(steps, int) else steps))
    chosen, net, xs, ys = _resolve(network, x, y, options)
    result = run_training(net, xs, ys, TrainSettings(seed=options.get("seed"), **settings),
                          data=data_label(chosen, xs, ys))
    return with_derivations(result, page) if result.snapshots else replace(result, options=page)
