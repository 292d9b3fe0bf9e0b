"""What differs between Claude models where the Anthropic provider must do something else.

Two things, both about the models that think by default:

* **Forced tool use.** A structured answer has long been a forced ``respond`` tool
  (``tool_choice: {"type": "tool"}``). Claude Sonnet 5.5 answers that with a 400
  ("What's new in Claude Sonnet 5.5", platform.claude.com/docs/en/models/sonnet-5-5/
  whats-new-sonnet-5-5, breaking change "Forced tool use returns an error"; its migration
  guide lists forced tool choice among the five settings that return a 400). Such a model
  gets the schema as structured outputs (``output_config.format``, GA on the Claude API:
  platform.claude.com/docs/en/build-with-claude/structured-outputs).
* **Thinking by default.** Adaptive thinking is on when a request names no ``thinking``
  (Sonnet 5 and 5.5, per their model pages; Opus 5.x and Fable 5.x, "Adaptive (always
  on)" in the models comparison). Thinking counts against ``max_tokens``, so such a model
  gets :data:`THINKING_HEADROOM` more room than the answer needs.

The table is a first guess, not the last word: a model it does not name is assumed to
accept forced tool use and not to think; the provider learns otherwise from the API itself
(a 400 naming ``tool_choice``, a reply that carries thinking blocks) and remembers it for
the rest of the run. Names match exactly or with a date suffix only, so
``claude-sonnet-5`` is not ``claude-sonnet-5-5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ClaudeTraits:
    """How one Claude model behaves where the provider has a choice."""

    forced_tool: bool = True
    """``tool_choice`` ``tool`` / ``any`` is accepted."""
    thinks: bool = False
    """Adaptive thinking is on when the request does not say otherwise."""


THINKING_HEADROOM = 32_000
"""Output tokens added to a thinking model's ``max_tokens`` for its thoughts (only what is
generated is billed): at the default effort (high) a 4,096-token structured answer could
otherwise be spent on thinking and come back cut."""

TRAITS: dict[str, ClaudeTraits] = {
    # Official: the Sonnet 5.5 what's-new page and migration guide (2026-09-28 release).
    "claude-sonnet-5-5": ClaudeTraits(forced_tool=False, thinks=True),
    # Opus 5.5 and Fable 5.1 refusing forced tool use is from a third-party model catalog
    # (harn-vm's tool_choice tests), not an Anthropic page; a wrong guess costs nothing:
    # structured outputs work on the models that still accept forcing.
    "claude-opus-5-5": ClaudeTraits(forced_tool=False, thinks=True),
    "claude-fable-5-1": ClaudeTraits(forced_tool=False, thinks=True),
    "claude-sonnet-5": ClaudeTraits(thinks=True),
    "claude-opus-5": ClaudeTraits(thinks=True),
}

_DATED = re.compile(r"-\d{8}$")  # claude-sonnet-5-5-20260928 is claude-sonnet-5-5


def undated(model: str) -> str:
    """``model`` without a date suffix (``claude-opus-4-1-20250805`` is ``claude-opus-4-1``);
    a minor version is kept (``claude-sonnet-5-5`` stays)."""
    return _DATED.sub("", model)


def traits_of(model: str) -> ClaudeTraits:
    """The traits of ``model`` (an alias or a dated id); the defaults for one not listed."""
    return TRAITS.get(model) or TRAITS.get(undated(model)) or ClaudeTraits()
