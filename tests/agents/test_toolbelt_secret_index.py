"""One index of a worktree's secret files, and a command's output cleaned of their values once.

The toolbelt and the sandbox each kept a :class:`~engine.secret_values.WorktreeSecrets` of the
same worktree: every ``run`` and ``run_tests`` output was cleaned twice, and the worktree was
walked twice (a whole-tree walk each at the first command; in a 30,000-file worktree 1,202
folders listed instead of 601). The toolbelt kept its own because ``Sandbox`` is a protocol:
an implementation that does not clean must still not show the model a ``.env``'s values. Now
the result says with which index it was cleaned (``CommandResult.cleaned_with``), and the
toolbelt cleans only what came back uncleaned.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from repo_helpers import make_repo

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine import secret_values
from engine.protocols import CommandResult
from engine.secret_index import LOOK_BUDGET_S, SecretFileIndex
from engine.secret_values import WorktreeSecrets
from gates.sandbox import ProcessSandbox

SECRET = "hunter2-prod"
ENV = f"DB_PASSWORD={SECRET}\n"


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
    test = (
        "from pathlib import Path\n\n"
        "def test_settings():\n"
        "    assert Path('.env').read_text() == 'the config'\n"
    )
    files = {".gitignore": ".env\n", "tests/test_settings.py": test, "app.py": "X = 1\n"}
    files |= {f"pkg{n}/src/mod.py": "" for n in range(20)}
    root = make_repo(tmp_path / "wt", files).resolve()
    (root / ".env").write_text(ENV)
    return root


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    made = ProcessSandbox(use_bwrap=False)
    yield made
    made.close()


async def call(belt: Toolbelt, name: str, **args: object) -> str:
    return (await belt.execute(ToolCall("c1", name, dict(args)))).text


async def test_the_toolbelt_and_the_sandbox_walk_a_worktree_once_and_clean_once(
    worktree: Path, sandbox: ProcessSandbox, counted: Looks
) -> None:
    belt = Toolbelt(worktree, sandbox, python=sys.executable)
    shown = [await call(belt, "run", argv=["cat", ".env"])]
    await call(belt, "write_file", path="pkg7/src/.env.local", content="API_TOKEN=deep-s3cret\n")
    shown.append(await call(belt, "run", argv=["cat", "pkg7/src/.env.local"]))
    shown.append(await call(belt, "run_tests"))
    for text in shown:
        assert SECRET not in text and "deep-s3cret" not in text, text
    assert "DB_PASSWORD=[REDACTED]" in shown[0] and "API_TOKEN=[REDACTED]" in shown[1]
    assert "DB_PASSWORD=[REDACTED]" in shown[2] and "1 failed" in shown[2], shown[2]
    assert counted.walks[worktree] == 1  # the toolbelt's index was a second walk
    # Three commands, each looked at by the sandbox before it and after it (a secret file
    # the command wrote); the toolbelt's own look of each was a third.
    assert counted.looks[worktree] == 3 * 2


@dataclass
class UncleanSandbox:
    """Runs nothing; answers with what ``cat .env`` would print, cleaned of nothing or (its
    result says) with the index of another worktree."""

    output: str
    cleaned_with: WorktreeSecrets | None = None

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        return CommandResult(tuple(argv), 0, self.output, 0.01, cleaned_with=self.cleaned_with)


async def test_output_a_sandbox_did_not_clean_is_cleaned_by_the_toolbelt(
    worktree: Path, tmp_path: Path
) -> None:
    other = WorktreeSecrets(tmp_path / "elsewhere")
    for cleaned_with in (None, other):
        belt = Toolbelt(worktree, UncleanSandbox(ENV, cleaned_with), python=sys.executable)
        shown = await call(belt, "run", argv=["cat", ".env"])
        assert SECRET not in shown and "DB_PASSWORD=[REDACTED]" in shown, shown
        tests = await call(belt, "run_tests")
        assert SECRET not in tests and "DB_PASSWORD=[REDACTED]" in tests, tests


async def test_the_sandbox_lets_go_of_the_index_of_a_removed_worktree(
    tmp_path: Path, sandbox: ProcessSandbox
):
    """Before, a run's sandbox kept the index of every attempt's worktree to the run's end
    (one of a 30,000-file tree holds ~4.6 MB)."""
    first = make_repo(tmp_path / "first", {"a.py": ""}).resolve()
    second = make_repo(tmp_path / "second", {"b.py": ""}).resolve()
    (first / ".env").write_text(ENV)
    ran = await sandbox.run(["cat", ".env"], cwd=first)
    assert ran.cleaned_with is not None and SECRET not in ran.output
    shutil.rmtree(first)

    later = await sandbox.run(["true"], cwd=second)

    assert later.cleaned_with is not None and later.cleaned_with.root == second
    assert list(sandbox._file_secrets) == [second]  # what the sandbox keeps
