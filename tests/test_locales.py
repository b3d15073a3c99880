"""Languages: every sentence in every language, with the same blanks; and pages drawn in each."""

from __future__ import annotations

import importlib
import re
import string
from pathlib import Path

import pytest
from cases import seed
from rich.cells import cell_len

from backprop_cli.errors import BackpropError
from backprop_cli.locales import LANGUAGES, Message, check_language, latex_packages, messages
from backprop_cli.render import render

PACKAGE = Path(__file__).parents[1] / "backprop_cli"


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_key_with_the_same_blanks(lang):
    english, other = messages("en"), messages(lang)
    assert set(other) == set(english), (set(english) - set(other), set(other) - set(english))
    for key, template in english.items():
        assert fields(other[key]) == fields(template), key


def test_every_key_the_code_uses_exists():
    used = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""(?:say|Message|words_key)\(\s*f?["']([a-z_.]+)["']""", text))
    used = {key for key in used if not key.endswith(".")}
    assert used and used <= set(messages("en")), used - set(messages("en"))


def test_korean_uses_the_seed_pages_terms():
    text = " ".join(messages("ko").values())
    for term in ("순전파", "가중합", "활성화 함수", "오차 계산", "역전파", "연쇄법칙", "학습률", "갱신"):
        assert term in text, term


def test_languages_are_files():
    for lang in LANGUAGES:
        module = importlib.import_module(f"backprop_cli.locales.{lang}")
        assert module.MESSAGES is messages(lang)
    assert latex_packages("en") == () and latex_packages("ko") == ("kotex",)
    with pytest.raises(BackpropError, match="unknown language 'fr'; choose one of en, ko"):
        check_language("fr")
    assert Message("section.forward").text("ko") == "순전파"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_terminal_page_is_aligned_at_80_columns(lang):
    text = render(seed(lang=lang), "rich", width=80)
    lines = text.splitlines()
    assert len(lines) > 80
    assert all(cell_len(line) == 80 for line in lines), [line for line in lines if cell_len(line) != 80][:3]
    if lang == "ko":
        assert "╭─ 1. 순전파 ─" in text and "출력층부터 계층의 역순으로 연쇄법칙을 적용합니다" in text
