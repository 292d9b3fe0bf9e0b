"""The ruff a repository pins, so a lint verdict from another ruff says which it was.

filelock pins ruff 0.16.3 in its pre-commit configuration and is clean under it; the lint
gate ran ruff 0.17.6, whose new rules (ASYNC401, UP052, pytest-fixture-autouse) found 70
problems in its clean tree, and the audit said "70 lint problem(s)" as if the code had them.
The verdict stands (the gate runs the ruff it has, offline); its summary names both
versions, so the reader knows the findings may be the newer ruff's.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.beneath import read_text_beneath

PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
_VERSION = re.compile(r"ruff (\d+\.\d+\.\d+)")


def pinned_ruff(workspace: Path) -> str | None:
    """The ruff version the repository's pre-commit ruff hook pins (``rev: v0.16.3``)."""
    try:
        data = yaml.safe_load(read_text_beneath(workspace, PRE_COMMIT_CONFIG))
    except (OSError, ValueError, yaml.YAMLError):  # LeavesRoot: a link out, not read
        return None
    repos = data.get("repos") if isinstance(data, dict) else None
    for repo in repos if isinstance(repos, list) else []:
        if not isinstance(repo, dict) or not str(repo.get("repo", "")).endswith("ruff-pre-commit"):
            continue
        rev = str(repo.get("rev", "")).strip().removeprefix("v")
        return rev if re.fullmatch(r"\d+\.\d+\.\d+", rev) else None
    return None


def version_note(pinned: str, said: str) -> str:
    """What a failed lint summary adds when the ruff that ran (``said``: its ``--version``
    output) is not the one pinned; empty when they agree or the version cannot be read."""
    found = _VERSION.search(said)
    if found is None or found.group(1) == pinned:
        return ""
    return (
        f"ruff {found.group(1)}; the repository's pre-commit pins {pinned}: "
        "rules newer than that may be among these"
    )
