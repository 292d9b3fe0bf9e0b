"""The engine's knobs. Loaded from shopfloor.toml by the front end; defaults are sane.

Every threshold a stage decides on lives here — kill gates, review quorum, twin confidence,
code QC, the judge — with the limits (workers, providers, attempts, budgets) and the
escalation policy, so a run's behaviour is one value that can be printed and compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

EscalationPolicy = Literal["wait", "twin", "reject"]
"""Who answers an escalation: only a human (``wait``), the twin, or the reject option."""

_RISK = ("low", "medium", "high")

_BAD_REF = re.compile(r"\.\.|@\{|//|/\.|\.lock/|[\x00-\x20\x7f~^:?*\[\\]")
"""What git's check-ref-format refuses inside a branch name (the prefix's part of it)."""


def branch_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot start a git branch name, or None when it can.

    The shipped branch is ``<prefix><slug>-<run id>``; the slug and id are safe, so the
    prefix is checked as the start of a name: git's rules (``git check-ref-format``) for
    the characters and components it may hold. Checked at configuration time: at ship
    time, after the whole run, a refused name would lose the run's result.
    """
    if prefix.startswith(("/", ".", "-")):
        return "must not start with '/', '.' or '-'"
    if _BAD_REF.search(prefix):
        return (
            "holds what git refuses in a branch name "
            "(.., @{, //, /., .lock/, a space, a control character, ~ ^ : ? * [ \\)"
        )
    return None


@dataclass(frozen=True)
class EngineConfig:
    """Limits and policies the engine obeys for one run."""

    workers: int = 4
    """Attempts that may run at once."""
    max_attempts: int = 3
    """Attempts per task before it fails (the first one included)."""
    branch_prefix: str = "shopfloor/"
    """Prefix of the shipped branch's name."""
    keep_worktrees: bool = False
    """Leave attempt worktrees on disk after the run (for debugging)."""

    provider_limits: dict[str, int] = field(default_factory=dict)
    """Calls that may run at once per model family (``{"anthropic": 4}``); absent = workers."""

    min_critic_score: float = 5.0
    """Kill gate: the critic's mean score (0-10) must reach this."""
    max_compliance_risk: Literal["low", "medium", "high"] = "medium"
    """Kill gate: a compliance risk above this ends the run."""
    kill_on_cannibalization: bool = True
    """Kill gate: a request duplicating an existing capability of the repo ends the run."""

    review_threshold: int = 95
    """A reviewer approves a blueprint at or above this score (0-100)."""
    review_quorum: int | None = None
    """Reviewers that must approve; None = all but one of a panel of three or more, else all."""
    review_rounds: int = 3
    """Review rounds before the panel escalates to a human."""

    twin_min_confidence: float = 0.7
    """Below this confidence the twin's decision goes to a human."""
    twin_change_rounds: int = 2
    """Times the twin may send the plan back to the planner before it escalates."""

    qc_threshold: int = 85
    """Code QC must score at least this (0-100)."""
    judge_threshold: int = 90
    """The judge's checklist must score at least this (0-100) to ship."""

    max_tokens: int | None = None
    """Token budget of the whole run (input + output)."""
    max_cost_usd: float | None = None
    """Cost budget of the whole run, in USD."""
    task_max_tokens: int | None = None
    """Token budget of one task, all attempts."""
    task_max_cost_usd: float | None = None
    """Cost budget of one task, all attempts."""
    max_duration_s: float | None = None
    """Time budget of the whole run, in seconds its processes drove it (not those it lay
    stopped between an interrupt and its resume)."""

    escalation_policy: EscalationPolicy = "wait"
    """Who answers escalations when no human does."""
    escalation_timeout_s: float | None = None
    """Take an escalation's default after this long (None = wait for ever)."""
    checkout_wait_s: float | None = 1800.0
    """How long merging waits for a checkout of the user's to let go of the run's integration
    branch before it escalates (``retry`` or ``stop``, by default stop; None = wait for ever)."""

    def __post_init__(self) -> None:
        problem = branch_prefix_problem(self.branch_prefix)
        if problem is not None:
            raise ValueError(f"branch_prefix {self.branch_prefix!r} {problem}")
        for name in (
            "escalation_timeout_s",
            "checkout_wait_s",
            "max_cost_usd",
            "task_max_cost_usd",
            "max_duration_s",
        ):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for family, limit in self.provider_limits.items():
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ValueError(f"provider_limits[{family!r}] must be at least 1, got {limit}")
        if not 0 <= self.min_critic_score <= 10:
            raise ValueError(f"min_critic_score must be within 0-10, got {self.min_critic_score}")
        if self.max_compliance_risk not in _RISK:
            raise ValueError(f"max_compliance_risk must be one of {_RISK}")
        for name in ("review_threshold", "qc_threshold", "judge_threshold"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be within 0-100, got {value}")
        if self.review_quorum is not None and self.review_quorum < 1:
            raise ValueError(f"review_quorum must be at least 1, got {self.review_quorum}")
        if self.review_rounds < 1:
            raise ValueError(f"review_rounds must be at least 1, got {self.review_rounds}")
        if not 0 <= self.twin_min_confidence <= 1:
            raise ValueError("twin_min_confidence must be within 0-1")
        if self.twin_change_rounds < 0:
            raise ValueError("twin_change_rounds must not be negative")
        if self.escalation_policy not in ("wait", "twin", "reject"):
            raise ValueError(
                f"escalation_policy must be wait, twin or reject, got {self.escalation_policy!r}"
            )
        if self.escalation_timeout_s is not None and self.escalation_timeout_s <= 0:
            raise ValueError("escalation_timeout_s must be positive")
        if self.checkout_wait_s is not None and self.checkout_wait_s <= 0:
            raise ValueError("checkout_wait_s must be positive")
        for name in (
            "max_tokens",
            "max_cost_usd",
            "task_max_tokens",
            "task_max_cost_usd",
            "max_duration_s",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def quorum_for(self, panel: int) -> int:
        """Approvals needed from a panel of ``panel`` reviewers (never more than the panel)."""
        if self.review_quorum is not None:
            return min(self.review_quorum, panel)
        return panel - 1 if panel >= 3 else panel

    def provider_limit(self, family: str) -> int:
        """Calls that may run at once on ``family`` (the worker limit when unset)."""
        return self.provider_limits.get(family, self.workers)
