"""The owner's DNA: what the human twin knows about how the owner decides.

A small TOML file a person writes and keeps beside the repository's config::

    decisions = ["Chose SQLite over PostgreSQL for the single-user tool (2024)", ...]
    heuristics = ["Prefer the standard library to a new dependency", ...]
    redlines = ["No network access at runtime", ...]

    [owner]          # last: in TOML every key after a [table] header belongs to it
    name = "Ada"

Decisions are precedents, heuristics are rules of thumb, redlines are never crossed without
the owner. A decision is either a sentence or a recorded ruling on a question (an inline
table ``{kind = "twin", question = "...", decision = "accept", note = "...", source = "..."}``,
what ``shopfloor dna accept`` writes from a human's decision on an escalation): the twin takes
a ruling whose question matches as the owner's answer, with high confidence, and does not
escalate the same question again. A bad file is one line naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class DnaError(ValueError):
    """An owner DNA file that cannot be used. One line."""


def normalize_question(text: str) -> str:
    """A question's matching key: lower case, single spaces, no trailing punctuation."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".?!").lower()


class DnaDecision(BaseModel):
    """A ruling the owner made on a question (recorded from a human's escalation answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    decision: str
    kind: str = "other"
    note: str = ""
    source: str = ""

    def matches(self, question: str, kind: str | None = None) -> bool:
        """Same question (normalized), and the same kind when one is given."""
        same_kind = kind is None or self.kind == kind
        return same_kind and normalize_question(self.question) == normalize_question(question)

    def render(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f'On "{self.question}" [{self.kind}] the owner decided: {self.decision}{note}'


class OwnerDNA(BaseModel):
    """How the owner decides, as the twin's prompt shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: dict[str, str] = Field(default_factory=dict)
    decisions: list[str | DnaDecision] = Field(default_factory=list)
    heuristics: list[str] = Field(default_factory=list)
    redlines: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.owner.get("name", "the owner")

    @property
    def empty(self) -> bool:
        return not (self.decisions or self.heuristics or self.redlines)

    def precedent(self, question: str, kind: str | None = None) -> DnaDecision | None:
        """The latest recorded ruling on ``question`` (of ``kind``), if any."""
        for item in reversed(self.decisions):
            if isinstance(item, DnaDecision) and item.matches(question, kind):
                return item
        return None

    @classmethod
    def load(cls, path: Path) -> OwnerDNA:
        """Read and validate a DNA file, or raise :class:`DnaError`."""
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise DnaError(f"owner DNA file not found: {path}") from exc
        except OSError as exc:
            raise DnaError(f"cannot read owner DNA file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise DnaError(f"owner DNA file {path} is not UTF-8 text") from exc
        except tomllib.TOMLDecodeError as exc:
            raise DnaError(f"owner DNA file {path} is not valid TOML: {exc}") from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DnaError(f"owner DNA file {path}: {where}: {first['msg']}") from exc

    def render(self) -> str:
        """The DNA as prompt text."""
        if self.empty:
            return (
                f"No DNA is on file for {self.name}: no precedents, heuristics or redlines. "
                "Decide conservatively and keep your confidence low."
            )

        def block(title: str, items: list[str]) -> str:
            body = "\n".join(f"- {item}" for item in items) or "- (none)"
            return f"{title}:\n{body}"

        return "\n".join(
            [
                f"Owner: {self.name}",
                block(
                    "Past decisions (precedents)",
                    [d if isinstance(d, str) else d.render() for d in self.decisions],
                ),
                block("Heuristics", self.heuristics),
                block("Redlines (never crossed without the owner)", self.redlines),
            ]
        )
