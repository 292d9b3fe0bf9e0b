"""Git helpers for the tests (on pytest's ``pythonpath``, so every test folder imports them):
make a user's repository, run git as that user, and take a fingerprint of everything in the
checkout the factory must never touch."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, strip: bool = True) -> str:
    """Run git in ``repo`` as the test's "user" and return its stdout, stripped unless told
    not to (to compare a file's bytes with ``git show``)."""
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip() if strip else done.stdout


def agent_git(worktree: Path, *args: str) -> str:
    """Run git in ``worktree`` as an agent's command does: under the agents' committer
    identity (``engine.repo_guard.AGENT_IDENT``), which the guard knows their moves by."""
    from engine.repo_guard import AGENT_IDENT

    done = subprocess.run(
        ["git", *args],
        cwd=worktree,
        env={**os.environ, **GIT_ENV, **AGENT_IDENT},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A fresh repository on ``main`` with ``files`` committed."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def commit(repo: Path, files: dict[str, str | None], message: str = "change") -> None:
    """Write ``files`` (None deletes one) and commit everything in ``repo``."""
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def snapshot(repo: Path) -> dict[str, object]:
    """Everything of the user's checkout that the factory must leave byte-identical."""
    files = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "branch": git(repo, "rev-parse", "--abbrev-ref", "HEAD"),
        "head_commit": git(repo, "rev-parse", "HEAD"),
        "main": git(repo, "rev-parse", "refs/heads/main"),
        "files": files,
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        "staged": git(repo, "diff", "--cached", "--name-only"),
    }
