"""What the commands print of a person's or a model's words is printed as written: not
coloured as if it were Python (``None``, ``0x1f``, ``parse(``), and not run through the
regular expressions that colour it, which take quadratic time over one long word — ``status``
of a run whose request was a 40,000-character line with no space (a pasted token, a
minified file) spent 52 s in rich's highlighter before it printed three lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.highlighter import RegexHighlighter
from test_plan_view import RUN_ID, started, store

from engine import loop as event_loop
from tui.cli import main


def test_status_of_a_run_with_one_long_word_for_a_request_is_quick(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = home.parent / "runs.db"
    word = "x" * 40_000
    event_loop.run(store(db, [started().model_copy(update={"request": word})]))
    highlighted: list[str] = []  # what rich's regular expressions were run over
    plain = RegexHighlighter.highlight
    monkeypatch.setattr(
        RegexHighlighter,
        "highlight",
        lambda self, text: (highlighted.append(text.plain), plain(self, text))[1],
    )
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "request:" in out and out.count("x") == len(word)  # folded at the width, whole
    assert not [text for text in highlighted if "xxxx" in text]  # 52 s in them before


def test_a_request_is_printed_without_colours_it_did_not_ask_for(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = home.parent / "runs.db"
    request = "Handle None in parse(text) for 0x1f and True"
    event_loop.run(store(db, [started().model_copy(update={"request": request})]))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"request: {request}\n" in out
