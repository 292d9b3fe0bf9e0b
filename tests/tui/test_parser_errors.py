"""Wrong arguments are one line on stderr, as every other usage error: ``shopfloor: MESSAGE
(shopfloor run --help)``, exit code 2. argparse printed the whole usage before the error (13
lines for ``run --max-cost -1``), and a word a command did not know was pointed at
``shopfloor``'s usage, not the command's."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tui.cli import build_parser, main
from tui.parsers import COMMANDS


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def command_lines() -> list[list[str]]:
    """Every command and every action of a command with actions (``db prune``), as words."""
    lines = []
    for command in COMMANDS:
        parser = subcommands(build_parser(command))[command]
        actions = subcommands(parser)
        lines += [[command, action] for action in actions] if actions else [[command]]
    return lines


def said_by(words: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What ``shopfloor WORDS`` says on stderr, line by line; it must exit 2 saying nothing
    on stdout."""
    with pytest.raises(SystemExit) as info:
        main(words)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err.splitlines()


@pytest.mark.parametrize("words", command_lines(), ids=" ".join)
def test_an_unknown_option_of_any_command_is_one_line(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (line,) = said_by([*words, "--no-such-option"], capsys)
    assert line.startswith("shopfloor: "), line
    assert line.endswith(f"(shopfloor {' '.join(words)} --help)"), line


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (
            ["run", "x", "--repo", ".", "--max-cost", "-1"],
            "shopfloor: argument --max-cost: must be a positive number: '-1' "
            "(shopfloor run --help)",
        ),
        (
            ["resume", "r1", "--max-duration", "30m1h"],
            "shopfloor: argument --max-duration: not a duration: '30m1h' (e.g. 90m, 8h, 1h30m, "
            "30d) "
            "(shopfloor resume --help)",
        ),
        (
            ["demo", "--max-duration", "1" + "0" * 400 + "d"],
            f"shopfloor: argument --max-duration: duration too long: '1{'0' * 400}d'"
            " (shopfloor demo --help)",
        ),
        (
            ["demo", "--max-duration", "0h"],
            "shopfloor: argument --max-duration: must be more than zero: '0h' "
            "(shopfloor demo --help)",
        ),
        (
            ["run", "x", "--repo", ".", "--speed", "abc"],
            "shopfloor: argument --speed: not a number: 'abc' (shopfloor run --help)",
        ),
        (
            ["runs", "--bogus"],
            "shopfloor: unrecognized arguments: --bogus (shopfloor runs --help)",
        ),
        (
            ["db", "prune", "--older-than", "1d", "extra"],
            "shopfloor: unrecognized arguments: extra (shopfloor db prune --help)",
        ),
        (
            ["answer"],
            "shopfloor: the following arguments are required: ID, OPTION (shopfloor answer --help)",
        ),
        (
            ["runs", "--limit"],
            "shopfloor: argument --limit: expected one argument (shopfloor runs --help)",
        ),
        ([], "shopfloor: the following arguments are required: COMMAND (shopfloor --help)"),
        (["db"], "shopfloor: the following arguments are required: ACTION (shopfloor db --help)"),
        (["runs", "a\nb"], "shopfloor: unrecognized arguments: a b (shopfloor runs --help)"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_each_kind_of_parser_error_is_one_line(
    words: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert said_by(words, capsys) == [said]


def test_an_unknown_command_is_one_line_naming_the_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (line,) = said_by(["bogus"], capsys)
    assert line.startswith("shopfloor: argument COMMAND: invalid choice: 'bogus' (choose from ")
    assert "'run'" in line and line.endswith(" (shopfloor --help)")


def test_the_installed_command_says_it_in_one_line() -> None:
    """The whole process, as a person meets it: the line and exit code 2, no usage."""
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "run", "--max-cost", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "shopfloor: argument --max-cost: must be a positive number: '-1' (shopfloor run --help)\n"
    )


def test_a_key_pasted_as_an_argument_is_not_echoed_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key typed where an option's name was meant came back in the error line, as typed."""
    key = "sk-ant-api03-" + "Q7w" * 20
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    lines = said_by(["runs", key], capsys)
    assert len(lines) == 1
    assert key not in lines[0] and key[:24] not in lines[0]
    assert lines[0].endswith("(shopfloor runs --help)")
