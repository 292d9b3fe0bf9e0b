"""Symlinks a branch would ship that lead out of the repository: a leak path, refused.

git keeps a symlink as the path it points at, nothing of that file. A link whose target is
absolute (``/home/me/.aws/credentials``) or climbs above the repository's root
(``../.env``, the file beside the checkout) names a file of whatever machine the branch is
checked out on: whoever runs, serves or packages the code reads that file through it, and
the file is nobody's to commit. The secrets gate (``gates.secrets_gate``) fails on such a
link, naming the link and never its target or what the target holds; it never reads the
target either (the scan itself reads only files inside the workspace).

The links judged are those a branch ships: the files git tracks, wherever they lie (an
ignored folder a task named, staged with ``--force``; a ``node_modules/`` or ``.venv/`` a
commit took: the folders the gates skip hold committed links too), and the untracked ones it
does not ignore outside those folders; a link in an ignored folder (a virtualenv's
``python``, a ``.tox``) ships nowhere. An attempt's commit refuses such a link before any
gate sees it (``engine.staged_links``); this gate judges every branch, whoever made it.
A link staying inside the repository is a second name for one of its files: the scan reads
that file under its own name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.attempt_commit import JUNK_PATHSPECS
from engine.protocols import Finding, GateResult
from engine.repo_guard import git_run
from gates.tool_gate import MAX_FINDINGS

LEADS_OUT = (
    "symlink leading outside the repository ({how}): whoever checks this branch out reads "
    "that file of their own machine through it; commit the file itself or drop the link"
)


def shipped_names(workspace: Path, since: str | None) -> tuple[list[str], list[str]] | None:
    """The paths a branch of ``workspace`` ships: the tracked ones (given ``since``, only
    those added or changed against that revision) and the untracked ones not ignored. None
    when git cannot tell (not a repository, an unknown revision)."""
    others = git_run(
        workspace, "ls-files", "-z", "--others", "--exclude-standard", "--", ".", *JUNK_PATHSPECS
    )
    if since is None:
        named = git_run(workspace, "ls-files", "-z", "--cached", "--", ".", *JUNK_PATHSPECS)
    else:
        named = git_run(
            workspace,
            "diff",
            "--name-only",
            "-z",
            "--no-renames",
            "--diff-filter=AMT",
            since,
            "--",
            ".",
            *JUNK_PATHSPECS,
        )
    if others.returncode != 0 or named.returncode != 0:
        return None
    return (
        [name for name in named.stdout.split("\0") if name],
        [name for name in others.stdout.split("\0") if name],
    )


def walked_links(workspace: Path, skipped: re.Pattern[str]) -> list[str]:
    """Every symlink under ``workspace`` (files and folders; none followed) outside the
    folders matching ``skipped``: the paths judged where git cannot list them."""
    found: list[str] = []
    for root, dirs, files in os.walk(workspace):
        base = os.path.relpath(root, workspace)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        dirs[:] = [d for d in dirs if not skipped.search(f"{prefix}{d}/")]
        found += [prefix + n for n in dirs + files if os.path.islink(os.path.join(root, n))]
    return sorted(found)


def leads_out(workspace: Path, rel: str) -> str | None:
    """How the symlink at ``rel`` leads out of ``workspace`` ("an absolute path", "above
    the repository's root"); None when ``rel`` is no symlink or one that stays inside. The
    target need not exist: a link to a file this machine lacks reads it on another."""
    path = os.path.join(workspace, rel)
    try:
        target = os.readlink(path)
    except OSError:  # not a link (or gone)
        return None
    if os.path.isabs(target):
        return "an absolute path"
    root = os.path.realpath(workspace)
    real = os.path.realpath(path)  # through the links on the way, as a reader goes
    if real != root and not real.startswith(root + os.sep):
        return "above the repository's root"
    return None


def escaping_links(
    workspace: Path, since: str | None, skipped: re.Pattern[str], excluded: tuple[str, ...]
) -> list[Finding]:
    """A finding for each symlink leading out of ``workspace`` that its branch ships (given
    ``since``: that the revision adds or changes); paths matching one of the ``excluded``
    patterns (the gate's own exclusions) left out, and untracked ones matching ``skipped``
    (a tracked link ships from any folder)."""
    listed = shipped_names(workspace, since)
    if listed is None and since is not None:  # an unknown revision: the scan reads the tree
        listed = shipped_names(workspace, None)
    tracked, untracked = listed if listed is not None else ([], walked_links(workspace, skipped))
    names = sorted({*tracked, *(name for name in untracked if not skipped.search(name))})
    findings: list[Finding] = []
    for rel in names:
        if any(re.search(pattern, rel) for pattern in excluded):
            continue
        how = leads_out(workspace, rel)
        if how is not None:
            findings.append(Finding(message=LEADS_OUT.format(how=how), file=rel))
    return findings


def failed_by_links(verdict: GateResult, links: list[Finding]) -> GateResult:
    """``verdict`` failed besides by ``links`` (:func:`escaping_links`), named first."""
    if not links:
        return verdict
    count = f"{len(links)} symlink(s) leading outside the repository"
    summary = count if verdict.passed else f"{verdict.summary}; {count}"
    counts = {**verdict.counts, "links": len(links)}
    counts["blocking"] = counts.get("blocking", 0) + len(links)
    counts["findings"] = counts.get("findings", 0) + len(links)
    findings = [*links, *verdict.findings][:MAX_FINDINGS]
    update = {"passed": False, "summary": summary, "counts": counts, "findings": findings}
    return verdict.model_copy(update=update)
