"""ProcessSandbox: limits, process-tree cleanup and environment scrubbing, in both kinds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from factory_process import factory_process
from live_processes import alive_with

from gates.bwrap import probe_bwrap
from gates.sandbox import ProcessSandbox
from gates.sandbox_env import looks_secret, scrubbed_environment

TREE_SCRIPT = """
import subprocess, sys, time
token = sys.argv[1]
if sys.argv[2] == "child":
    import signal
    if sys.argv[3] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token, "grandchild"])
    print("ready", flush=True)
    time.sleep(60)
else:
    subprocess.Popen([sys.executable, __file__, token, "child", sys.argv[3]])
    time.sleep(60)
"""


async def poll_processes(token: str, *, want_alive: bool, within_s: float = 5.0) -> list[int]:
    """Poll /proc until processes holding ``token`` exist (or are gone); return what is left."""
    found = alive_with(token)
    for _ in range(int(within_s / 0.05)):
        if bool(found) == want_alive:
            break
        await asyncio.sleep(0.05)
        found = alive_with(token)
    return found


async def wait_gone(token: str) -> list[int]:
    return await poll_processes(token, want_alive=False, within_s=3.0)


async def test_output_and_exit_code_come_back(any_sandbox: ProcessSandbox, tmp_path: Path) -> None:
    script = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    result = await any_sandbox.run(["python", "-c", script], tmp_path)
    assert result.returncode == 3
    assert "to stdout" in result.output and "to stderr" in result.output
    assert not result.timed_out and not result.truncated
    assert result.argv == ("python", "-c", script)


async def test_python_resolves_to_the_running_interpreter(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    result = await any_sandbox.run(["python", "-c", "import sys; print(sys.prefix)"], tmp_path)
    assert result.returncode == 0, result.output
    assert result.output.strip() == sys.prefix


async def test_missing_executable_is_127_not_an_exception(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    result = await any_sandbox.run(["no-such-tool-shopfloor", "--help"], tmp_path)
    assert result.returncode == 127
    assert "command not found: no-such-tool-shopfloor" in result.output


async def test_missing_relative_script_and_missing_cwd(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    result = await process_sandbox.run(["./build.sh"], tmp_path)
    assert result.returncode == 127
    assert "command not found: ./build.sh" in result.output
    gone = await process_sandbox.run(["true"], tmp_path / "nowhere")
    assert gone.returncode == 126
    assert "working directory does not exist" in gone.output
    empty = await process_sandbox.run([], tmp_path)
    assert empty.returncode == 127


@pytest.mark.parametrize("mode", ["polite", "stubborn"])
async def test_timeout_kills_the_whole_tree(
    any_sandbox: ProcessSandbox, tmp_path: Path, mode: str
) -> None:
    any_sandbox.kill_grace_s = 0.3
    script = tmp_path / "tree.py"
    script.write_text(TREE_SCRIPT)
    token = f"shopfloor-tree-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = await any_sandbox.run(
        ["python", str(script), token, "parent", mode], tmp_path, timeout_s=2.0
    )
    assert time.monotonic() - started < 10
    assert "ready" in result.output, "the grandchild was never started"
    assert result.timed_out
    assert result.returncode < 0
    assert "timed out after 2s" in result.output
    assert await wait_gone(token) == []


async def test_background_leftovers_are_killed_when_the_command_ends(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    token = f"shopfloor-bg-{uuid.uuid4().hex}"
    command = f"python -c 'import time; time.sleep(60)' {token} & echo started"
    started = time.monotonic()
    result = await any_sandbox.run(["sh", "-c", command], tmp_path, timeout_s=30)
    assert time.monotonic() - started < 5
    assert result.returncode == 0 and "started" in result.output
    assert await wait_gone(token) == []


async def test_cancelling_the_caller_kills_the_group(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    token = f"shopfloor-cancel-{uuid.uuid4().hex}"
    command = f"python -c 'import time; time.sleep(60)' {token} & wait"
    task = asyncio.create_task(any_sandbox.run(["sh", "-c", command], tmp_path, timeout_s=60))
    assert await poll_processes(token, want_alive=True), "the sleeper never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(token) == []


async def test_a_caller_cancelled_while_its_command_starts_leaves_nothing_running(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """Cancelled inside ``subprocess_exec`` (the process forked, the call not yet returned),
    asyncio killed the shell it started and nothing else: the shell's background sleeper lived
    on, 21 times in 40 with the cancel 0 to 20 ms after the start. A run stopped as a gate or an
    agent's command started left its processes running."""
    left = []
    for step in range(20):
        token = f"shopfloor-early-cancel-{uuid.uuid4().hex}"
        command = f"python -c 'import time; time.sleep(60)' {token} & wait"
        task = asyncio.create_task(process_sandbox.run(["sh", "-c", command], tmp_path))
        await asyncio.sleep(0.001 * step)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # a sleeper the shell had started is up by now
        found = await wait_gone(token)
        for pid in found:
            os.kill(pid, signal.SIGKILL)
        left += found
    assert left == []


async def test_output_over_the_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    sandbox = ProcessSandbox(use_bwrap=False, output_limit=1000)
    try:
        script = "print('HEAD' + 'a' * 5000); print('b' * 5000 + 'TAIL')"
        result = await sandbox.run(["python", "-c", script], tmp_path)
    finally:
        sandbox.close()
    assert result.returncode == 0
    assert result.truncated
    assert result.output.startswith("HEAD")
    assert result.output.rstrip().endswith("TAIL")
    assert "characters of output truncated" in result.output
    assert len(result.output) < 1200


async def test_output_under_the_cap_is_whole(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    result = await process_sandbox.run(["python", "-c", "print('x' * 5000)"], tmp_path)
    assert not result.truncated
    assert result.output == "x" * 5000 + "\n"


async def test_secrets_never_reach_the_command(
    any_sandbox: ProcessSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("FAKE_API_KEY", canary)
    monkeypatch.setenv("SHOPFLOOR_UNLISTED", canary)
    extra = {"FAKE_API_KEY": canary, "github_token": canary, "APP_MODE": "testing"}
    result = await any_sandbox.run(["env"], tmp_path, env=extra)
    assert result.returncode == 0
    assert canary not in result.output
    env = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    assert env["APP_MODE"] == "testing"
    assert env["HOME"] == str(any_sandbox.home)
    assert env["TMPDIR"] == ("/tmp" if any_sandbox.kind == "bwrap" else str(any_sandbox.tmpdir))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


READ_PARENT_ENVIRON = """
import os
import shutil
with open(f"/proc/{os.getppid()}/environ", "rb") as environ:
    print(environ.read().replace(b"\\0", b"\\n").decode())
"""

RUN_IN_FACTORY = """
import asyncio, sys
from pathlib import Path
from gates.sandbox import ProcessSandbox

async def main():
    sandbox = ProcessSandbox(use_bwrap=False)
    result = await sandbox.run([sys.executable, "-c", sys.argv[1]], Path.cwd())
    print(result.output)

asyncio.run(main())
"""


def test_a_command_without_the_jail_cannot_show_the_factorys_keys(tmp_path: Path) -> None:
    """Without bubblewrap a gate or an agent's command runs as the user and reads the
    factory's own ``/proc/<pid>/environ``: every key was in its output, hence in the gate's
    result, its cache entry, the run's log and the model's next prompt."""
    canary = f"sk-fake-{uuid.uuid4().hex}"
    env = {**os.environ, "FAKE_PROVIDER_API_KEY": canary, "PYTHONPATH": str(Path.cwd())}
    factory = subprocess.run(
        [sys.executable, "-c", RUN_IN_FACTORY, READ_PARENT_ENVIRON],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert factory.returncode == 0, factory.stderr
    assert "FAKE_PROVIDER_API_KEY=[REDACTED]" in factory.stdout  # it did read the environ
    assert canary not in factory.stdout


SIGKILLED_FACTORY = """
import asyncio, sys
from pathlib import Path
from gates.sandbox import ProcessSandbox

async def main():
    sandbox = ProcessSandbox(use_bwrap=sys.argv[2] == "bwrap")
    print(sandbox.kind, flush=True)
    script = "import time; open('started', 'w').close(); time.sleep(60)"
    await sandbox.run([sys.executable, "-c", script, sys.argv[1]], Path.cwd(), timeout_s=60)

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["process", "bwrap"])
def test_a_command_dies_with_a_factory_killed_by_sigkill(tmp_path: Path, kind: str) -> None:
    """A run SIGKILLed (``kill -9``, the OOM killer, systemd's kill after the grace) cannot
    kill its commands' groups, and each has a session of its own: without the jail a gate
    (a hung test) went on running alone, for ever, in a worktree the next ``resume``
    removes. bwrap's ``--die-with-parent`` stopped it in the jail; now so does the
    parent-death signal outside it."""
    if kind == "bwrap" and not probe_bwrap().usable:
        pytest.skip("bwrap is not usable here")
    token = f"orphan-{uuid.uuid4().hex}"

    def left_after(seconds: float) -> list[int]:
        deadline = time.monotonic() + seconds
        while (found := alive_with(token)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    with factory_process(SIGKILLED_FACTORY, token, kind, cwd=tmp_path) as factory:
        try:
            assert factory.stdout is not None
            assert factory.stdout.readline().strip() == kind
            deadline = time.monotonic() + 10
            while not (tmp_path / "started").exists():  # past the jail's set-up
                assert time.monotonic() < deadline, "the command never started"
                time.sleep(0.05)
            assert alive_with(token)
            factory.kill()
            factory.wait(10)
            left = left_after(3)
        finally:
            factory.kill()
            for pid in alive_with(token):
                os.kill(pid, signal.SIGKILL)
    assert left == []


STOPPED_FACTORY = """
import asyncio, sys
from pathlib import Path
from gates.sandbox import ProcessSandbox

async def main():
    sandbox = ProcessSandbox(use_bwrap=sys.argv[1] == "bwrap")
    print(sandbox.kind, flush=True)
    result = await sandbox.run(["sleep", "0.5"], Path.cwd(), timeout_s=1.5)
    print(result.timed_out, result.returncode, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["process", "bwrap"])
def test_a_command_that_ended_while_the_factory_was_stopped_did_not_time_out(
    tmp_path: Path, kind: str
) -> None:
    """Ctrl-Z stops the run's process, not its commands (sessions of their own): a gate
    ends meanwhile, and on ``fg`` its time limit had passed. It was reported as killed at
    the limit (``did not finish within 600s``): a red verdict for a green tree, and a retry
    of the task. Here a 0.5 s command has 1.5 s, and its factory is stopped for 2.5 s."""
    if kind == "bwrap" and not probe_bwrap().usable:
        pytest.skip("bwrap is not usable here")
    with factory_process(STOPPED_FACTORY, kind, cwd=tmp_path) as factory:
        try:
            assert factory.stdout is not None
            assert factory.stdout.readline().strip() == kind
            time.sleep(0.1)  # the command has started
            factory.send_signal(signal.SIGSTOP)
            time.sleep(2.5)
            factory.send_signal(signal.SIGCONT)
            said = factory.stdout.readline().split()
        finally:
            factory.kill()
    assert said == ["False", "0"]  # ended in time, with its own exit code


async def test_a_key_a_command_prints_is_blanked(
    any_sandbox: ProcessSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However a command came by a key (a file, another process), it never leaves in its
    output."""
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("FAKE_API_KEY", canary)
    (tmp_path / "found.txt").write_text(f"key={canary}\n")
    result = await any_sandbox.run(["cat", "found.txt"], tmp_path)
    assert result.output == "key=[REDACTED]\n"


async def test_a_key_across_the_output_cut_is_blanked_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output over the cap was cut, then cleaned: a key the cut went through was no longer
    the whole value, and its first (or last) characters stayed in the gate's output."""
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("FAKE_API_KEY", canary)
    # The cap of 1000 keeps the first 500 characters and the last 500: a key across each cut.
    script = f"print('a' * 490 + {canary!r} + 'b' * 5000 + {canary!r} + 'c' * 490, end='')"
    sandbox = ProcessSandbox(use_bwrap=False, output_limit=1000)
    try:
        result = await sandbox.run(["python", "-c", script], tmp_path)
    finally:
        sandbox.close()
    assert result.truncated
    head, _, tail = result.output.partition("\n... [shopfloor sandbox:")
    assert head == "a" * 490 + "[REDACTED]"
    assert tail.endswith("...\n[REDACTED]" + "c" * 490)
    assert canary[:8] not in result.output and canary[-8:] not in result.output


def test_scrubbed_environment_is_an_allow_list() -> None:
    host = {"PATH": "/usr/bin", "LANG": "en_US.UTF-8", "AWS_SECRET_ACCESS_KEY": "x", "USER": "me"}
    host["TMPDIR"] = "/host-tmp"
    env = scrubbed_environment(
        host,
        {"Db_Password": "x", "SSH_CREDENTIALS": "x", "FOO": "bar"},
        home=Path("/h"),
        interpreter_dir=Path("/venv/bin"),
        tmpdir=Path("/t"),
    )
    assert env == {
        "PATH": "/venv/bin:/usr/bin",
        "LANG": "en_US.UTF-8",
        "HOME": "/h",
        "TMPDIR": "/t",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "GIT_COMMITTER_NAME": "shopfloor agent",  # the refs a command moves are the agent's
        "GIT_COMMITTER_EMAIL": "agent@shopfloor.invalid",
        "FOO": "bar",
    }
    assert looks_secret("openai_api_key") and not looks_secret("GIT_AUTHOR_NAME")


def test_kind_and_fallback_reason() -> None:
    disabled = ProcessSandbox(use_bwrap=False)
    try:
        assert disabled.kind == "process"
        assert disabled.fallback_reason == "bwrap disabled by configuration"
    finally:
        disabled.close()
    assert not disabled.home.exists() and not disabled.tmpdir.exists()
    missing = probe_bwrap("no-such-bwrap-shopfloor")
    assert not missing.usable
    assert missing.reason == "no-such-bwrap-shopfloor not found on PATH"
    auto = ProcessSandbox()
    try:
        assert auto.kind == ("bwrap" if probe_bwrap().usable else "process")
        assert (auto.fallback_reason is None) == (auto.kind == "bwrap")
    finally:
        auto.close()


def repo_with_env(root: Path, value: str) -> Path:
    """A git repository at ``root`` tracking a ``.env`` that holds ``value``."""
    (root / "pkg").mkdir(parents=True)
    (root / ".env").write_text(f"DB_PASSWORD={value}\n")
    for args in (["init", "-q"], ["add", ".env"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


async def test_a_secret_file_value_across_the_output_cut_is_blanked_whole(tmp_path: Path) -> None:
    """The values of the worktree's secret files (``.env``) were masked after the sandbox
    had cut the output to its cap (by the toolbelt, the event bus): a value the cut went
    through kept its first characters, which those no longer recognised."""
    value = f"hunter2-{uuid.uuid4().hex}"
    repo = repo_with_env(tmp_path / "repo", value)
    # The cap of 1000 keeps the first 500 characters and the last 500: the value across each.
    script = f"print('a' * 490 + {value!r} + 'b' * 5000 + {value!r} + 'c' * 490, end='')"
    sandbox = ProcessSandbox(use_bwrap=False, output_limit=1000)
    try:
        result = await sandbox.run(["python", "-c", script], repo / "pkg")  # a project below
        whole = await sandbox.run(["python", "-c", f"print({value!r})"], repo)
        written = await sandbox.run(  # a value the command itself writes is masked too
            ["sh", "-c", "echo 'API_TOKEN=fresh-0123456789' >> .env; cat .env"], repo
        )
    finally:
        sandbox.close()
    assert result.truncated
    head, _, tail = result.output.partition("\n... [shopfloor sandbox:")
    assert head == "a" * 490 + "[REDACTED]"
    assert tail.endswith("...\n[REDACTED]" + "c" * 490)
    assert value[:8] not in result.output and value[-8:] not in result.output
    assert whole.output == "[REDACTED]\n"
    assert written.output == "DB_PASSWORD=[REDACTED]\nAPI_TOKEN=[REDACTED]\n"


@pytest.mark.skipif(shutil.which("npx") is None, reason="npm not installed")
async def test_npx_in_the_jail_fails_at_once_instead_of_retrying_a_network_it_has_not(
    bwrap_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """An engineer's ``npx vitest run`` in a worktree without node_modules: npx looked for
    vitest in the package registry, which the jail cannot reach, and retried for 71 s (each
    attempt on path-to-regexp spent that) before failing. Offline, it fails in a second."""
    result = await bwrap_sandbox.run(
        ["npx", "--yes", "vitest", "--version"], tmp_path, timeout_s=20
    )
    assert not result.timed_out and result.duration_s < 20
    assert result.returncode != 0 and "ENOTCACHED" in result.output, result.output


async def test_a_value_first_seen_after_the_command_is_blanked_whole_across_the_cut(
    tmp_path: Path,
) -> None:
    """The ends of the output were kept as many characters past the cap as the longest value
    known before the command: a value found only by the look after it (one the command
    wrote, longer than those known) kept its first characters where the cut went through
    it. Values are now looked for once, after the command, and each end keeps a margin."""
    value = f"fresh-{uuid.uuid4().hex}{uuid.uuid4().hex}"  # 70 characters
    repo = repo_with_env(tmp_path / "repo", "hunter2-short")
    write = f"open('.env', 'a').write('API_TOKEN={value}\\n')\n"
    shown = f"print('a' * 490 + {value!r} + 'b' * 5000 + {value!r} + 'c' * 490, end='')"
    sandbox = ProcessSandbox(use_bwrap=False, output_limit=1000)
    try:
        result = await sandbox.run(["python", "-c", write + shown], repo)
    finally:
        sandbox.close()
    assert result.truncated
    head, _, tail = result.output.partition("\n... [shopfloor sandbox:")
    assert head == "a" * 490 + "[REDACTED]", head
    assert tail.endswith("...\n[REDACTED]" + "c" * 490), tail
    assert value[:8] not in result.output and value[-8:] not in result.output
