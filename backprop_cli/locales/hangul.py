"""Korean particles and ordinals: the grammar the Korean templates (``ko.py``) fill their blanks with.

A Korean particle has two forms, chosen by the sound before it: 이/가, 을/를, 은/는, 과/와 take the
first after a final consonant (받침), 으로/로 takes 으로 after a final consonant other than ㄹ.
After a symbol the choice follows how the symbol is read aloud, as the seed page does: ``z``는
(지), ``σ``를 (시그마), ``b₃``을 (비 삼), ``b₂``가 (비 이), 예측값(ŷ)과 (the particle after the
word the parenthesis explains). A template asks for one with a format spec: ``{bias:는}``.
"""

from __future__ import annotations

import string
from typing import Any

PAIRS = {
    "이": ("이", "가"), "가": ("이", "가"),
    "을": ("을", "를"), "를": ("을", "를"),
    "은": ("은", "는"), "는": ("은", "는"),
    "과": ("과", "와"), "와": ("과", "와"),
    "으로": ("으로", "로"), "로": ("으로", "로"),
}
"""Each particle, by either of its forms: (after a final consonant, after a vowel)."""

_NO_FINAL, _RIEUL = 0, 8

# How a letter, digit or Greek symbol is read in Korean, by the final sound of its reading:
# 0 for a vowel, 8 for ㄹ, any other number for another final consonant (the 종성 index).
_FINAL = {
    # 에이, 비, 씨, 디, 이, 지, …, 와이, 지 (z, as the seed reads it)
    **dict.fromkeys("abcdeghijkopqtuvwxyz", _NO_FINAL),
    "f": 17, "l": _RIEUL, "m": 16, "n": 4, "r": _RIEUL, "s": _NO_FINAL,  # 에프, 엘, 엠, 엔, 알, 에스
    "0": 21, "1": _RIEUL, "2": _NO_FINAL, "3": 16, "4": _NO_FINAL, "5": _NO_FINAL,  # 영, 일, 이, 삼, 사, 오
    "6": 1, "7": _RIEUL, "8": _RIEUL, "9": _NO_FINAL,  # 육, 칠, 팔, 구
    # 알파, 베타, 감마, 델타, 엡실론, 세타
    "α": _NO_FINAL, "β": _NO_FINAL, "γ": 16, "δ": _NO_FINAL, "ε": 4, "θ": _NO_FINAL,
    # 람다, 뮤, 로, 시그마, 엘
    "λ": _NO_FINAL, "μ": _NO_FINAL, "ρ": _NO_FINAL, "σ": _NO_FINAL, "𝓛": _RIEUL,
    "ŷ": 19, "Ŷ": 19, "\u0302": 19, "ᵀ": _NO_FINAL,  # 와이 햇 (also y and a combining hat), 티 (transposed)
}
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉⁰¹²³⁴⁵⁶⁷⁸⁹", "01234567890123456789")
# Round numbers are read by their unit: 10 십, 100 백, 1000 천, 10000 만.
_UNITS = ((4, 4), (3, 4), (2, 1), (1, 17))  # zeros at the end: the final of 만, 천, 백, 십
_IGNORED = " )]}⁾₎′'*.,"


def final(word: str) -> int | None:
    """The final sound of ``word`` read aloud: 0 for a vowel, a 종성 index otherwise, None if unknown."""
    text = word.translate(_SUBSCRIPTS).rstrip(_IGNORED)
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        return (ord(last) - ord("가")) % 28
    if last.isdigit():
        before = text.rstrip("0123456789")
        digits = text[len(before):]
        zeros = len(digits) - len(digits.rstrip("0"))
        if zeros and digits.strip("0") and not before.endswith("."):
            for count, sound in _UNITS:
                if zeros >= count:
                    return sound
        return _FINAL[last]
    return _FINAL.get(last.lower() if last.isascii() else last)


def particle(word: str, form: str) -> str:
    """The form of particle ``form`` (either of its two forms) that follows ``word``."""
    after_consonant, after_vowel = PAIRS[form]
    sound = final(word)
    if sound is None:
        return form
    if after_consonant == "으로":
        return after_vowel if sound in (_NO_FINAL, _RIEUL) else after_consonant
    return after_vowel if sound == _NO_FINAL else after_consonant


_ORDINALS = ("첫", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉", "열")


def ordinal(number: int) -> str:
    """첫 번째, 두 번째 … 열 번째, then 11번째: the seed's 첫 번째 계층."""
    if 1 <= number <= len(_ORDINALS):
        return f"{_ORDINALS[number - 1]} 번째"
    return f"{number}번째"


class KoreanFormatter(string.Formatter):
    """``str.format`` with two more specs: a particle (``{bias:는}`` is ``b⁽¹⁾는``, ``{n:으로}`` is
    ``4로`` or ``3으로``) and ``번째`` (``{layer:번째}`` is ``첫 번째``)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "번째":
            return ordinal(int(value))
        if format_spec in PAIRS:
            text = str(value)
            return text + particle(text, format_spec)
        text = super().format_field(value, format_spec)
        return text
