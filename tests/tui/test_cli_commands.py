"""The CLI registers only the invoked command's module; the table naming them stays true;
parsing loads none of what the commands run on."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from engine.events import Outcome
from storage.errors import RunNotFound
from tui.cli import build_parser, is_bad_input
from tui.commands.exit_codes import UsageError
from tui.commands.history import STOPPED
from tui.parsers import COMMANDS, Handler, parser_modules
from tui.parsers.history import OUTCOME_CHOICES


def registered_by(module_name: str) -> list[str]:
    (module,) = [m for m in parser_modules() if m.__name__ == f"tui.parsers.{module_name}"]
    sub = argparse.ArgumentParser().add_subparsers()
    module.register(sub)
    return list(sub.choices)


@pytest.mark.parametrize("module_name", sorted(set(COMMANDS.values())))
def test_the_table_names_what_each_module_registers(module_name: str) -> None:
    assert registered_by(module_name) == [c for c, m in COMMANDS.items() if m == module_name]


def test_the_full_parser_lists_every_command_in_the_tables_order() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == list(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_parses_with_its_module_alone(command: str) -> None:
    parser = build_parser(command)
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert command in sub.choices
    assert set(sub.choices) == {c for c, m in COMMANDS.items() if m == COMMANDS[command]}


HEAVY = ("sqlalchemy", "textual", "opentelemetry", "anthropic", "google", "git", "pydantic")


def test_building_the_parser_loads_nothing_a_command_runs_on() -> None:
    """``shopfloor --help`` and ``shopfloor status --help`` build the parser and stop:
    they took 0.5-0.9 s, importing the store (SQLAlchemy), the event models
    (pydantic), the config (every provider) and Textual, because each command's module
    registered its options beside the code that runs it."""
    probe = (
        "import sys, tui.cli; tui.cli.build_parser(); tui.cli.build_parser('status'); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def handlers(parser: argparse.ArgumentParser) -> list[Handler]:
    """Every handler the parser's commands, and their actions', name."""
    found = [parser.get_default("handler")]
    for child in subcommands(parser).values():
        found += handlers(child)
    return [h for h in found if h is not None]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_handler_named_is_a_command_function(command: str) -> None:
    """A handler is named by strings: one misspelt would fail only when its command ran."""
    named = handlers(subcommands(build_parser(command))[command])
    assert named
    for handler in named:
        assert inspect.iscoroutinefunction(handler.load()), handler


def test_the_outcome_choices_are_the_outcomes_and_stopped() -> None:
    assert OUTCOME_CHOICES == (*(o.value for o in Outcome), STOPPED)


def help_of(words: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser(words[0]).parse_args([*words, "--help"])
    return capsys.readouterr().out


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_commands_help_says_what_it_does(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``shopfloor attach --help`` printed a usage line and the options, and never what
    attach does; only ``shopfloor --help``'s list said it. Now each command's help (and
    each action's: ``db prune``) starts with that line, as a sentence."""
    parser = build_parser(command)
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {choice.dest: choice.help for choice in sub._choices_actions}
    said = help_of([command], capsys)
    paragraphs = said.split("\n\n")
    assert paragraphs[0].startswith(f"usage: shopfloor {command}")
    description = " ".join(paragraphs[1].split())
    summary = str(listed[command])
    assert description.lower().startswith(summary.lower()), (command, description)
    for action, child in subcommands(subcommands(parser)[command]).items():
        nested = " ".join(help_of([command, action], capsys).split("\n\n")[1].split())
        assert nested.endswith(".") and nested[0].isupper(), (command, action, nested)
        assert child.description == nested


def test_bad_input_is_recognised_by_the_classes_named() -> None:
    assert is_bad_input(UsageError("x"))
    assert is_bad_input(RunNotFound("no run matches 'x'"))  # a subclass counts
    assert not is_bad_input(RuntimeError("a bug: shown as a traceback, not one line"))


def test_the_run_commands_load_the_composition_root_only_to_run() -> None:
    """``run`` spawns the storage writer's process before it imports the composition root
    (400 ms of providers, gates, exporters), so the child starts meanwhile; and
    ``serve-metrics`` never loads it. Nor does ``resume``'s module until it resumes:
    imported at its top, it loaded the composition root before a resume started its
    writer."""
    probe = (
        "import sys, tui.commands.run, tui.commands.metrics, tui.commands.resume; "
        "print('tui.compose' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"


def test_no_collection_walks_a_quick_commands_modules_as_they_load(tmp_path: Path) -> None:
    """``shopfloor runs`` loads the store, SQLAlchemy and the event models with the collector
    off: ~180 collections walked them as they loaded, ~80 ms of the command's CPU."""
    (tmp_path / "runs.db").touch()  # an empty SQLite database: runs refuses a missing file
    probe = (
        "import gc, sys\n"
        "walks = []\n"  # collections after SQLAlchemy began to load, before the program settled
        "gc.callbacks.append(lambda phase, info: phase == 'start' and walks.append("
        "'sqlalchemy' in sys.modules and gc.get_freeze_count() == 0))\n"
        "from tui.cli import console_main\n"
        f"code = console_main(['runs', '--db', {str(tmp_path / 'runs.db')!r}])\n"
        "print(code, walks.count(True))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[-2:] == ["0", "0"]  # answered, and no collection walked the modules
