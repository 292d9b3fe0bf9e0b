"""A command run in a worktree is cleaned of the secret values of the user's checkout.

The engineer's ``run`` tool and the gates run in a git worktree of the user's checkout, whose
ignored ``.env`` (in no worktree, so never among the worktree's secret files) a command read
by its absolute path (``git rev-parse --git-common-dir`` names the checkout) wherever the
jail does not hide it: without bubblewrap, or with the checkout outside the home and the temp
folders. ``cat CHECKOUT/.env`` put ``DB_PASSWORD=hunter2-prod`` into what the engineer's
model was told, jailed or not. The checkout's secret values are cleaned from the output now.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git
from repo_helpers import make_repo as make_git_repo

from engine.secret_values import checkout_secret_files
from gates import sandbox as sandbox_module
from gates.sandbox import ProcessSandbox

SECRET = "hunter2-prod"
READ_CHECKOUT = 'cat "$(git rev-parse --path-format=absolute --git-common-dir)/../.env"'


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder the jail leaves visible (``/tmp`` and the temp folder it hides)."""
    base = Path("/var/tmp")
    if not base.is_dir():
        pytest.skip("no /var/tmp")
    made = Path(tempfile.mkdtemp(prefix="shopfloor-test-", dir=base))
    yield made
    shutil.rmtree(made, ignore_errors=True)


async def test_a_command_is_cleaned_of_the_checkouts_secret_values(
    any_sandbox: ProcessSandbox, outside_tmp: Path
) -> None:
    repo = make_git_repo(outside_tmp / "repo", {".gitignore": ".env\n", "app.py": "X = 0\n"})
    (repo / ".env").write_text(f"DB_HOST=localhost\nDB_PASSWORD={SECRET}\n")
    worktree = outside_tmp / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    result = await any_sandbox.run(["sh", "-c", READ_CHECKOUT], worktree)
    assert result.returncode == 0, result.output
    assert "DB_PASSWORD=[REDACTED]" in result.output and SECRET not in result.output


async def test_the_checkouts_secret_files_are_listed_once_for_every_worktree_and_command(
    process_sandbox: ProcessSandbox, outside_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's one sandbox (the composition root makes one, for the gates and the agents)
    lists the checkout's secret files at its first command in a worktree of it, not at each
    command or for each worktree: a listing is three ``git ls-files`` of the whole checkout."""
    listed: list[Path] = []

    def counted(checkout: Path) -> list[str]:
        listed.append(checkout)
        return checkout_secret_files(checkout)

    monkeypatch.setattr(sandbox_module, "checkout_secret_files", counted)
    repo = make_git_repo(outside_tmp / "repo", {".gitignore": ".env\n", "app.py": "X = 0\n"})
    (repo / ".env").write_text(f"DB_PASSWORD={SECRET}\n")
    for name in ("a1", "b1"):
        worktree = outside_tmp / name
        git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
        for _ in range(3):
            result = await process_sandbox.run(["sh", "-c", READ_CHECKOUT], worktree)
            assert "DB_PASSWORD=[REDACTED]" in result.output and SECRET not in result.output
    assert listed == [repo.resolve()]
