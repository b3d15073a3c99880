"""The expression printer's MathML style, against its text and LaTeX styles on whole derivations."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from cases import adam_softmax, batch, mazur, seed

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Step
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network
from backprop_cli.printing import ExprPrinter, mathml_number, mathml_tokens, to_latex, to_mathml

MATHML = "http://www.w3.org/1998/Math/MathML"


def formula_network():
    """relu (a Piecewise), a formula with abs, and sqrt: the printer's rarer constructs."""
    return build_derivation(Network((Layer(((0.5, -0.4), (0.3, 0.8)), (0.1, -0.2), "relu"),
                                     Layer(((0.7, -0.6),), (0.05,), "x/(1+abs(x))")), loss="mse", lr=0.1),
                            ((1.0, 2.0),), ((0.3,),))


DERIVATIONS = {"seed": seed, "mazur": mazur, "batch": batch, "adam_softmax": adam_softmax,
               "formula": formula_network}


def steps(derivation):
    for section in derivation.sections:
        for group in section.groups:
            yield from (s for s in group.steps if isinstance(s, Step))


def parse(mathml: str) -> ET.Element:
    return ET.fromstring(f'<math xmlns="{MATHML}">{mathml}</math>')


def signed_decimals(text: str) -> list[str]:
    """The decimal numbers of a printed line, each with the minus sign in front of it if any:
    ``0.4352 × 1 - 0.1419`` gives ``0.4352, -0.1419``. Tags count as spaces."""
    plain = re.sub(r"<[^>]+>", " ", text)
    return [("-" if sign else "") + number for sign, number in re.findall(r"(?:([−-])[\s(]*)?(\d+\.\d+)", plain)]


@pytest.mark.parametrize("name", DERIVATIONS)
def test_every_line_is_well_formed_mathml_with_the_same_numbers_as_the_text(name):
    derivation = DERIVATIONS[name]()
    for step in steps(derivation):
        for expr in (*step.lead, step.target, *step.forms):
            for values in (None, derivation.values):
                mathml = ExprPrinter(values=values, style="mathml").doprint(expr)
                parse(mathml)  # raises on malformed markup
                text = ExprPrinter(values=values).doprint(expr)
                assert signed_decimals(mathml) == signed_decimals(text), (text, mathml)


def test_the_latex_flag_still_means_latex():
    derivation = adam_softmax()
    for step in steps(derivation):
        for expr in (step.target, *step.forms):
            assert ExprPrinter(True).doprint(expr) == ExprPrinter(style="latex").doprint(expr) == to_latex(expr)
            assert ExprPrinter(False).doprint(expr) == ExprPrinter(style="text").doprint(expr)


def test_signs_of_substituted_numbers():
    derivation = build_derivation(SEED, SEED_X, SEED_Y)
    z1, z2 = derivation.sections[0].groups[0].steps[:2]
    # z₁ = … − 0.1419 (negative bias), z₂ = … + 0.0439 (positive bias): never "− 0.0439".
    assert to_mathml(z1.forms[-1], derivation.values).endswith("<mo>−</mo><mn>0.1419</mn>")
    assert to_mathml(z2.forms[-1], derivation.values).endswith("<mo>+</mo><mn>0.0439</mn>")
    update = derivation.sections[-1].groups[-1].steps[0]  # W₁(t+1) = 0.4352 − 1 × (−0.0162), layer 1 last
    numbers = to_mathml(update.forms[-1], derivation.values)
    assert '<mo stretchy="false">(</mo><mrow><mo>−</mo><mn>0.0162</mn></mrow>' in numbers


def test_symbols():
    derivation = build_derivation(SEED, SEED_X, SEED_Y)
    output = derivation.sections[0].groups[1].steps[1]  # ŷ = σ₃ = …
    assert to_mathml(output.lead[0]) == '<mover accent="true"><mi>y</mi><mo>^</mo></mover>'
    loss = derivation.sections[1].groups[0].steps[0].target
    assert to_mathml(loss) == "<mi>ℒ</mi>"
    delta = derivation.sections[2].groups[0].steps[2].forms[0]  # ∂𝓛/∂z₃
    assert to_mathml(delta) == ("<mfrac><mrow><mo>∂</mo><mi>ℒ</mi></mrow><mrow><mo>∂</mo><msub><mi>z</mi>"
                                "<mrow><mn>3</mn></mrow></msub></mrow></mfrac>")


def test_numbers_and_tokens():
    assert mathml_number("-0.0162") == "<mo>−</mo><mn>0.0162</mn>"
    assert mathml_number("1.2500e-5") == ("<mn>1.2500</mn><mo>×</mo><msup><mn>10</mn><mrow><mo>−</mo><mn>5</mn>"
                                          "</mrow></msup>")
    assert mathml_number("nan") == "<mi>NaN</mi>"
    assert mathml_number("-inf") == "<mo>−</mo><mi>∞</mi>"
    assert mathml_tokens("(t+1)") == ('<mo stretchy="false">(</mo><mi>t</mi><mo>+</mo><mn>1</mn>'
                                      '<mo stretchy="false">)</mo>')


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError, match="style"):
        ExprPrinter(style="svg")
