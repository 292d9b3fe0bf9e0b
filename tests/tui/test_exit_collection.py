"""A finished ``shopfloor`` command leaves the collector nothing to walk at exit.

Python's shutdown runs full collections over every object the collector tracks. After a
build, which gives every object back to the collector at its end (engine.heap), that was
the whole heap: a demo's process exited 1.0 s after its last line on an idle 2-core machine
(0.04 s now), and 4-6 s under load, where a test that times a refused run's stop saw it
(tests/storage/test_refused_writes_stop_the_run.py, 5 of 12 stress runs over its 5 s).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from demo_process import cli_probe

AFTER_MAIN = """
import gc, sys
from tui.cli import console_main
code = console_main(sys.argv[1:])
print(f"exit {code} tracked {len(gc.get_objects())}")
"""


def test_a_demo_leaves_nothing_for_the_exit_to_collect(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    argv = ["demo", "--headless", "--speed", "1000", "--out", str(tmp_path / "repo")]
    done = cli_probe(home, AFTER_MAIN, *argv)
    last = done.stdout.splitlines()[-1]
    # Before: 182,208 objects tracked, walked again by the interpreter's shutdown.
    assert last == "exit 0 tracked 0", done.stdout[-2000:] + done.stderr[-2000:]
