"""An attempt's one commit: its files as they are, without the junk its tools left.

Whatever the agent did with git in its worktree is taken back first (its commits become
changes in the tree again, a branch it checked out is put back), then everything is staged
but the caches (:data:`JUNK_PATHSPECS`), the files the task's plan names are staged even where
the repository's ignore rules match them, and the ignored source files nobody named are said.
An attempt whose files gained the secret mask (:class:`MaskWritten`), or that would commit a
symlink leading out of the repository (:class:`~engine.staged_links.LinkLeadsOut`), is not
committed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import git

from engine.factory_git import IDENTITY, FactoryRepo, head_ref, names, resolve
from engine.generated_files import generated_files
from engine.secrets import REDACTED
from engine.staged_links import LinkLeadsOut, staged_links_out

JUNK_PATHSPECS = (
    ":(exclude,glob)**/__pycache__/**",
    ":(exclude,glob)**/*.pyc",
    ":(exclude,glob).pytest_cache/**",
    ":(exclude,glob)**/.pytest_cache/**",
    ":(exclude,glob).mypy_cache/**",
    ":(exclude,glob)**/.mypy_cache/**",
    ":(exclude,glob).ruff_cache/**",
    ":(exclude,glob)**/.ruff_cache/**",
    ":(exclude,glob).shopfloor/**",
)
"""Paths an attempt's tools leave behind that never belong in a commit (the caches at any
depth: a monorepo's subproject runs its tools in its own folder)."""


def take_back_git(wt: git.Repo, base: str, branch_tips: dict[str, str]) -> None:
    """Undo what an agent did with git in its worktree, keeping its work in the files.

    Coding agents stage and commit on their own (Claude Code often ends with ``git add -A``
    and ``git commit``, which sweeps in ``__pycache__``), and some first check out a branch of
    their own. Their commits become changes in the tree again and the index is emptied, so
    the attempt's one commit holds every change and none of the junk. A branch the agent
    checked out is left: one it created is deleted, one that existed (a branch of the user's)
    is put back where it was.
    """
    ref = head_ref(wt)
    if ref is not None:
        tip = resolve(wt, ref) or ""
        wt.git.update_ref("--no-deref", "HEAD", base)  # detached again; files untouched
        before = branch_tips.get(ref)
        if tip and before is None:
            wt.git.update_ref("-d", ref, tip)
        elif tip and before != tip:
            wt.git.update_ref("-m", "shopfloor: undo an agent's commit", ref, before, tip)
    wt.git.reset("-q", base)  # --mixed: HEAD and the index back to the start, files as they are


SOURCE_SUFFIXES = frozenset(
    {".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".go", ".rs", ".java", ".rb", ".c"}
    | {".h", ".cc", ".cpp", ".hpp", ".cs", ".php", ".sh", ".sql", ".toml", ".cfg", ".ini"}
)
"""Files whose loss breaks a build: an ignored one of these an attempt wrote is said."""
TOOL_FOLDERS = frozenset(
    {"node_modules", ".venv", "venv", "env", "build", "dist", "target", ".tox", ".nox"}
    | {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".cache", "htmlcov"}
    | {".shopfloor", ".git", ".eggs", "site-packages"}
)
"""Ignored folders that tools fill (dependencies, builds, caches): never the task's code."""
LEFT_OUT_SHOWN = 10


def ignored_sources(worktree: Path) -> list[str]:
    """Source files in ``worktree`` that its ignore rules keep out of a commit (``lib/``
    in Python's template): an attempt that wrote them would ship without them. The version
    file the project's build writes (:func:`generated_files`) is not one of them."""
    out = FactoryRepo(worktree).git.ls_files(
        "--others", "--ignored", "--exclude-standard", "--directory", "-z"
    )
    generated = set(generated_files(worktree))
    found: list[str] = []
    for name in names(out):
        path = worktree / name
        if any(part in TOOL_FOLDERS or part.endswith(".egg-info") for part in Path(name).parts):
            continue
        if path.is_file():
            if path.suffix in SOURCE_SUFFIXES and name not in generated:
                found.append(name)
            continue
        for folder, dirs, files in _walk(path):
            dirs[:] = [d for d in dirs if d not in TOOL_FOLDERS and not d.endswith(".egg-info")]
            rel = folder.relative_to(worktree)
            found += [
                str(rel / f)
                for f in sorted(files)
                if Path(f).suffix in SOURCE_SUFFIXES and (rel / f).as_posix() not in generated
            ]
            if len(found) > LEFT_OUT_SHOWN:
                return found
    return found


def _walk(path: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` with the folders as paths (``Path.walk`` is Python 3.12's)."""
    for folder, dirs, files in os.walk(path):
        yield Path(folder), dirs, files


def inside(worktree: Path, paths: Sequence[str]) -> list[str]:
    """The ``paths`` that exist in ``worktree`` and lie inside it (none through ``..``)."""
    root = worktree.resolve()
    found = []
    for rel in paths:
        path = worktree / rel
        if path.exists() and path.resolve().is_relative_to(root) and path.resolve() != root:
            found.append(rel)
    return found


class MaskWritten(ValueError):
    """The attempt wrote the secret mask into files; its message is one line for the retry.

    A coding agent shown a secret file masked (``[REDACTED]`` for each value, the cli
    provider's fence) that copies it (``cp .env .env.bak``) or pastes its values elsewhere
    would replace the user's real values with the mask. The toolbelt refuses such a write;
    this is the same rule for whatever wrote the file.
    """

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        shown = ", ".join(self.paths[:LEFT_OUT_SHOWN]) + (
            ", ..." if len(self.paths) > LEFT_OUT_SHOWN else ""
        )
        super().__init__(
            f"not committed: the attempt wrote {REDACTED} into {shown}. {REDACTED} stands for "
            "a secret value hidden from the agent (the file keeps the real one): never copy a "
            "masked file or paste its values; edit around them, or read the secret from an "
            "environment variable"
        )


def _count_mask(wt: FactoryRepo, spec: str) -> int:
    """How often the mask occurs in the blob ``spec`` names (0 when there is none)."""
    try:
        raw = wt.git.cat_file("blob", spec, stdout_as_string=False)
    except git.GitCommandError:
        return 0
    return int(bytes(raw).count(REDACTED.encode()))


def mask_added(wt: FactoryRepo) -> list[str]:
    """The staged files holding the mask more often than the commit they start from: a
    file that held the text ``[REDACTED]`` already (a redactor's own code) may keep it."""
    changed = names(
        wt.git.diff("--cached", "--no-renames", "--name-only", "-z", "--text", "-S", REDACTED)
    )
    return [
        name for name in changed if _count_mask(wt, f":{name}") > _count_mask(wt, f"HEAD:{name}")
    ]


def commit_worktree(
    worktree: Path, message: str, keep: Sequence[str], tell: Callable[[str], object]
) -> str | None:
    """Commit everything changed in ``worktree`` but the junk, the ``keep`` paths even where
    ignored; None if nothing changed. ``tell`` hears the ignored source files left out.
    :class:`MaskWritten` when the changes add the secret mask to a file, :class:`LinkLeadsOut`
    when they add a symlink leading out of it (nothing is committed, the index is emptied
    again)."""
    wt = FactoryRepo(worktree)
    wt.git.add("-A", "--", ".", *JUNK_PATHSPECS)
    named = inside(worktree, keep)
    if named:
        wt.git.add("--force", "--", *named, *JUNK_PATHSPECS)
    left_out = ignored_sources(worktree)
    if left_out:
        shown = ", ".join(left_out[:LEFT_OUT_SHOWN])
        more = ", ..." if len(left_out) > LEFT_OUT_SHOWN else ""
        tell(
            f"not committed, the repository's ignore rules match them: {shown}{more}"
            " (a file the task's plan names is committed all the same)"
        )
    if not wt.git.diff("--cached", "--name-only").strip():
        return None
    masked = mask_added(wt)
    if masked:
        wt.git.reset("-q")
        raise MaskWritten(masked)
    leading_out = staged_links_out(wt)
    if leading_out:
        wt.git.reset("-q")
        raise LinkLeadsOut(leading_out)
    wt.git.commit("-q", "--no-verify", "-m", message, env=IDENTITY)
    return str(wt.git.rev_parse("--verify", "HEAD^{commit}"))
