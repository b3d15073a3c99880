"""verify's table, written as segments, reads as the rich table it stands for."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from backprop_cli.model import SEED, SEED_X, SEED_Y, random_network
from backprop_cli.render.verify_terminal import VerificationPrinter
from backprop_cli.verification import check_gradients


def text(renderable, width: int) -> str:
    out = io.StringIO()
    Console(width=width, file=out, color_system=None, highlight=False).print(renderable)
    return out.getvalue()


def reports():
    seed = check_gradients(SEED, SEED_X, SEED_Y)
    checks = list(seed.checks)
    checks[3] = replace(checks[3], finite_difference=replace(checks[3].finite_difference, ok=False, method="kink"))
    yield replace(seed, checks=tuple(checks))
    yield check_gradients(random_network((3, 12, 4), seed=1, activation="relu", loss="mse"), [(0.5, -1.0, 2.0)],
                          [(1.0, 0.0, 0.0, 1.0)], use_torch=False)
    yield check_gradients(random_network((2, 20, 1), seed=3), [(0.5, -1.0)], [(1.0,)])


def test_the_table_is_the_rich_tables_text():
    for report in reports():
        for lang in ("en", "ko"):
            table = VerificationPrinter(lang=lang).table(report)
            for width in (100, 60, 30):
                assert text(table, width) == text(table.rich_table(), width), (lang, width)
