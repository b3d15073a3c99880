"""The words of the derivation and the reports, one file per language (``en.py``, ``ko.py`` …).

A language file holds one dict, ``MESSAGES``, from message keys to ``str.format`` templates.
Adding a language is adding a file beside these with every key of ``en.py``.
"""

from __future__ import annotations

import importlib
import string
from dataclasses import dataclass, field
from functools import cache
from typing import Any

LANGUAGES = ("en", "ko")


@cache
def messages(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        from backprop_cli.errors import BackpropError

        raise BackpropError(f"lang: unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    module = importlib.import_module(f"backprop_cli.locales.{lang}")
    table: dict[str, str] = module.MESSAGES
    return table


@cache
def formatter(lang: str) -> string.Formatter:
    """How a language's templates are filled in: its file's ``FORMATTER`` (Korean chooses the
    particle after a blank by the word put in it), else ``str.format``'s."""
    messages(lang)
    found: string.Formatter = getattr(importlib.import_module(f"backprop_cli.locales.{lang}"), "FORMATTER",
                                      None) or string.Formatter()
    return found


def name(word: str) -> Message | str:
    """A function's, loss's or layer kind's name as a sentence puts it (``sigmoid`` is 시그모이드 함수
    in Korean): the message ``name.<word>`` where there is one, else the word as written (a formula)."""
    key = "name." + word.replace(" ", "_")
    return Message(key) if key in messages("en") else word


def named(word: str, lang: str) -> str:
    """``name(word)`` in ``lang``'s words."""
    found = name(word)
    return found.text(lang) if isinstance(found, Message) else found


def check_language(lang: str) -> None:
    """Raises BackpropError, naming the languages there are, when ``lang`` is not one of them."""
    messages(lang)


def latex_packages(lang: str) -> tuple[str, ...]:
    """The LaTeX packages a language's letters need (``kotex`` for Korean): its file's ``LATEX_PACKAGES``."""
    messages(lang)
    packages: tuple[str, ...] = tuple(getattr(importlib.import_module(f"backprop_cli.locales.{lang}"),
                                              "LATEX_PACKAGES", ()))
    return packages


@dataclass(frozen=True)
class Message:
    """A sentence of the derivation: its key and parameters, put into words by a renderer."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.key, tuple(sorted(self.params.items()))))

    def text(self, lang: str = "en") -> str:
        """The sentence in ``lang``; a parameter that is itself a Message is put into words first."""
        template = messages(lang).get(self.key) or messages("en")[self.key]
        params = {k: v.text(lang) if isinstance(v, Message) else v for k, v in self.params.items()}
        return formatter(lang).format(template, **params)


def say(key: str, **params: Any) -> Message:
    return Message(key, params)
