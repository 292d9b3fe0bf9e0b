"""``run``, ``demo`` and ``resume`` start the storage writer's process before they load the
factory, so that the two processes import side by side.

The child imports SQLAlchemy and the event models (~0.6 s of CPU on the 2-core machine);
spawned once the run had loaded the engine, the providers, the gates, the store and the
exporters (~1 s), it was still importing when the run was set up, and the run waited for it
before ``RunStarted``. Each command here runs in a fresh interpreter and stops on its
database (an in-memory one, which a run refuses; a run id the log does not hold) once the
child is spawned; the probe says what had loaded when it was, and whether it is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_plan_view import db

__all__ = ["db"]  # the fixture

FACTORY = (
    "sqlalchemy",
    "tui.compose",
    "tui.commands.run",
    "tui.commands.history",
    "engine.events",
    "engine.pipeline",
    "agents",
    "gates",
    "telemetry",
)
"""What the run loads after the child is spawned: the store, the event models, the
composition root, the providers, the gates and the exporters."""

PROBE = """
import json, sys
from storage.writer_launch import WriterLaunch
from tui.cli import main

loaded, launches = [], []
spawn = WriterLaunch.spawn.__func__

async def recording(cls):
    loaded.append(sorted(m for m in {factory!r} if m in sys.modules))
    launches.append(await spawn(cls))
    return launches[-1]

WriterLaunch.spawn = classmethod(recording)
code = main({words!r})
gone = [launch.process.returncode is not None for launch in launches]
print(json.dumps([code, loaded, gone]))
"""


def run_probe(words: list[str], cwd: Path) -> tuple[int, list[list[str]], list[bool]]:
    """``shopfloor WORDS`` in a fresh interpreter: its exit code, what of :data:`FACTORY`
    had loaded at each spawn of the writer, and whether each child was reaped."""
    probe = PROBE.format(words=words, factory=FACTORY)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    code, loaded, gone = json.loads(result.stdout.splitlines()[-1])
    return code, loaded, gone


def test_a_run_spawns_the_writer_before_it_loads_the_factory(tmp_path: Path, db: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    code, loaded, gone = run_probe(
        ["run", "add x", "--repo", str(repo), "--db", ":memory:", "--headless"], tmp_path
    )
    assert code == 2  # the in-memory database, refused once the factory had loaded
    assert loaded == [[]]
    assert gone == [True]  # the refused run left no child behind


def test_a_resume_spawns_the_writer_before_it_reads_the_log(tmp_path: Path, db: Path) -> None:
    db.write_bytes(b"")
    code, loaded, gone = run_probe(["resume", "r-nosuch", "--db", str(db)], tmp_path)
    assert code == 2  # no such run
    assert loaded == [[]]
    assert gone == [True]
