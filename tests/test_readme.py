"""The README and the program say the same thing: its command list names every command, action
and option the parser has, and only those; its configuration section names every key the
loader accepts, and only those; its exit codes are the CLI's.

A new flag or key without its line in the README fails here, and so does a README line about
one that is gone or spelt otherwise.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from tui.cli import EXIT_BROKEN_PIPE, build_parser
from tui.commands.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_KILLED,
    EXIT_OK,
    EXIT_TRY_LATER,
)
from tui.config import CONFIG_KEYS, ConfigError, load_settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def section(title: str) -> str:
    """The README's ``## title`` section, up to the next heading of that level."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


COMMANDS = section("Commands")
SYNOPSIS = [
    line.strip().removeprefix("shopfloor ")
    for line in COMMANDS.splitlines()
    if line.startswith("    shopfloor ")
]
RUN_OPTIONS = COMMANDS[COMMANDS.index("RUN OPTIONS:") : COMMANDS.index("\n\n- ")]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


PARSERS = subparsers(build_parser())


def options(parser: argparse.ArgumentParser) -> set[str]:
    """The long options of ``parser`` and of its actions' parsers."""
    found = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    for action_parser in subparsers(parser).values():
        found |= options(action_parser)
    return found - {"--help"}


def segments(line: str) -> list[str]:
    """A synopsis line's commands: split at `` | `` outside brackets, the comment dropped."""
    line = line.split("  #")[0]
    parts, depth, current = [], 0, ""
    for i, char in enumerate(line):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0 and line.startswith(" | ", i):
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p.strip(" |") for p in parts if p.strip(" |")]


def synopsis_commands() -> list[tuple[str, list[str], str]]:
    """(command, its actions, the segment's text) for each command the synopsis names; a
    segment that starts with an action (``| show ID``) continues the command before it."""
    found: list[tuple[str, list[str], str]] = []
    for line in SYNOPSIS:
        command = ""
        for part in segments(line):
            first, _, rest = part.partition(" ")
            if first in PARSERS:
                command = first
                head = rest.split(" ")[0]
            else:
                assert command, f"README synopsis names no command {first!r}: {line!r}"
                head = first
            known = subparsers(PARSERS[command])
            actions = head.split("|") if known else []
            unknown = [a for a in actions if a not in known]
            assert not unknown, f"README: {command} has no action(s) {unknown}: {line!r}"
            found.append((command, actions, part))
    return found


def test_the_synopsis_names_every_command_and_action_and_only_those() -> None:
    named = synopsis_commands()
    assert {command for command, _, _ in named} == set(PARSERS)
    for command, parser in PARSERS.items():
        actions = set(subparsers(parser))
        listed = {a for c, acts, _ in named if c == command for a in acts}
        assert listed == actions, f"README: {command} {sorted(listed)}; parser: {sorted(actions)}"


def test_each_flag_in_the_synopsis_belongs_to_its_command() -> None:
    for command, _, part in synopsis_commands():
        have = options(PARSERS[command])
        if "RUN OPTIONS" in part:
            given, _, absent = part.partition(" but ")
            have_run = options(PARSERS["run"])
            for flag in FLAG.findall(absent):  # "RUN OPTIONS but --config, ..."
                assert flag in have_run and flag not in have, f"{command}: {flag}"
            for flag in FLAG.findall(RUN_OPTIONS):
                if flag not in FLAG.findall(absent):
                    assert flag in have, f"README: {command} takes {flag}; its parser has not"
            part = given
        for flag in FLAG.findall(part):
            assert flag in have, f"README: {command} takes {flag}; its parser has not"


def test_every_option_of_every_command_is_in_the_command_list() -> None:
    written = set(FLAG.findall("\n".join(SYNOPSIS) + RUN_OPTIONS))
    for command, parser in PARSERS.items():
        missing = options(parser) - written
        assert not missing, f"{command} has {sorted(missing)}; the README's command list not"


def test_the_exit_codes_are_the_clis() -> None:
    bullet = COMMANDS[COMMANDS.index("- Exit codes:") :].split("\n- ")[0]
    listed = {int(n) for n in re.findall(r"(?<![\w/-])(\d+)\s+(?=[a-z(])", bullet)}
    codes = {EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_KILLED, EXIT_TRY_LATER, EXIT_INTERRUPTED}
    assert listed == codes | {EXIT_BROKEN_PIPE}


def test_the_systemd_unit_restarts_on_an_outage_and_not_on_a_failure_or_bad_input() -> None:
    unit = COMMANDS[COMMANDS.index("    [Service]") :].split("\n\n")[0]
    settings = dict(line.strip().split("=", 1) for line in unit.splitlines()[1:] if "=" in line)
    prevented = {int(code) for code in settings["RestartPreventExitStatus"].split()}
    assert settings["Restart"] == "on-failure"
    assert prevented == {EXIT_FAILED, EXIT_BAD_INPUT, EXIT_KILLED}  # 75 restarts
    assert EXIT_TRY_LATER not in prevented
    assert settings["SuccessExitStatus"] == str(EXIT_INTERRUPTED)
    assert int(settings["RestartSec"]) >= 3  # five quick refusals would hit the start limit


CONFIG = section("Configuration")
TABLE = re.compile(r"`\[\[?([A-Za-z.]+)\]\]?")


def config_tables() -> dict[str, str]:
    """The configuration section's text about each table, from its ``[name]`` to the next."""
    body = CONFIG[CONFIG.index("its sections:") :]
    marks = list(TABLE.finditer(body))
    tables: dict[str, str] = {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        name = {"pricing": "pricing.SPEC"}.get(mark.group(1), mark.group(1))
        tables[name] = tables.get(name, "") + body[mark.end() : after.start() if after else None]
    return tables


def under(table: str) -> list[str]:
    """``table`` and the tables inside it: a table's keys may be named beside its subtables'
    (``[gates]`` ... ``[[gates.custom]]`` name, argv, ..., the cache)."""
    return [t for t in CONFIG_KEYS if t == table or t.startswith(table + ".")]


def test_the_configuration_section_names_every_key_the_loader_accepts() -> None:
    tables = config_tables()
    assert set(tables) == set(CONFIG_KEYS)
    for table, keys in CONFIG_KEYS.items():
        text = " ".join(tables[t] for t in under(table))
        missing = sorted(k for k in keys if not re.search(rf"(?<![\w-]){k}(?![\w-])", text))
        assert not missing, f"README's [{table}] leaves out {missing}"


OTHER_TOOLS_SETTINGS = {"num_ctx"}  # Ollama's Modelfile: PARAMETER num_ctx
"""Settings of other tools the configuration section names (not shopfloor's keys)."""


def test_the_keys_the_configuration_section_names_are_the_loaders() -> None:
    for table, text in config_tables().items():
        known = {
            k
            for t in CONFIG_KEYS
            if table == t or table.startswith(t + ".")
            for k in CONFIG_KEYS[t]
        }
        # A snake_case word is a key, unless a slash follows it (a folder: node_modules/), or
        # it is another tool's setting the section tells the user to change.
        for key in re.findall(r"(?<![\w-])[a-z]+(?:_[a-z0-9]+)+(?![\w/-])", text):
            if key in OTHER_TOOLS_SETTINGS:
                continue
            assert key in known, f"README's [{table}] names {key}; the loader does not know it"


def probe(tmp_path: Path, table: str, key: str) -> str:
    """What the loader says about ``key`` in ``table`` given a value of no use to anyone."""
    header = {
        "providers.limits.TARGET": "[providers.limits.anthropic]",
        "providers.cli.NAME": "[providers.cli.claude]",
        "gates.custom": "[[gates.custom]]",
        "pricing.SPEC": '[pricing."sim:x"]',
    }.get(table, f"[{table}]")
    path = tmp_path / "probe.toml"
    path.write_text(f"{header}\n{key} = {{ probe = 1 }}\n", encoding="utf-8")
    try:
        load_settings(path)
    except ConfigError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("table", sorted(CONFIG_KEYS))
def test_the_loader_knows_exactly_the_keys_named(tmp_path: Path, table: str) -> None:
    for key in CONFIG_KEYS[table]:
        assert "unknown" not in probe(tmp_path, table, key), f"[{table}] {key}"
    assert "unknown" in probe(tmp_path, table, "no_such_key")
