"""Markdown pages build on a Jekyll blog: Liquid reads ``{{`` and ``{%`` as its tags, so none is printed."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.model import SEED, SEED_X, SEED_Y

FORMULAS = ["x/(1+abs(x))", "x**2/(1+x**2)", "exp(-x**2)", "log(1+exp(x))", "x*sigmoid(x)"]


def assert_no_liquid_tags(page: str) -> None:
    assert "{{" not in page and "{%" not in page, re.findall(r".{20}\{[{%].{20}", page)[:3]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=10)
@given(st.sampled_from(FORMULAS), st.sampled_from(["scalar", "matrix"]))
def test_formula_activations_print_no_liquid_tags(formula, form):
    hidden = dataclasses.replace(SEED.layers[0], activation=formula)
    network = dataclasses.replace(SEED, layers=(hidden, *SEED.layers[1:]))
    page = build_derivation(network, SEED_X, SEED_Y, Options(form=form)).to_markdown()
    assert_no_liquid_tags(page)


def test_the_spacing_keeps_every_brace():
    from backprop_cli.render.markdown import liquid_safe

    text = r"\frac{{x}}{{\left(1 + |x|\right)}^{2}} {%"
    safe = liquid_safe(text)
    assert_no_liquid_tags(safe)
    assert safe.replace(" ", "") == text.replace(" ", "")
