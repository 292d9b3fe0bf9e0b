"""``--max-duration``: the SIM demo with a one-second time budget stops on it, resumable;
``status`` says so (``--json``'s budget object too) with the ``resume --max-duration`` that
goes on, and that resume ships the run without counting the time it lay stopped."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from storage.store import SqlEventStore
from tui.cli import main


async def run_ids(db: Path) -> list[str]:
    async with await SqlEventStore.open(str(db)) as store:
        return [run.run_id for run in await store.list_runs()]


def status(db: Path, run_id: str, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    capsys.readouterr()
    assert main(["status", run_id, "--db", str(db), *flags]) == 0
    return capsys.readouterr().out


def test_the_demo_stops_on_its_time_budget_and_a_resume_with_more_ships_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    argv = ["demo", "--headless", "--speed", "200", "--escalations", "twin"]
    argv += ["--escalation-timeout", "0.2", "--max-duration", "1s"]
    assert main([*argv, "--out", str(tmp_path / "demo"), "--db", str(db)]) == 130
    out = capsys.readouterr().out
    assert "the run crossed its time budget" in out
    assert "stop (by timeout)" in out
    [run_id] = asyncio.run(run_ids(db))

    said = status(db, run_id, capsys, "--json")
    budget = json.loads(said)["budget"]
    assert (budget["max_duration_s"], budget["exceeded"]) == (1.0, "time")
    assert budget["duration_s"] > 1.0
    said = status(db, run_id, capsys)
    assert "budget: run 1s of time (" in said and "time budget exceeded" in said
    assert f"`shopfloor resume {run_id} --max-duration " in said

    time.sleep(1.5)  # lying stopped: not counted
    resume = ["resume", run_id, "--headless", "--max-duration", "10m", "--db", str(db)]
    assert main(resume) == 0
    assert "budget set by hand: run 10m" in capsys.readouterr().out
    finished = json.loads(status(db, run_id, capsys, "--json"))
    assert finished["outcome"] == "shipped"
    assert (finished["budget"]["max_duration_s"], finished["budget"]["exceeded"]) == (600, None)
    # Driven: the stopped run's second or two and the resume's; not the 1.5 s between them.
    took = datetime.fromisoformat(finished["finished_at"]) - datetime.fromisoformat(
        finished["started_at"]
    )
    assert finished["budget"]["duration_s"] < took.total_seconds() - 1.5
