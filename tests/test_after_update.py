"""An error met by the network after the step's update says so: its values are on no line of the page."""

from __future__ import annotations

import pytest

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError
from backprop_cli.model import Layer, Network


@pytest.mark.parametrize("form", ["scalar", "matrix"])
def test_bce_leaving_its_range_after_the_update_names_the_update(form):
    """ŷ = 0.5 on the page; the update (α = 10, ∂𝓛/∂ŷ = −2) moves it to 40.5, which bce refuses."""
    network = Network((Layer(((0.0,),), (0.5,), "identity"),), loss="bce", lr=10)
    with pytest.raises(BackpropError) as caught:
        build_derivation(network, ((1.0,),), ((1.0,),), Options(form=form))
    message = str(caught.value)
    assert "after its update" in message and "learning rate 10" in message and "--lr" in message
    assert "\n" not in message
