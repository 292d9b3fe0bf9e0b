"""Two ``shopfloor resume`` of one stopped run, the second losing the race for its lease.

Both found the run stopped (no process drove it); one took the lease first. The loser used
to print the warnings about its models (one family, no independent review) as if it were
about to run, then say the run was held elsewhere. It must say that alone, in one line.

The race is made certain, not hoped for: the run's config file is a named pipe, so the
resume waits on reading it after finding the run stopped; meanwhile this test takes the
run's lease, as the winning resume would, then hands the resume its config.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

from repo_helpers import git, make_repo

from engine.bus import EventBus
from engine.events import RunStarted
from storage.lease import RunLease
from storage.store import SqlEventStore

RUN_ID = "r-raced-resume"
MODEL = "openai:coder@http://127.0.0.1:9/v1"
ROLES = ("planner", "engineer", "critic", "twin", "task_reviewer", "qc", "verifier", "judge")
ONE_FAMILY = "[models]\n" + "".join(f'{role} = "{MODEL}"\n' for role in ROLES)
ONE_FAMILY += f'reviewers = ["{MODEL}"]\n'  # a review that is not independent: a warning


async def stopped_run(db: Path, repo: Path, config: Path) -> SqlEventStore:
    started = EventBus(RUN_ID).emit(
        RunStarted(
            request="add stock",
            repo=str(repo),
            base_branch="main",
            base_commit=git(repo, "rev-parse", "HEAD"),
            integration_branch=f"shopfloor/wip/{RUN_ID}",
            models={"planner": "openai:coder@http://127.0.0.1:9/v1"},
            settings={"config": str(config), "workers": "1"},
        )
    )
    store = await SqlEventStore.open(str(db))
    await store.append([started])
    return store


def open_writer(fifo: Path, resume: subprocess.Popen[str]) -> int:
    """The pipe's write end, once the resume has opened it to read (it found the run
    stopped by then)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        assert resume.poll() is None, resume.communicate()
        assert time.monotonic() < deadline, "the resume never read its config"
        time.sleep(0.02)


def test_the_resume_that_loses_the_lease_says_so_in_one_line(home: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db, config = tmp_path / "runs.db", tmp_path / "shopfloor.toml"
    os.mkfifo(config)
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(stopped_run(db, repo, config))
    lease = None
    resume = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "resume", RUN_ID, "--db", str(db)],
        env={**os.environ, "NO_COLOR": "1"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        pipe = open_writer(config, resume)
        lease = loop.run_until_complete(RunLease.take(store, RUN_ID))  # the winner's
        os.set_blocking(pipe, True)
        os.write(pipe, ONE_FAMILY.encode())
        os.close(pipe)
        out, err = resume.communicate(timeout=60)
    finally:
        if resume.poll() is None:
            resume.kill()
        if lease is not None:
            loop.run_until_complete(lease.release())
        loop.run_until_complete(store.close())
        loop.close()
    said = [line for line in (out + err).splitlines() if line.strip()]
    assert resume.returncode != 0
    assert len(said) == 1, said
    assert f"run {RUN_ID} is still running" in said[0]
