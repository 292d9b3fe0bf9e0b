"""One reading of a duration for every option that takes one: ``--max-duration`` took
``1h30m`` and refused ``2w``, ``--older-than`` and ``--since`` took ``2w`` and refused
``1h30m``; both now take both, and refuse the same things in the same words."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from engine.durations import duration_text, parse_duration
from tui.argtypes import duration, positive_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("8H", 28800),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        (" 30 d ", 2592000),
        ("2w", 1209600),
        ("1w2d", 777600),
        ("+45s", 45),
        ("-1d", -86400),
    ],
)
def test_the_forms_a_person_writes(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    if seconds > 0:  # the same span whichever option it is given to
        assert positive_duration(text) == seconds
        assert duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "90", "30m1h", "1.5h", "1hh", "h", "--1d", "1d-2h"])
def test_anything_else_is_one_line(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a duration: .* \(e\.g\. 90m, 8h, 1h30m, 30d\)$"):
        parse_duration(text)
    for option in (positive_duration, duration):
        with pytest.raises(argparse.ArgumentTypeError, match=r"^not a duration: "):
            option(text)


def test_zero_and_less_are_refused_in_each_options_words() -> None:
    for text in ("0h", "-5m"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"^must be more than zero: "):
            positive_duration(text)
        with pytest.raises(argparse.ArgumentTypeError, match=r"^a duration must be more than"):
            duration(text)


def test_what_is_said_reads_back() -> None:
    for seconds in (45, 5400, 28800, 7500):
        assert parse_duration(duration_text(seconds)) == seconds
