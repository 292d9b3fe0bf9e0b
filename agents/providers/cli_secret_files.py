"""The secrets around a coding agent's run: what it is shown masked, what its output is
cleaned of.

The secret files git tracks in the worktree (``.env``, ``credentials.json``, a private key)
are shown to a fenced agent as masked, read-only copies (:func:`masked_copies`, bound by
:func:`~agents.providers.cli_fence.fence_argv`) that git in the worktree passes over
(:func:`skip_worktree`); so are the user's checkout's
(:func:`~engine.secret_values.checkout_secret_files`), which the fence leaves readable. What
the agent may still see — the host's secret-looking values, a withheld key that comes its
way — is redacted from its output (:func:`secret_values`), and so are the values of the
secret files it writes (:class:`~engine.secret_index.SecretFileIndex` finds them) and of
the checkout's (:func:`checkout_secret_values`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from engine.beneath import LeavesRoot, read_beneath, relative_parts
from engine.repo_guard import HOOKLESS
from engine.secret_files import mask_secret_text
from engine.secret_values import WorktreeSecrets, tracked_secret_files
from engine.secrets import MIN_SECRET_LENGTH, REDACTED, secret_env_values


def worktree_secret_files(worktree: Path) -> list[str]:
    """The secret files git tracks in ``worktree`` (none outside a git worktree)."""
    return tracked_secret_files(worktree) if (worktree / ".git").exists() else []


def checkout_secret_values(checkout: Path, files: Sequence[str]) -> list[str]:
    """The values of the checkout's secret ``files`` that the agent's output is cleaned of
    (each also as a JSON string holds it), longest first."""
    secrets = WorktreeSecrets(checkout, files)
    secrets.values()
    return secrets.forms


def masked_copies(
    worktree: Path, files: Sequence[str], scratch: Path, *, links: bool = False
) -> list[tuple[Path, Path]]:
    """A masked copy (:func:`~engine.secret_files.mask_secret_text`) in ``scratch`` of each
    of ``files`` of the worktree, with the file it stands for; a binary one (a keystore)
    becomes the mask alone. A symlink is left out (its target is not the worktree's), and a
    file behind a folder an agent linked out of the worktree (read part by part), unless
    ``links`` (the user's checkout, whose ``.env`` may link to a file kept elsewhere): then
    the copy stands for the link's target (bubblewrap cannot bind over an absolute link)."""
    pairs: list[tuple[Path, Path]] = []
    for index, rel in enumerate(files):
        target, rel_parts = worktree / rel, relative_parts(rel)
        if (target.is_symlink() and not links) or not target.is_file():
            continue
        try:  # the worktree's: a folder on the way an agent linked out is not followed
            raw = target.read_bytes() if links else read_beneath(worktree, rel_parts, shown=rel)[0]
        except (OSError, LeavesRoot):
            continue
        if b"\0" in raw[:8192]:
            shown = f"{REDACTED}\n".encode()
        else:
            text = raw.decode("utf-8", "surrogateescape")
            shown = mask_secret_text(text).encode("utf-8", "surrogateescape")
        copy = scratch / f"{index}-{target.name}"
        copy.write_bytes(shown)
        pairs.append((copy, target.resolve() if links else target))
    return pairs


def skip_worktree(worktree: Path, files: Sequence[str], on: bool) -> list[str]:
    """Set (or clear) git's skip-worktree bit of ``files`` in the worktree's index; the files
    it was set on. Set, ``git status``, ``git diff`` and ``git add -A`` run by the agent pass
    over the masked copy: a diff of it against the real file would print the real values,
    and an ``add`` would stage the mask."""
    if not files:
        return []
    flag = "--skip-worktree" if on else "--no-skip-worktree"
    hookless = [part for option in HOOKLESS for part in ("-c", option)]
    try:
        done = subprocess.run(
            ["git", *hookless, "update-index", flag, "--", *files],
            cwd=worktree,
            capture_output=True,
            check=False,
            start_new_session=True,
        )
    except OSError:
        return []
    return list(files) if done.returncode == 0 else []


def secrets_said(files: Sequence[str], *, masked: bool) -> str:
    """The agent log's line about the worktree's secret files (empty when it has none):
    shown masked and read-only, or, without the fence, read as they are."""
    if not files:
        return ""
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    if masked:
        return (
            f"[fence] secret files shown to the agent masked and read-only: {shown}; an edit "
            "to one fails and the file keeps its real values (git status and diff leave them "
            "out; git show HEAD:.env still prints them to the agent; its log is cleaned of them)"
        )
    return (
        f"[fence] secret files reach the agent unmasked: {shown} (masking them needs the "
        "bubblewrap fence)"
    )


def secret_values(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The secret-looking values of ``env`` (the console's and telemetry's rule,
    :mod:`engine.secrets`) and ``extra``, longest first, each also as it is written inside a
    JSON string (a password's quote or backslash comes escaped in a JSON event line)."""
    values = {v.strip() for v in [*secret_env_values(env), *extra]}
    values = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
    escaped = {json.dumps(v, ensure_ascii=ascii)[1:-1] for v in values for ascii in (True, False)}
    return sorted(values | escaped, key=len, reverse=True)
