"""The CLI freezes the heap (engine.heap) only as the process's entry, not when a test calls
its ``main`` in-process: there each call froze whatever the test process held at that moment,
its cyclic garbage not yet collected included, out of the collector's reach for good."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from importlib.metadata import entry_points
from pathlib import Path

from tui.cli import console_main, main


class Node:
    """A container the collector tracks; two pointing at each other are a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def dropped_cycle() -> weakref.ref[Node]:
    """A cycle, dropped: only a collection that walks it frees it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_main_in_process_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    db.touch()  # an empty SQLite database: runs refuses a missing file
    frozen = gc.get_freeze_count()
    gone = [dropped_cycle() for _ in range(3)]
    for _ in range(3):
        assert main(["runs", "--db", str(db)]) == 0
    assert gc.get_freeze_count() == frozen  # nothing more kept from the collector
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]  # the garbage of before: collected


def test_the_console_script_freezes_what_it_loaded_and_everything_at_its_end(
    tmp_path: Path,
) -> None:
    (tmp_path / "runs.db").touch()
    (script,) = entry_points(group="console_scripts", name="shopfloor")
    assert script.load() is console_main
    probe = (
        "import gc\n"
        "from tui.cli import console_main\n"
        "loaded = []\n"  # the freeze once the command loaded, before the command runs
        "import engine.heap as heap\n"
        "settle = heap.settle\n"
        "heap.settle = lambda: (settle(), loaded.append(gc.get_freeze_count()))\n"
        f"code = console_main(['runs', '--db', {str(tmp_path / 'runs.db')!r}])\n"
        "print(code, loaded[0], gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    code, at_loaded, at_end = out.split()[-3:]
    assert code == "0"
    assert int(at_loaded) > 10_000  # the program, once loaded
    assert int(at_end) > int(at_loaded)  # and what the command made, as it ended


def test_python_dash_m_is_the_whole_process_as_the_script_is(tmp_path: Path) -> None:
    """``python -m tui.cli`` — what the tests and a checkout without the script run — freezes
    as the console script does (with ``main`` there, the test processes ran unfrozen)."""
    db = tmp_path / "runs.db"
    db.touch()
    probe = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        f"sys.argv = ['tui.cli', 'runs', '--db', {str(db)!r}]\n"
        "runpy.run_module('tui.cli', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) > 10_000


def test_a_run_command_in_process_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    """``demo``, ``run`` and ``resume`` load the factory once the command line is good, with a
    freeze of their own (tui.commands.launch): in-process it stayed, unless a build ran to
    its end (whose end gives every object back): a run refused, killed at a gate before the
    build, or a resume of a run that is not there kept the test process's heap frozen."""
    db = tmp_path / "runs.db"
    db.touch()
    frozen = gc.get_freeze_count()
    gone = [dropped_cycle() for _ in range(3)]
    assert main(["resume", "0123456789ab", "--db", str(db)]) != 0  # no such run
    assert gc.get_freeze_count() == frozen
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]
