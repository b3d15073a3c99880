"""``backprop step --format json`` prints no page: the same numbers whichever form is asked, equal to
PyTorch autograd, and no scalar page built for them."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from backprop_cli import build
from backprop_cli.cli import main
from backprop_cli.io import spec_toml
from tests.reference import assert_step_close, torch, torch_step
from tests.strategies import networks

FORMS = ("scalar", "matrix", "auto")


def step_json(folder: Path, spec: Path, *options: str) -> str:
    out = folder / "step.json"
    assert main(["step", "--network", str(spec), "--format", "json", "--output", str(out), "--force", *options]) == 0
    return out.read_text(encoding="utf-8")


def test_the_seeds_json_is_the_same_in_every_form(capsys):
    printed = []
    for form in FORMS:
        assert main(["step", "--format", "json", "--form", form]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] == printed[2]


@pytest.mark.skipif(torch is None, reason="needs torch")
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(networks(max_samples=3, max_depth=3, max_width=5))
def test_every_form_prints_the_same_json_equal_to_torch(case):
    network, xs, ys = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = folder / "net.toml"
        spec.write_text(spec_toml(network, xs, ys), encoding="utf-8")
        texts = [step_json(folder, spec, "--form", form) for form in FORMS]
    assert texts[0] == texts[1] == texts[2]
    assert_step_close(json.loads(texts[0]), torch_step(network, xs, ys), tol=1e-9)


def test_the_json_builds_no_scalar_page(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("the scalar page was built for JSON")

    monkeypatch.setattr(build, "_ScalarBuilder", refuse)
    assert main(["step", "--format", "json", "--form", "scalar", "--layers", "5", "4", "3", "1",
                 "--x", "1", "2", "3", "4", "5", "--y", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["grad_weight"]
    # The page itself still is the scalar one.
    assert main(["step", "--format", "markdown", "--form", "scalar"]) != 0
    assert "the scalar page was built" in capsys.readouterr().err


def test_carried_values_keep_the_form_asked(capsys):
    """With --rounding carry the JSON holds the page's rounded lines, which differ between forms."""
    printed = []
    for form in ("scalar", "matrix"):
        assert main(["step", "--format", "json", "--form", form, "--rounding", "carry"]) == 0
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] != printed[1]
