"""Starting a command does not hold the event loop until the command runs.

Every command died with the factory through a ``preexec_fn`` (``prctl``), which runs Python
in the child between ``fork`` and ``exec``: Python forks instead of using ``vfork`` (copying
the factory's page tables), and the loop waited for the child's ``exec``. Every agent, the
merge queue, the TUI and the event writer stood still for it, at each command: 17 ms at
20 MB of memory, 80 ms at 300 MB. Through ``setpriv --pdeathsig`` nothing runs in the child
before ``exec``; the guarantee itself is test_a_command_dies_with_a_factory_killed_by_sigkill.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from loop_pauses import needs_setpriv, pauses

from engine.parent_death import dies_with_us, dying_with_us
from gates.sandbox import ProcessSandbox


@needs_setpriv
async def test_a_command_starts_without_holding_the_loop_as_the_preexec_fn_did(
    tmp_path: Path, ballast: None
) -> None:
    """The sandbox's start against a start with the ``preexec_fn``, in the same process:
    the loop's median pause is under half of it (measured: 0.1-0.2 of it)."""
    sandbox = ProcessSandbox(use_bwrap=False)
    true = shutil.which("true")
    assert true is not None

    async def with_preexec_fn() -> None:
        process = await asyncio.create_subprocess_exec(
            true, start_new_session=True, preexec_fn=dies_with_us()
        )
        await process.wait()

    async def in_the_sandbox() -> None:
        assert (await sandbox.run([true], tmp_path, timeout_s=30)).returncode == 0

    try:
        old, new = [], []
        for _ in range(3):  # alternated, so a busy moment of the machine falls on both
            old += await pauses(with_preexec_fn, 4)
            new += await pauses(in_the_sandbox, 4)
    finally:
        sandbox.close()
    ratio = statistics.median(new) / statistics.median(old)
    assert ratio < 0.5, (f"{ratio:.2f}", [f"{p * 1000:.1f}" for p in old + new])


@needs_setpriv
def test_the_wrapper_passes_the_arguments_and_the_environment_on_unchanged(
    tmp_path: Path,
) -> None:
    script = "import os, sys; print(repr((sys.argv[1:], sorted(os.environ.items()), os.getcwd())))"
    argv = [sys.executable, "-I", "-S", "-c", script, "a b", "$HOME", "'\"", "*", ""]
    env = {"LC_ALL": "C", "ONLY": "this"}
    start = dying_with_us(argv, env)
    assert start.preexec_fn is None
    done = subprocess.run(start.argv, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == repr((argv[5:], sorted(env.items()), str(tmp_path)))


@needs_setpriv
def test_a_command_whose_factory_died_before_the_signal_took_hold_does_not_run(
    tmp_path: Path,
) -> None:
    """The wrapper runs the command only while its parent is the factory that started it:
    one whose factory died first (it was handed to init or a subreaper) would never be
    killed with it. Here another process starts what this one prepared."""
    marker = tmp_path / "ran"
    start = dying_with_us([shutil.which("touch") or "/usr/bin/touch", str(marker)], {})
    launcher = (
        f"import subprocess, sys; sys.exit(subprocess.run({start.argv!r}, env={{}}).returncode)"
    )
    done = subprocess.run([sys.executable, "-c", launcher], check=False)
    assert done.returncode == 1 and not marker.exists()
    assert subprocess.run(start.argv, env={}, check=False).returncode == 0 and marker.exists()
