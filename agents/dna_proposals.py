"""Proposed DNA entries: a human's decisions on escalations, waiting for the owner's nod.

When a person answers an escalation (EscalationResolved decided by ``human:<user>``), the run
ends by proposing that answer as a DNA ruling. Proposals live in a small JSON file beside the
DNA file (``owner.toml`` -> ``owner.proposals.json``); ``shopfloor dna accept`` moves them
into the DNA as ``{kind, question, decision, note, source}`` decisions, and from then on the
twin answers the same question itself (agents/roles/twin.py) instead of escalating it.

For a twin-gate escalation the question recorded is the run's request — the thing the owner
decided on — not the escalation's wording, which carries the twin's passing confidence.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.dna import DnaDecision, DnaError, OwnerDNA, normalize_question
from engine.files import replace_file
from engine.state import RunState

DEFAULT_DNA_NAME = "dna.toml"


def dna_path(configured: Path | None, data_home: Path) -> Path:
    """The DNA file: ``[twin] dna`` from the config, else ``dna.toml`` in the data folder."""
    return configured if configured is not None else data_home / DEFAULT_DNA_NAME


def proposals_path(dna_file: Path) -> Path:
    """Where the proposals for ``dna_file`` are kept."""
    return dna_file.with_name(f"{dna_file.stem}.proposals.json")


class Proposal(BaseModel):
    """One proposed ruling, with where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_id: str
    run_id: str
    escalation_id: str
    kind: str
    question: str
    decision: str
    note: str = ""
    decided_by: str
    proposed_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_decision(self) -> DnaDecision:
        return DnaDecision(
            question=self.question,
            decision=self.decision,
            kind=self.kind,
            note=self.note,
            source=f"{self.decided_by} in run {self.run_id} ({self.escalation_id})",
        )


def proposals_from_state(state: RunState) -> list[Proposal]:
    """A proposal for every escalation of the run a human decided."""
    found = []
    for esc in state.escalations.values():
        if not (esc.decision and esc.decided_by and esc.decided_by.startswith("human:")):
            continue
        question = state.request if esc.kind == "twin" else esc.question
        found.append(
            Proposal(
                proposal_id=f"{state.run_id[:8]}-{esc.escalation_id}",
                run_id=state.run_id,
                escalation_id=esc.escalation_id,
                kind=esc.kind,
                question=question,
                decision=esc.decision,
                note=esc.note,
                decided_by=esc.decided_by,
            )
        )
    return found


@contextlib.contextmanager
def dna_lock(dna_file: Path) -> Iterator[None]:
    """Hold the lock every change to ``dna_file`` or its proposals takes: the lock of the
    folder they are in (no lock file is left beside a DNA kept in a repository; the kernel
    lets go when the process ends, however)."""
    dna_file.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(dna_file.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)


class ProposalBook:
    """The proposals file of one DNA file.

    Runs sharing a DNA file (every run of one data folder does) add to it as they end, and
    ``shopfloor dna accept`` takes from it: each change holds a lock on the file's folder,
    so two at once take turns instead of one losing the other's proposals, and the file is
    replaced whole, so a reader never sees it half written.
    """

    def __init__(self, dna_file: Path) -> None:
        self.dna_file = dna_file
        self.path = proposals_path(dna_file)

    def _changing(self) -> contextlib.AbstractContextManager[None]:
        """Hold the DNA's lock (:func:`dna_lock`), which ``dna edit`` takes to save too."""
        return dna_lock(self.dna_file)

    def load(self) -> list[Proposal]:
        """Every pending proposal; DnaError when the file is unreadable."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
            raise DnaError(f"proposals file {self.path} is unreadable: {exc}") from exc
        try:
            return [Proposal.model_validate(item) for item in raw]
        except (ValidationError, TypeError) as exc:
            raise DnaError(f"proposals file {self.path} has a bad entry: {exc}") from exc

    def _save(self, proposals: Sequence[Proposal]) -> None:
        data = [p.model_dump() for p in proposals]
        replace_file(self.path, json.dumps(data, indent=2) + "\n")

    def add(self, proposals: Iterable[Proposal]) -> list[Proposal]:
        """Keep new proposals (an id or a question already pending is skipped)."""
        with self._changing():
            return self._add(proposals)

    def _add(self, proposals: Iterable[Proposal]) -> list[Proposal]:
        pending = self.load()
        ids = {p.proposal_id for p in pending}
        questions = {(p.kind, normalize_question(p.question), p.decision) for p in pending}
        added = []
        for proposal in proposals:
            key = (proposal.kind, normalize_question(proposal.question), proposal.decision)
            if proposal.proposal_id in ids or key in questions:
                continue
            ids.add(proposal.proposal_id)
            questions.add(key)
            added.append(proposal)
        if added:
            self._save([*pending, *added])
        return added

    def accept(self, ids: Sequence[str] | None = None) -> list[Proposal]:
        """Move the proposals named by ``ids`` (id prefixes; None = all) into the DNA file."""
        with self._changing():
            return self._accept(ids)

    def _accept(self, ids: Sequence[str] | None) -> list[Proposal]:
        pending = self.load()
        if ids is None:
            chosen = list(pending)
        else:
            chosen = []
            for wanted in ids:
                hits = [p for p in pending if p.proposal_id.startswith(wanted)]
                if len(hits) != 1:
                    what = "no proposal" if not hits else f"{len(hits)} proposals"
                    raise DnaError(f"{what} matching {wanted!r} in {self.path}")
                chosen.extend(h for h in hits if h not in chosen)
        if not chosen:
            return []
        dna = OwnerDNA.load(self.dna_file) if self.dna_file.exists() else OwnerDNA()
        decisions = [*dna.decisions, *(p.as_decision() for p in chosen)]
        save_dna(self.dna_file, dna.model_copy(update={"decisions": decisions}))
        self._save([p for p in pending if p not in chosen])
        return chosen


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _toml_list(items: Sequence[str | DnaDecision]) -> str:
    if not items:
        return "[]"
    lines = []
    for item in items:
        if isinstance(item, str):
            lines.append(f"  {_toml_string(item)},")
            continue
        fields = item.model_dump(exclude_defaults=True)
        fields.setdefault("question", item.question)
        fields.setdefault("decision", item.decision)
        body = ", ".join(f"{k} = {_toml_string(str(v))}" for k, v in fields.items())
        lines.append(f"  {{ {body} }},")
    return "[\n" + "\n".join(lines) + "\n]"


def dump_dna(dna: OwnerDNA) -> str:
    """The DNA as TOML (``[owner]`` last: every key after a table header belongs to it)."""
    parts = [
        f"decisions = {_toml_list(dna.decisions)}",
        f"heuristics = {_toml_list(dna.heuristics)}",
        f"redlines = {_toml_list(dna.redlines)}",
    ]
    if dna.owner:
        owner = "\n".join(f"{k} = {_toml_string(v)}" for k, v in dna.owner.items())
        parts.append(f"[owner]\n{owner}")
    return "\n\n".join(parts) + "\n"


def save_dna(path: Path, dna: OwnerDNA) -> None:
    """Write ``dna`` to ``path``, keeping the file's leading comment block; the result is
    checked by parsing it back before it replaces the file."""
    header = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
    except OSError:
        pass
    text = ("\n".join(header) + "\n\n" if header else "") + dump_dna(dna)
    if OwnerDNA.model_validate(tomllib.loads(text)) != dna:
        raise DnaError(f"refusing to write {path}: the DNA would not read back the same")
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text)
