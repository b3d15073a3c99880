"""The verdict of ``backprop verify`` reads as a sentence for one gradient as for many."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from backprop_cli.model import Layer, Network
from backprop_cli.render.verify_terminal import verification_renderable
from backprop_cli.verification import check_gradients


def page(report, lang: str) -> str:
    buffer = io.StringIO()
    Console(width=120, file=buffer, color_system=None).print(verification_renderable(report, lang=lang))
    return buffer.getvalue()


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_one_gradient_is_not_all_one(lang):
    network = Network((Layer(((0.5,),), None, "sigmoid"),), loss="bce")
    report = check_gradients(network, ((1.0,),), ((0.0,),))
    assert report.ok and len(report.checks) == 1
    text = page(report, lang)
    assert "All 1" not in text and "1개 모두" not in text
    assert ("✓ The gradient agrees" if lang == "en" else "✓ 기울기가 일치합니다") in text
