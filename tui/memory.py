"""What a run remembers between runs, wired in by the composition root.

Before a run: which mode it takes (``--mode``, else the example's playbook, else detected from
the repository), the owner's DNA file (``[twin] dna`` or ``dna.toml`` in the data folder) and
the learnings of earlier runs for the planner and the engineers. After it: the human decisions
it collected, proposed as DNA entries. Kept out of tui/compose.py so that module stays the
wiring and nothing else.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
from pathlib import Path

from agents.dna import DnaError, OwnerDNA
from agents.dna_proposals import ProposalBook, dna_path, proposals_from_state
from agents.learnings import Lesson, lessons_from_records
from agents.playbook import Playbook, PlaybookError
from engine.files import replace_file
from engine.recon import MODES, Mode, detect_repo_mode
from engine.state import RunState
from engine.workspace import GitWorkspaces
from storage.paths import data_home
from storage.store import SqlEventStore
from tui.config import Settings


class ModeError(ValueError):
    """A mode that cannot be used. One line."""


def resolve_mode(
    asked: str | None,
    settings: Settings,
    workspaces: GitWorkspaces,
    resume: RunState | None = None,
) -> Mode:
    """The run's mode: a resumed run keeps its own; else ``--mode``, the playbook's, or
    detected (create on an empty repository, update otherwise)."""
    if resume is not None and resume.run_id:
        return _checked(resume.mode)
    if asked:
        return _checked(asked)
    if settings.playbook is not None:
        try:
            book = Playbook.load(settings.playbook)
        except PlaybookError as exc:
            raise ModeError(str(exc)) from exc
        if book.mode is not None:
            return book.mode
    return detect_repo_mode(workspaces.path, workspaces.tracked_files())


def _checked(mode: str) -> Mode:
    for known in MODES:
        if mode == known:
            return known
    raise ModeError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")


def dna_file(settings: Settings) -> Path:
    """The owner's DNA file this run's twin reads and its proposals go beside."""
    return dna_path(settings.twin_dna, data_home())


def load_dna(settings: Settings) -> OwnerDNA | None:
    """The configured DNA (must exist), else the data folder's when there is one."""
    path = dna_file(settings)
    if settings.twin_dna is None and not path.is_file():
        return None
    return OwnerDNA.load(path)


async def load_lessons(store: SqlEventStore) -> list[Lesson]:
    """Every learning recorded by earlier runs in this database, minus the pruned ones."""
    retired = retired_ids()
    return [
        x for x in lessons_from_records(await store.learnings()) if x.learning_id not in retired
    ]


def propose_decisions(state: RunState, settings: Settings) -> tuple[int, Path]:
    """Record the run's human decisions as proposed DNA entries; (how many new, file)."""
    book = ProposalBook(dna_file(settings))
    try:
        added = book.add(proposals_from_state(state))
    except (DnaError, OSError):
        return 0, book.path
    return len(added), book.path


def proposals_line(proposed: int, where: Path, settings: Settings) -> str:
    """What a run that proposed DNA entries says at its end: where they are and the commands
    that show and accept them, each one that runs as printed."""
    dna = f" --dna {shlex.quote(str(dna_file(settings)))}" if settings.twin_dna else ""
    return (
        f"{proposed} human decision(s) proposed for the owner's DNA ({where}); "
        f"review them with `shopfloor dna show{dna}`, accept every pending one with "
        f"`shopfloor dna accept{dna} --all` (or give the ids `dna show` lists)"
    )


def retired_path() -> Path:
    """The file listing learnings pruned by ``shopfloor learnings prune``.

    The learnings projection is rebuilt from the append-only log, so pruning does not delete
    rows: it retires ids, and retired learnings are never retrieved again.
    """
    return data_home() / "learnings-retired.json"


def retired_ids() -> set[str]:
    """Ids of the learnings pruned so far."""
    try:
        raw = json.loads(retired_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return set()
    return {str(x) for x in raw} if isinstance(raw, list) else set()


def retire(ids: set[str]) -> int:
    """Retire ``ids``; returns how many were not retired before.

    Two prunes at once take turns under a lock on the data folder (neither loses the other's
    ids), and the file is replaced whole: a run starting meanwhile never reads it half
    written, which read as nothing retired and brought every pruned learning back.
    """
    path = retired_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # the data folder's: no lock file left behind
        before = retired_ids()
        after = before | ids
        replace_file(path, json.dumps(sorted(after), indent=2) + "\n")
    finally:
        os.close(folder)
    return len(after) - len(before)
