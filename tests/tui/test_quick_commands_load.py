"""The commands pasted from another shell during a run load only what they read with.

``status``, ``runs``, ``escalations`` and ``answer`` on a SQLite database loaded the
PostgreSQL dialect (~20 ms: an index's ``postgresql_where`` and the projector's upsert
named it at import), and ``status`` and ``runs`` GitPython (~25 ms) and the gates'
interpreter module too, to read two keys of a run's settings record. Each command here runs
to its end in a fresh interpreter, on a database holding a run that waits on a question, and
then says which of those modules it loaded. (Textual, the SDKs and OpenTelemetry were out
already, as tests/test_boundaries.py checks; so was asyncpg itself.)

``doctor`` opens no database, yet loaded SQLAlchemy and the whole store (~200 ms: the exit
codes lived beside ``open_store``, and ``shopfloor`` imports them for every command) and
GitPython (the gates' list of folders to skip lived in the module of the Python gates).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_plan_view import RUN_ID, db, plan_events, store, twin_question

from engine import loop as event_loop
from engine.events import Outcome, RunFinished

__all__ = ["db"]  # the fixture

NOT_NEEDED = ("sqlalchemy.dialects.postgresql", "git", "gates")
"""What a quick command on SQLite has no use for: the PostgreSQL dialect, GitPython, the
gates."""

PROBE = """
import json, sys
from tui.cli import main
code = main({words!r})
print(json.dumps([code, sorted(m for m in {not_needed!r} if m in sys.modules)]))
"""


@pytest.mark.parametrize(
    "words",
    [
        ["status", RUN_ID],
        ["runs"],
        ["escalations"],
        ["answer", "esc-1", "accept", "--run", RUN_ID],
    ],
    ids=lambda words: words[0],
)
def test_a_quick_command_on_sqlite_loads_no_postgresql_git_or_gates(
    db: Path, words: list[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    code, loaded = run_fresh([*words, "--db", str(db)], NOT_NEEDED)
    assert code == 0  # the command did its work (answer posted, status printed)
    assert loaded == []


VALIDATORS_BUILT = "pydantic.plugin._loader"
"""Loaded when pydantic builds its first validator (to wrap it in the installed plugins):
absent, no model was built."""


@pytest.mark.parametrize(
    "words",
    [["runs"], ["runs", "--json"], ["escalations"], ["answer", "esc-1", "accept", "--run", RUN_ID]],
    ids=lambda words: " ".join(words[:2]),
)
def test_a_command_that_reads_no_event_builds_no_event_model(db: Path, words: list[str]) -> None:
    """``runs``, ``escalations`` and ``answer`` read the projections, not the log: they built
    the validators of every event type, the blueprint and the gates' results at import, and
    loaded pydantic's plugins to wrap them (~0.1 s of CPU). Now each is built on first use."""
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    code, loaded = run_fresh([*words, "--db", str(db)], (VALIDATORS_BUILT,))
    assert code == 0
    assert loaded == []


def test_status_still_builds_the_event_models_it_reads(db: Path) -> None:
    """The probe above can see a build: ``status`` folds the log, so it builds them."""
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    code, loaded = run_fresh(["status", RUN_ID, "--json", "--db", str(db)], (VALIDATORS_BUILT,))
    assert code == 0
    assert loaded == [VALIDATORS_BUILT]


FACTORY = (
    "sqlalchemy",
    "storage",
    "agents",
    "gates",
    "telemetry",
    "textual",
    "opentelemetry",
    "prometheus_client",
    "pydantic",
    "engine.events",
)
"""What running the factory loads, and refusing its command line needs none of: the
redactor that cleans the refusal's line reads text, not events (engine.redaction loaded
pydantic and the event models for it, ~0.1 s of CPU, before engine.event_redaction held the
events' part)."""


@pytest.mark.parametrize(
    ("words", "file"),
    [
        (["run", "--repo", "."], None),
        (["run", "--request-file", "{empty}", "--repo", "."], ""),
        (["run", "add x", "--request-file", "{empty}", "--repo", "."], "add y"),
        (["run", "add x", "--repo", ".", "--out", "{empty}"], "a file"),
        (["demo", "--out", "{empty}"], "a file"),
        (["run", "add x", "--repo", "{empty}"], "a file"),
        (["run", "add x", "--repo", "{empty}-gone"], None),
    ],
    ids=[
        "no request",
        "empty request file",
        "request twice",
        "run out a file",
        "demo out a file",
        "repo a file",
        "repo missing",
    ],
)
def test_a_refused_run_loads_none_of_the_factory(
    tmp_path: Path, words: list[str], file: str | None
) -> None:
    """``run`` and ``demo`` loaded the engine, the providers, the gates and the store (~1 s
    of CPU) and started the storage writer's process before saying that their request,
    ``--repo`` or ``--out`` could not be used."""
    (tmp_path / "empty").write_text(file or "", encoding="utf-8")
    code, loaded = run_fresh(
        [w.format(empty=tmp_path / "empty") for w in words], FACTORY, cwd=tmp_path
    )
    assert code == 2
    assert loaded == []


RESUME_WIRING = ("agents", "gates", "telemetry", "tui.config", "tui.run_plan", "storage.run_writer")
"""What the exporters and a run's settings and plan load (tui.config: the agents' and the
gates' configuration)."""


@pytest.mark.parametrize(
    ("run_ref", "finished", "code"),
    [("r-nosuch", False, 2), (RUN_ID, True, 1)],
    ids=["unknown run", "finished run"],
)
def test_a_resume_refused_by_the_log_loads_none_of_the_factory(
    db: Path, run_ref: str, finished: bool, code: int
) -> None:
    """``resume`` imported the providers, the gates, the exporters and the storage writer's
    launcher with its module (~0.3 s of CPU, several seconds on a loaded machine) before
    saying that no run matches, or that the run had finished."""
    ended = [RunFinished(outcome=Outcome.FAILED, reason="gates red")] if finished else []
    event_loop.run(store(db, [*plan_events(), *ended]))
    said, loaded = run_fresh(["resume", run_ref, "--db", str(db)], RESUME_WIRING)
    assert said == code
    assert loaded == []


def test_doctor_loads_no_store_and_no_git(tmp_path: Path) -> None:
    code, loaded = run_fresh(
        ["doctor", "--model", "sim:", "--repo", str(tmp_path)], ("sqlalchemy", "storage", "git")
    )
    assert code == 0  # the SIM answered
    assert loaded == []


def run_fresh(
    words: list[str], not_needed: tuple[str, ...], cwd: Path | None = None
) -> tuple[int, list[str]]:
    """``shopfloor WORDS`` in a fresh interpreter: its exit code, and which of
    ``not_needed`` it loaded."""
    probe = PROBE.format(words=words, not_needed=not_needed)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    code, loaded = json.loads(result.stdout.splitlines()[-1])
    return code, loaded
