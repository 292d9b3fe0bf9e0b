"""Escape sequences in a request leave nothing in the shipped branch's name.

"Add kelvin \\x1b[2J\\x1b[0m pwned" shipped as ``add-kelvin-2j-0m-pwned-…``: the slug dropped
the escape characters but kept their printable bytes as words. They are dropped whole now,
with the pattern the screen drops them with (:mod:`engine.terminal_escapes`).
"""

from __future__ import annotations

import pytest

from engine.config import EngineConfig
from engine.request_title import branch_slug
from engine.ship import branch_name
from engine.terminal_escapes import without_escapes

CASES = [
    ("Add kelvin \x1b[2J\x1b[0m pwned", "add-kelvin-pwned"),
    ("\x1b[2J\x1b[0m pwned", "pwned"),
    ("Add \x1b[1;31mkelvin\x1b[m support", "add-kelvin-support"),
    ("Add kelvin\x1b]0;rename the window\x07 support", "add-kelvin-support"),
    ("Add kelvin\x1b]8;;https://evil.example\x1b\\ support", "add-kelvin-support"),
    ("Add kelvin\x9b2J support", "add-kelvin-support"),  # the 8-bit CSI
    ("Add kelvin\x1bP1$r0m\x1b\\ support", "add-kelvin-support"),  # a DCS
    ("# Add kelvin\x1b[2J\n\nthe \x1b[0m body", "add-kelvin"),  # a heading names it alone
    ("\x1b[2J\x1b[0m", "run"),  # nothing but escapes: the slug of an empty request
]


@pytest.mark.parametrize(("request_text", "slug"), CASES, ids=[repr(c[0]) for c in CASES])
def test_escape_sequences_are_dropped_whole_before_slugging(request_text: str, slug: str) -> None:
    assert branch_slug(request_text) == slug


def test_the_shipped_branch_of_the_audits_request() -> None:
    name = branch_name(EngineConfig(), "Add kelvin \x1b[2J\x1b[0m pwned", "r-12345678abc")
    assert name == "shopfloor/add-kelvin-pwned-r-123456"


def test_a_request_without_escapes_slugs_as_before() -> None:
    assert branch_slug("Add [2J] mode, 0m/s speed") == "add-2j-mode-0m-s-speed"
    assert without_escapes("Add [2J] mode, 0m/s speed") == "Add [2J] mode, 0m/s speed"
