from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=150, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.register_profile("stress", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "3000")), deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A cache folder of the test session's own: the first use of each derivative derives it with sympy,
# later ones (and the processes the tests start) read it back, so both paths run.
os.environ.setdefault("BACKPROP_CACHE_DIR", tempfile.mkdtemp(prefix="backprop-cache-"))


@pytest.fixture
def torch():
    return pytest.importorskip("torch")
