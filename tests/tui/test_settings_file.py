"""shopfloor.toml: each section reaches the settings a run uses; mistakes are one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import storage.writer
from tui.commands.resume import settings_from_record
from tui.config import ConfigError, load_settings
from tui.run_settings import settings_record


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shopfloor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_providers_section_reaches_the_provider_options(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            """
[providers]
max_retries = 2
timeout_s = 90
openai_tools = "text"

[providers.limits.anthropic]
max_concurrency = 3
tokens_per_minute = 40000
""",
        )
    )
    options = settings.providers
    assert options.max_retries == 2
    assert options.timeout_s == 90.0
    assert options.openai_tools == "text"
    assert options.limits["anthropic"].max_concurrency == 3
    assert options.limits["anthropic"].tokens_per_minute == 40000


def test_the_checkout_wait_is_an_engine_setting(tmp_path: Path) -> None:
    """How long merging waits for a checkout of the user's to release the integration
    branch before it asks (engine.merge_wait): set in [engine]; half an hour by default."""
    assert load_settings(None).engine.checkout_wait_s == 1800.0
    settings = load_settings(write(tmp_path, "[engine]\ncheckout_wait_s = 600\n"))
    assert settings.engine.checkout_wait_s == 600.0


def test_the_outage_window_is_a_storage_setting_the_environment_beats(tmp_path: Path) -> None:
    """How long the storage writer waits out a database it cannot reach: [storage]
    outage_wait_s, beaten by $SHOPFLOOR_OUTAGE_WAIT_S (empty = unset); 30 s by default."""
    assert load_settings(None, {}).outage_wait_s == storage.writer.OUTAGE_S == 30.0
    path = write(tmp_path, "[storage]\noutage_wait_s = 90\n")
    assert load_settings(path, {}).outage_wait_s == 90.0
    assert load_settings(path, {"SHOPFLOOR_OUTAGE_WAIT_S": "2.5"}).outage_wait_s == 2.5
    assert load_settings(None, {"SHOPFLOOR_OUTAGE_WAIT_S": "4"}).outage_wait_s == 4.0
    assert load_settings(path, {"SHOPFLOOR_OUTAGE_WAIT_S": " "}).outage_wait_s == 90.0


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon", "1e999"])
def test_a_bad_outage_window_in_the_environment_is_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"SHOPFLOOR_OUTAGE_WAIT_S": value})
    message = str(info.value)
    assert message.startswith("$SHOPFLOOR_OUTAGE_WAIT_S must be a positive number of seconds")
    assert "\n" not in message


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.engine.workers >= 1
    assert settings.providers.max_retries >= 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[providers]\nretries = 3\n", "unknown key(s) in [providers]"),
        ("[nonsense]\nx = 1\n", "unknown section(s)"),
        ("[engine]\nworkers = 'many'\n", "[engine] workers must be int"),
        ("[engine]\nworkers = 0\n", "workers must be at least 1"),
        ("[models]\nastrologer = 'sim:'\n", "unknown role [models] astrologer"),
        ("[engine\nworkers = 2\n", "is not valid TOML"),
        ("models = 'sim:'\n", "[models] must be a table, got 'sim:'"),
        ("[sim]\nspeed = 0\n", "[sim] speed must be a positive number"),
        ("[sim]\nspeed = nan\n", "[sim] speed must be a positive number"),
        ("[engine]\nbranch_prefix = 'team..bot/'\n", "branch_prefix 'team..bot/' holds what"),
        ("[engine]\nescalation_timeout_s = nan\n", "escalation_timeout_s must be a finite"),
        ("[engine]\nmax_cost_usd = inf\n", "max_cost_usd must be a finite number"),
        ("[engine]\ncheckout_wait_s = 0\n", "checkout_wait_s must be positive"),
        ("[providers]\ntimeout_s = 0\n", "[providers] timeout_s is a time limit"),
        ("[providers]\nattempt_timeout_s = inf\n", "attempt_timeout_s is a time limit"),
        ("[providers.cli.claude]\ntimeout_s = 0\n", "[providers.cli.claude] timeout_s is a"),
        ("[storage]\noutage_wait_s = 0\n", "[storage] outage_wait_s must be a positive"),
        ("[storage]\noutage_wait_s = -1.5\n", "[storage] outage_wait_s must be a positive"),
        ("[storage]\noutage_wait_s = nan\n", "[storage] outage_wait_s must be a positive"),
        ("[storage]\noutage_wait_s = '60s'\n", "[storage] outage_wait_s must be a positive"),
        ("[storage]\noutage_wait_s = true\n", "[storage] outage_wait_s must be a positive"),
        ("[storage]\noutage = 60\n", "unknown key(s) in [storage]: ['outage']"),
    ],
)
def test_mistakes_are_one_line_naming_the_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")


def test_a_resumed_run_gets_back_the_settings_it_started_with() -> None:
    started = load_settings(None)
    started = replace(
        started,
        speed=25.0,
        engine=replace(
            started.engine, workers=3, escalation_policy="wait", escalation_timeout_s=90.0
        ),
    )
    record = settings_record(started)
    assert all(isinstance(v, str) for v in record.values())  # RunStarted keeps strings
    back = settings_from_record(record)
    assert back.speed == 25.0
    assert back.engine.workers == 3
    assert back.engine.escalation_policy == "wait"
    assert back.engine.escalation_timeout_s == 90.0


@pytest.mark.parametrize(
    ("file_text", "flags", "expected"),
    [
        ("", [], "twin"),  # headless: nobody watches, the twin answers
        ("", ["--tui"], "wait"),
        ('[engine]\nescalation_policy = "wait"\n', [], "wait"),  # the file beats the default
        ('[engine]\nescalation_policy = "twin"\n', ["--tui"], "twin"),
        ('[engine]\nescalation_policy = "wait"\n', ["--escalations", "reject"], "reject"),
    ],
)
def test_who_answers_escalations_flag_then_file_then_the_fronts_default(
    tmp_path: Path, file_text: str, flags: list[str], expected: str
) -> None:
    from tui.cli import build_parser
    from tui.commands.run import settings_from_args

    config = write(tmp_path, file_text)
    argv = ["run", "x", "--repo", str(tmp_path), "--config", str(config), *flags]
    args = build_parser("run").parse_args(argv)
    assert settings_from_args(args).engine.escalation_policy == expected
