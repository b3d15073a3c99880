"""A loss written as a formula in ``yhat`` and ``y`` (``loss = "(yhat - y)**4"``, or ``"yhat"`` for a
worked example whose objective is the output itself): read by the same whitelist parser as formula
activations, never evaluated; the mean over every output element, as torch's losses reduce."""

from __future__ import annotations

from typing import Any

from backprop_cli.formula import SYMPY, build, check_formula
from backprop_cli.losses.base import Loss


def formula_loss(text: str) -> Loss:
    """The loss of a formula in yhat and y (FormulaError names what is not accepted)."""
    source, body = check_formula(text, ("yhat", "y"))

    def element(yhat: Any, y: Any) -> Any:
        return build(body, {"yhat": yhat, "y": y}, SYMPY)

    def criterion(torch: Any, beta: float) -> Any:
        from backprop_cli.layers.torch_modules import torch_operations

        operations = torch_operations(torch)
        return lambda output, logits, target: build(body, {"yhat": output, "y": target}, operations).mean()

    return Loss(source, element, "mean", criterion=criterion)
