"""The commands a run starts cannot read the factory's keys out of its environment.

Without bubblewrap a gate's or an agent's command runs as the user, and any process of the
user could read ``/proc/<pid>/environ`` of the factory (the environment it was started with,
every API key in it) and of the storage writer process, and copy a key into a file or send it
away, where no redaction of the command's output sees it. The factory and the writer mark
themselves non-dumpable; the writer is not handed the keys at all.

Root reads any process's environ, so these run as ``nobody`` under ``setpriv``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import make_repo

from engine.secrets import DUMPABLE_ENV
from storage.writer_launch import writer_environment

NOBODY = 65534
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc")


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` run as a user without CAP_SYS_PTRACE: this one, or ``nobody`` under root."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is missing: as root, any process reads any /proc/<pid>/environ")
    return [
        setpriv,
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        # So nobody reaches an interpreter under root's home (pyenv) and this checkout; it
        # lets no process read another's environ (that takes CAP_SYS_PTRACE).
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        *argv,
    ]


@pytest.fixture
def nobodys() -> Iterator[Path]:
    """A folder the unprivileged user owns (pytest's own are root's, mode 700)."""
    folder = Path(tempfile.mkdtemp(prefix="shopfloor-nobody-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def give_to_nobody(folder: Path) -> None:
    if os.geteuid() != 0:
        return
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, NOBODY, NOBODY)


FACTORY = """
import json, subprocess, sys
from engine.secrets import hide_process_environment

hidden = hide_process_environment()
reader = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
print(json.dumps({"hidden": hidden, "read": reader.stdout, "error": reader.stderr}))
"""

READ_PARENT = """
import os
with open(f"/proc/{os.getppid()}/environ", "rb") as environ:
    print(environ.read().replace(b"\\0", b"\\n").decode())
"""


def run_factory(canary: str, **extra: str) -> dict[str, object]:
    env = {name: value for name, value in os.environ.items() if name != DUMPABLE_ENV}
    env.update(FAKE_PROVIDER_API_KEY=canary, PYTHONPATH=str(ROOT), **extra)
    done = subprocess.run(
        unprivileged([sys.executable, "-c", FACTORY, READ_PARENT]),
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_command_cannot_read_the_factorys_environ() -> None:
    canary = f"sk-fake-{uuid.uuid4().hex}"
    result = run_factory(canary)
    assert result["hidden"] is True
    assert canary not in str(result["read"])
    assert "PermissionError" in str(result["error"])


def test_shopfloor_dumpable_keeps_it_readable_for_debugging() -> None:
    """SHOPFLOOR_DUMPABLE=1 (py-spy, gdb): the process stays as it was, and so it is
    readable; which is also what this test's user sees without the fix."""
    canary = f"sk-fake-{uuid.uuid4().hex}"
    result = run_factory(canary, **{DUMPABLE_ENV: "1"})
    assert result["hidden"] is False
    assert f"FAKE_PROVIDER_API_KEY={canary}" in str(result["read"])


def test_the_storage_writer_is_not_handed_the_keys() -> None:
    environ = {
        "ANTHROPIC_API_KEY": "sk-ant-secret-value",
        "GITHUB_TOKEN": "ghp_secret-value",
        "PGPASSWORD": "the-database-password",
        "PATH": "/usr/bin",
        "SHOPFLOOR_LOOP": "asyncio",
    }
    assert writer_environment(environ) == {
        "PGPASSWORD": "the-database-password",
        "PATH": "/usr/bin",
        "SHOPFLOOR_LOOP": "asyncio",
    }


PEEK = (
    'echo "factory $PPID"; '
    "for f in /proc/[0-9]*/environ; do "
    'tr "\\0" "\\n" < "$f" 2>/dev/null || echo "refused $f"; done'
)
"""A gate that copies every environ it can read into a file outside the worktree."""


def test_a_gate_of_a_run_copies_no_key_out_of_the_factory_or_the_writer(nobodys: Path) -> None:
    canary = f"sk-fake-{uuid.uuid4().hex}"
    peeked = nobodys / "peeked.txt"
    repo = make_repo(nobodys / "repo", {"README.md": "# units\n", "units/__init__.py": ""})
    config = nobodys / "shopfloor.toml"
    config.write_text(
        "[gates]\n"
        'disable = ["lint", "types", "tests", "security", "secrets", "dead-code", '
        '"shrinkage"]\n'
        "[[gates.custom]]\n"
        'name = "peek"\n'
        f"argv = {json.dumps(['sh', '-c', f'({PEEK}) >> {peeked}'])}\n"
        'scopes = ["task"]\n'
    )
    give_to_nobody(nobodys)
    env = {**os.environ, "FAKE_PROVIDER_API_KEY": canary, "SHOPFLOOR_HOME": str(nobodys)}
    env.pop(DUMPABLE_ENV, None)
    env.pop("SHOPFLOOR_DB", None)
    request = (EXAMPLES / "units" / "request.md").read_text()
    done = subprocess.run(
        unprivileged(
            [
                *(sys.executable, "-m", "tui.cli", "run", request, "--repo", str(repo)),
                *("--playbook", str(EXAMPLES / "units" / "playbook.yaml")),
                *("--config", str(config), "--speed", "500"),
                *("--db", str(nobodys / "runs.db")),
            ]
        ),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    copied = peeked.read_text()
    factories = {line.split()[1] for line in copied.splitlines() if line.startswith("factory ")}
    assert factories  # the gate ran
    for factory in factories:
        assert f"refused /proc/{factory}/environ" in copied
    assert canary not in copied
