"""A unit's ``Restart=`` runs the same ``shopfloor run`` again: with ``--resume-unfinished``
it carries on the run the killed process left, rather than starting the request anew.

A real ``shopfloor run`` process is SIGKILLed once tasks have merged, then started again
with the very same command: the one run ships, each task merged once, and no second run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from demo_process import ROOT, cli, kill_when
from notify_listener import listening

from engine.events import RunStarted
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.demo_repo import prepare_demo_repo

EXAMPLE = ROOT / "examples" / "inventory"


def merges_stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute("select count(*) from events where type='Merged'").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


def test_the_same_run_command_after_a_sigkill_resumes_the_run_to_shipped(
    tmp_path: Path, share_gate_cache: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "home"
    share_gate_cache(home)
    repo, _, playbook = prepare_demo_repo("inventory", tmp_path / "repo")
    config = tmp_path / "conf"
    config.mkdir()
    for name in ("shopfloor.toml", "owner.toml"):  # the twin's DNA stays out of the checkout
        shutil.copy(EXAMPLE / name, config / name)
    words = [
        "run",
        "--request-file",
        str(EXAMPLE / "request.md"),
        "--repo",
        str(repo),
        "--playbook",
        str(playbook),
        "--config",
        str(config / "shopfloor.toml"),
        "--speed",
        "50",
        "--headless",
        "--resume-unfinished",
    ]
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *words],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = home / "shopfloor.db"
    killed = kill_when(proc, lambda: merges_stored(db) >= 2, within_s=120)
    assert killed, "the run finished before two tasks merged"
    (first,) = json.loads(cli(home, "runs", "--json").stdout)
    run_id = first["run_id"]
    assert first["outcome"] == "running" and first["live"] is False

    # While a live process drives that run, the same command is refused, not run twice.
    async def refused_while_driven() -> None:
        store = await SqlEventStore.open(str(db))
        held = await RunLease.take(store, run_id)
        try:
            refused = await asyncio.to_thread(cli, home, *words)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert f"run {run_id} is still running (pid {os.getpid()} on " in refused.stderr
        finally:
            await held.release()
            await store.close()

    asyncio.run(refused_while_driven())

    # What systemd does: the same ExecStart, with the unit's notify socket. The restarted
    # process must say READY (on resuming), or systemd would time its start out.
    with listening() as (address, heard), monkeypatch.context() as patch:
        patch.setenv("NOTIFY_SOCKET", address)
        again = cli(home, *words, timeout=150)
        time.sleep(0.2)
    said = [text for _, text in heard.messages]
    assert said[0].startswith(f"READY=1\nSTATUS=run {run_id} SIM: build, merged "), said[:2]
    assert said[-1].startswith(f"STOPPING=1\nSTATUS=run {run_id} SIM: shipped, merged 6/6")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert f"run {run_id} resumed at stage build" in again.stdout, again.stdout[:2000]
    runs = json.loads(cli(home, "runs", "--json").stdout)
    assert [r["run_id"] for r in runs] == [run_id]  # no second run of the request
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    tasks = [t["id"] for t in status["tasks"]]
    assert sorted(status["merged"]) == sorted(tasks)  # each task merged exactly once
    subjects = subprocess.run(
        ["git", "log", "--format=%s", f"main..{status['branch']}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(subjects) == len(tasks)  # one commit per task on the shipped branch


def test_a_new_run_of_a_request_left_unfinished_there_says_so_and_names_the_resume(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
):
    home = tmp_path / "home"
    share_gate_cache(home)
    repo, request, playbook = prepare_demo_repo("inventory", tmp_path / "repo")
    stopped = "5e5e5e5e5e5e"

    async def leave_a_stopped_run() -> None:
        store = await SqlEventStore.open(str(home / "shopfloor.db"))
        try:
            await store.append(
                [
                    RunStarted(
                        run_id=stopped,
                        seq=1,
                        ts=datetime.now(UTC),
                        request=request,
                        repo=str(repo.resolve()),
                        base_branch="main",
                        base_commit="0" * 40,
                        integration_branch=f"shopfloor/wip/{stopped}",
                    )
                ]
            )
        finally:
            await store.close()

    asyncio.run(leave_a_stopped_run())
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "run",
            request,
            "--repo",
            str(repo),
            "--playbook",
            str(playbook),
            "--speed",
            "50",
            "--headless",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if " started (" in line:  # the new run: the warning came before it
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = "".join(seen)
    assert proc.returncode == 130 and " started (" in said, said  # said, and not refused
    assert (
        f"warning: run {stopped} of this same request on this repository is unfinished "
        f"(stopped, 0/0 merged): this starts another; `shopfloor resume {stopped}` carries "
        "that one on" in " ".join(said.split())
    ), said
