"""Known retirement dates of hosted models, and the one line each configured one earns.

A retired model does not always fail loudly. Google's Gemini API sends a retired model's
requests to its replacement and bills them at that model's rates, so a factory left running
overnight on it would run, and be priced, on another model without a word. Doctor and the
start of a run therefore say so, one line per model, from 30 days before the date on.

The Anthropic SDK keeps its own list of deprecated models, which the run already reports
(agents/crew.py ``deprecations``); this table holds what that list does not: Gemini's
retirements, and Anthropic models already retired (the SDK drops them from its list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from agents.providers.anthropic_models import undated
from agents.routing import Routing, chain_parts

NOTICE = timedelta(days=30)
"""How long before its retirement a configured model is pointed out."""


@dataclass(frozen=True)
class Retirement:
    """When a provider retires a model, what its requests do after, and what to use."""

    on: date
    by: str
    routed_to: str | None
    """The model its requests go to after ``on`` (billed at that model's rates), or None
    when they fail."""
    instead: str
    """The spec to configure in its place."""


RETIREMENTS: dict[str, Retirement] = {
    # Google: third-party only. dev.to/aideprecations "What to Do Before Gemini 2.5 Pro and
    # 2.5 Flash Are Retired on December 1, 2026", citing ai.google.dev/gemini-api/docs/
    # deprecations read 2026-11-10 (the stored copy of Google's page lists both replacements
    # as GA with no shutdown date, but not the 2.5 rows' new date).
    "gemini:gemini-2.5-pro": Retirement(
        date(2026, 12, 1), "Google", "gemini-3.8-flash", "gemini:gemini-3.8-flash"
    ),
    "gemini:gemini-2.5-flash": Retirement(
        date(2026, 12, 1), "Google", "gemini-3.5-flash-lite", "gemini:gemini-3.5-flash-lite"
    ),
    # Anthropic release notes (platform.claude.com/docs/en/release-notes/overview):
    # Sonnet 4 and Opus 4 retired 2026-06-15, Opus 4.1 on 2026-08-05; requests now error.
    "anthropic:claude-sonnet-4": Retirement(
        date(2026, 6, 15), "Anthropic", None, "anthropic:claude-sonnet-4-6"
    ),
    "anthropic:claude-opus-4": Retirement(
        date(2026, 6, 15), "Anthropic", None, "anthropic:claude-opus-4-8"
    ),
    "anthropic:claude-opus-4-1": Retirement(
        date(2026, 8, 5), "Anthropic", None, "anthropic:claude-opus-4-8"
    ),
}


def retirement_of(spec: str) -> Retirement | None:
    """The retirement of one link's model (``family:model``, a dated id or a base URL
    after ``@`` allowed); None when none is known. ``claude-opus-4`` is not
    ``claude-opus-4-8``: only a date suffix is stripped."""
    bare = spec.strip().partition("@")[0]
    return RETIREMENTS.get(bare) or RETIREMENTS.get(undated(bare))


def retirement_notes(roles_by_spec: Mapping[str, Iterable[str]], today: date) -> list[str]:
    """One warning per configured model retired, or retired within :data:`NOTICE` of
    ``today``; each link of a fallback chain is looked at. ``roles_by_spec``: spec -> the
    roles that use it (``[models]`` keys; a doctor's ``given`` or ``(fallback)`` is fine)."""
    roles_of: dict[str, list[str]] = {}
    for spec, roles in roles_by_spec.items():
        for part in chain_parts(spec):
            for role in roles:
                named = role.removesuffix(" (fallback)")
                if named not in roles_of.setdefault(part, []):
                    roles_of[part].append(named)
    notes = []
    for spec in sorted(roles_of):
        retired = retirement_of(spec)
        if retired is None or today < retired.on - NOTICE:
            continue
        verb = "was retired" if today >= retired.on else "is retired"
        after = (
            f"requests go to {retired.routed_to}, billed at its rates"
            if retired.routed_to
            else "requests fail"
        )
        roles = [role for role in roles_of[spec] if role != "given"]
        where = f"[models] {', '.join(roles)}" if roles else "[models]"
        notes.append(
            f"WARNING: {spec} {verb} by {retired.by} on {retired.on.isoformat()} ({after}); "
            f"set {where} to {retired.instead} or another current model"
        )
    return notes


def roles_by_spec(routing: Routing) -> dict[str, list[str]]:
    """spec -> the roles a run routes to it (the review panel as ``reviewers``)."""
    found: dict[str, list[str]] = {}
    for role, spec in [*routing.models.items(), *(("reviewers", s) for s in routing.reviewers)]:
        if role not in found.setdefault(spec, []):
            found[spec].append(role)
    return found
