"""What the page printers share: settings, dispatch over the derivation's parts, equation parts."""

from __future__ import annotations

from typing import Any

from backprop_cli.derivation import Derivation, MatrixStep, Step
from backprop_cli.locales import Message
from backprop_cli.printing import ExprPrinter, format_number


class PagePrinter:
    """Base of the page printers, in the manner of sympy's printers.

    Subclasses implement ``_print_<Kind>`` for the parts they draw; settings are checked against
    ``_default_settings`` so that an unknown one is an error, not silently ignored.
    """

    _default_settings: dict[str, Any] = {"lang": None, "precision": None}

    def __init__(self, **settings: Any) -> None:
        unknown = set(settings) - set(self._default_settings)
        if unknown:
            raise TypeError(f"unknown setting(s) for {type(self).__name__}: {', '.join(sorted(unknown))}")
        self._settings = {**self._default_settings, **settings}
        self.derivation: Derivation | None = None

    def setting(self, name: str) -> Any:
        value = self._settings[name]
        if value is None and self.derivation is not None and hasattr(self.derivation.options, name):
            return getattr(self.derivation.options, name)
        return value

    @property
    def lang(self) -> str:
        return str(self.setting("lang") or "en")

    @property
    def precision(self) -> int:
        value = self.setting("precision")
        return 4 if value is None else int(value)

    def doprint(self, obj: Any) -> Any:
        if isinstance(obj, Derivation):
            self.derivation = obj
        return self._print(obj)

    def _print(self, obj: Any) -> Any:
        for cls in type(obj).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(obj)
        raise TypeError(f"{type(self).__name__} cannot print {type(obj).__name__}")

    def words(self, message: Message | None) -> str:
        return "" if message is None else message.text(self.lang)

    def number(self, value: float, latex: bool = False) -> str:
        return format_number(value, self.precision, latex)

    def equation_parts(self, step: Step, latex: bool) -> list[str]:
        """The sides of ``lead = target = forms… = numbers = value``, printed, repeats dropped."""
        assert self.derivation is not None
        symbols = ExprPrinter(latex, None, self.precision)
        parts = [symbols.doprint(e) for e in (*step.lead, step.target, *step.forms)]
        value = self.number(step.value, latex)
        if step.substitute and step.forms:
            numbers = ExprPrinter(latex, self.derivation.values, self.precision).doprint(step.forms[-1])
            parts.append(numbers)
        parts.append(value)
        out: list[str] = []
        for part in parts:
            if not out or out[-1] != part:
                out.append(part)
        return out

    def matrix_equation_parts(self, step: MatrixStep, latex: bool) -> list[str]:
        """The sides of a matrix step: names, forms, the numbers form with every matrix, the value.

        A 1 × 1 value (the loss) prints as a number.
        """
        assert self.derivation is not None
        symbols = ExprPrinter(latex, None, self.precision)
        parts = [symbols.doprint(e) for e in (*step.lead, step.target, *step.forms)]
        with_numbers = ExprPrinter(latex, self.derivation.values, self.precision)
        if step.numbers is not None:
            parts.append(with_numbers.doprint(step.numbers))
        if step.value.shape == (1, 1):
            parts.append(self.number(step.value.rows[0][0], latex))
        else:
            parts.append(with_numbers.doprint(step.target))
        out: list[str] = []
        for part in parts:
            if not out or out[-1] != part:
                out.append(part)
        return out

    def summary_words(self) -> dict[str, str]:
        """The header facts: network, samples, rounding."""
        assert self.derivation is not None
        d = self.derivation
        network = d.network
        names: list[str] = []
        for layer in network.layers:
            if not names or names[-1] != layer.activation:
                names.append(layer.activation)
        widths = " → ".join(str(w) for w in network.widths)
        summary = Message("network.summary", {
            "widths": widths, "activations": ", ".join(names), "loss": network.loss,
            "lr": self.number(network.lr)})
        if len(d.xs) == 1:
            sample = f"x = {_vector(d.xs[0], self)}, y = {_vector(d.ys[0], self)}"
        else:
            sample = Message("samples", {"count": len(d.xs)}).text(self.lang)
        rounding = Message(f"rounding.{d.options.rounding}", {"precision": self.precision})
        return {"network": self.words(summary), "sample": sample, "rounding": self.words(rounding)}


def _vector(values: tuple[float, ...], printer: PagePrinter) -> str:
    return "(" + ", ".join(printer.number(v) for v in values) + ")"
