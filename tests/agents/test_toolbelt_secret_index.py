"""One index of a worktree's secret files, and a command's output cleaned of their values once,
whatever the sandbox.

The toolbelt and the sandbox each kept a :class:`~engine.secret_values.WorktreeSecrets` of the
same worktree: every ``run`` and ``run_tests`` output was cleaned twice, and the worktree was
walked twice (a whole-tree walk each at the first command; in a 30,000-file worktree 1,202
folders listed instead of 601). The toolbelt kept its own because ``Sandbox`` is a protocol:
an implementation that does not clean must still not show the model a ``.env``'s values. Then
the result said with which index it was cleaned (``cleaned_with``), and the toolbelt believed
it: a sandbox that said so of output it had not cleaned (or had changed since) showed the
model the values. Now the result carries a receipt only the index gives, after a look, for
that very text (``CommandResult.cleaned``); the toolbelt checks it and cleans what fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine import secret_values
from engine.protocols import CommandResult, Sandbox
from engine.secret_index import LOOK_BUDGET_S, SecretFileIndex
from engine.secret_values import Cleaned, WorktreeSecrets
from gates.bwrap import probe_bwrap
from gates.sandbox import ProcessSandbox

SECRET = "hunter2-prod"
ENV = f"DB_PASSWORD={SECRET}\n"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"


@dataclass
class Looks:
    """What the secret-file indexes did, per folder tree."""

    walks: Counter[Path]
    """Whole-tree walks: an index's first look."""
    looks: Counter[Path]
    """Looks (each the ground of one cleaning)."""


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Looks:
    seen = Looks(Counter(), Counter())

    class CountingIndex(SecretFileIndex):
        def files(self, budget_s: float = LOOK_BUDGET_S) -> list[str]:
            if not self._folders:
                seen.walks[self.root] += 1
            seen.looks[self.root] += 1
            return super().files(budget_s)

    monkeypatch.setattr(secret_values, "SecretFileIndex", CountingIndex)
    return seen


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """An attempt's worktree (a linked worktree of the user's checkout) holding a ``.env`` and
    a private key, and a test that prints the ``.env`` when it fails."""
    test = (
        "from pathlib import Path\n\n"
        "def test_settings():\n"
        "    assert Path('.env').read_text() == 'the config'\n"
    )
    files = {".gitignore": ".env\n", "tests/test_settings.py": test, "keys/server.pem": PEM}
    files |= {f"pkg{n}/src/mod.py": "" for n in range(20)}
    checkout = make_repo(tmp_path / "checkout", files)
    root = (tmp_path / "wt").resolve()
    git(checkout, "worktree", "add", "-q", "-b", "attempt", str(root))
    (root / ".env").write_text(ENV)
    return root


@dataclass
class MinimalSandbox:
    """The least a ``Sandbox`` does: runs the command where it is told; cleans nothing and
    says nothing of cleaning."""

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
        took = time.monotonic() - started
        return CommandResult(tuple(argv), process.returncode or 0, out.decode(), took)


@pytest.fixture(params=["process", "bwrap", "minimal"])
def any_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    if request.param == "minimal":
        yield MinimalSandbox()
        return
    if request.param == "bwrap" and not probe_bwrap().usable:
        pytest.skip(f"bubblewrap unusable: {probe_bwrap().reason}")
    made = ProcessSandbox(use_bwrap=request.param == "bwrap")
    assert made.kind == request.param
    yield made
    made.close()


async def call(belt: Toolbelt, name: str, **args: object) -> str:
    return (await belt.execute(ToolCall("c1", name, dict(args)))).text


async def test_no_secret_value_reaches_the_model_and_the_worktree_is_walked_once(
    worktree: Path, any_sandbox: Sandbox, counted: Looks
) -> None:
    """With the bubblewrap sandbox, the plain process one, and one that cleans nothing; a
    secret file written by the engineer mid-attempt, or by its command, included."""
    belt = Toolbelt(worktree, any_sandbox, python=sys.executable)
    shown = [await call(belt, "run", argv=["cat", ".env", "keys/server.pem"])]
    await call(belt, "write_file", path="pkg7/src/.env.local", content="API_TOKEN=deep-s3cret\n")
    shown.append(await call(belt, "run", argv=["cat", "pkg7/src/.env.local"]))
    made = "printf 'STRIPE_KEY=made-by-the-command9\\n' > pkg3/.env.prod; cat pkg3/.env.prod"
    shown.append(await call(belt, "run", argv=["sh", "-c", made]))
    shown.append(await call(belt, "run_tests"))
    for text in shown:
        for value in (SECRET, PEM_BODY, "deep-s3cret", "made-by-the-command9"):
            assert value not in text, text
    assert "DB_PASSWORD=[REDACTED]" in shown[0] and "[REDACTED]" in shown[0].split("KEY-----")[1]
    assert "API_TOKEN=[REDACTED]" in shown[1] and "STRIPE_KEY=[REDACTED]" in shown[2], shown
    assert "DB_PASSWORD=[REDACTED]" in shown[3] and "1 failed" in shown[3], shown[3]
    assert counted.walks[worktree] == 1  # the toolbelt's index was a second walk
    # Four commands, one look at the files each, once it ended (a secret file it wrote): by
    # a sandbox that cleans, whose receipt spares the toolbelt a look, else by the toolbelt.
    # The sandbox looked before each command too, and the toolbelt a third time.
    assert counted.looks[worktree] == 4


Claim = str
"""How a sandbox that runs nothing says it cleaned ``cat .env``'s output."""


@dataclass
class ClaimingSandbox:
    """Runs nothing; answers with what ``cat .env`` prints, and a receipt for it that does
    not prove it was cleaned."""

    claim: Claim
    earlier: Cleaned

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        output = (cwd / ".env").read_text()
        receipt: Cleaned | None = None
        if self.claim == "by hand":  # a receipt no index gave
            receipt = Cleaned(WorktreeSecrets(cwd), output, time.monotonic())
        elif self.claim == "another worktree's":
            receipt = WorktreeSecrets(cwd.parent / "elsewhere").clean(output)
        elif self.claim == "before the call":  # given for the same text, before .env was
            receipt = self.earlier
        elif self.claim == "for other text":  # a wrapper adding to the output once cleaned
            receipt = WorktreeSecrets(cwd).clean("$ cat .env\n")
            output = receipt.text + output
        return CommandResult(tuple(argv), 0, output, 0.01, cleaned=receipt)


@pytest.mark.parametrize(
    "claim", ["none", "by hand", "another worktree's", "before the call", "for other text"]
)
async def test_output_a_sandbox_does_not_prove_cleaned_is_cleaned_by_the_toolbelt(
    worktree: Path, claim: Claim
) -> None:
    """The toolbelt believed a result that named an index of the worktree (``cleaned_with``):
    one saying so of output it had not cleaned showed the model the ``.env``'s values."""
    (worktree / ".env").unlink()
    earlier = WorktreeSecrets(worktree).clean(ENV)
    (worktree / ".env").write_text(ENV)
    belt = Toolbelt(worktree, ClaimingSandbox(claim, earlier), python=sys.executable)
    shown = await call(belt, "run", argv=["cat", ".env"])
    assert SECRET not in shown and "DB_PASSWORD=[REDACTED]" in shown, shown
    tests = await call(belt, "run_tests")
    assert SECRET not in tests and "DB_PASSWORD=[REDACTED]" in tests, tests


async def test_a_receipt_is_checked_against_the_output_its_worktree_and_the_call(
    worktree: Path, tmp_path: Path
) -> None:
    index = WorktreeSecrets(worktree)
    since = time.monotonic()
    receipt = await asyncio.to_thread(index.clean, ENV)
    assert receipt.text == "DB_PASSWORD=[REDACTED]\n"
    assert receipt.covers(receipt.text, worktree, since)
    assert not receipt.covers(ENV, worktree, since)
    assert not receipt.covers(receipt.text, tmp_path, since)
    assert not receipt.covers(receipt.text, worktree, time.monotonic())
    assert not replace(receipt).covers(receipt.text, worktree, since)


async def test_the_sandbox_lets_go_of_the_index_of_a_removed_worktree(tmp_path: Path) -> None:
    """Before, a run's sandbox kept the index of every attempt's worktree to the run's end
    (one of a 30,000-file tree holds ~4.6 MB)."""
    sandbox = ProcessSandbox(use_bwrap=False)
    first = make_repo(tmp_path / "first", {"a.py": ""}).resolve()
    second = make_repo(tmp_path / "second", {"b.py": ""}).resolve()
    (first / ".env").write_text(ENV)
    try:
        ran = await sandbox.run(["cat", ".env"], cwd=first)
        assert ran.cleaned is not None and SECRET not in ran.output
        shutil.rmtree(first)

        later = await sandbox.run(["true"], cwd=second)
    finally:
        sandbox.close()
    assert later.cleaned is not None and later.cleaned.index.root == second
    assert list(sandbox._file_secrets) == [second]  # what the sandbox keeps
