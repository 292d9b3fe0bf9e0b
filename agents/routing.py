"""Which model plays which role: defaults from the keys present, config on top, and the
cross-family rule for reviewers.

A reviewer judges someone else's work, so it must not share the author's model family: the
blueprint reviewers never run on the planner's family and the task reviewer never on the
engineer's. When a reviewer is configured on its author's family while another family is
configured too, that is a mistake and routing refuses it. When only one family is configured at
all (only one key, or the SIM everywhere), routing allows it but says so loudly: the warnings
are returned for the front end to print and the log to keep.

This module produces model specs only; providers are built from them by agents/registry.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SINGLE_ROLES = (
    "planner",
    "engineer",
    "critic",
    "twin",
    "task_reviewer",
    "qc",
    "verifier",
    "judge",
)
"""Roles played by one model each; ``reviewers`` is the one role that takes a list."""
ROLES = (*SINGLE_ROLES, "reviewers")

SIM_REVIEWERS = 3
"""Panel size when the SIM plays the reviewers."""

# Current GA models as of 2026-11-24. Anthropic: neither is on the SDK's deprecated list
# (Sonnet 4.5 retires 2026-11-30). Sonnet 5.5 (released 2026-09-28, $2/$10, 1M context) is
# Anthropic's current Sonnet: it refuses forced tool use and thinks by default, which the
# provider meets with structured outputs and by sending thinking blocks back
# (agents/providers/anthropic_models.py); a whole run on it ships over the wire
# (tests/e2e/test_anthropic_wire_run.py). Haiku 4.5 stays the cheap second opinion.
# Gemini: 2.5 Pro and Flash retire on 2026-12-01 (their requests then go to these two);
# the Gemini API has no GA Pro model (3.1 Pro is a preview), so the main model is the Flash
# that Google names 2.5 Pro's replacement, the second opinion the one it names 2.5 Flash's.
ANTHROPIC_MAIN = "anthropic:claude-sonnet-5-5"
ANTHROPIC_SECOND = "anthropic:claude-haiku-4-5"
GEMINI_MAIN = "gemini:gemini-3.8-flash"
GEMINI_SECOND = "gemini:gemini-3.5-flash-lite"

# Who authored what a reviewing role judges.
_AUTHOR_OF = {"reviewers": "planner", "task_reviewer": "engineer"}


FAMILIES = ("anthropic", "gemini", "openai", "cli", "sim")
"""The model families a spec may name (``FAMILY:MODEL``); agents/registry.py builds each."""

ENGINEER_ONLY_FAMILIES = ("cli",)
"""Families that can only play the engineer: an external coding agent works in a worktree and
answers no schema, so it neither plans, reviews, judges nor verifies — and a review panel
cannot move to its family."""


def chain_parts(spec: str) -> list[str]:
    """The specs of a fallback chain ``A | B`` in order (one spec is a chain of one)."""
    return [part.strip() for part in spec.split("|")]


class RoutingError(ValueError):
    """A role -> model configuration that cannot be used. One line."""


def family_of(spec: str) -> str:
    """The family of a model spec (``gemini:gemini-3.8-flash`` -> ``gemini``); of a fallback
    chain, its first link's."""
    family, sep, _ = spec.strip().partition(":")
    if not sep or not family:
        raise RoutingError(f"bad model spec {spec!r}: expected FAMILY:MODEL")
    return family


def families_of(spec: str) -> list[str]:
    """Every family a spec may answer on: each link of a fallback chain's, in order."""
    return list(dict.fromkeys(family_of(part) for part in chain_parts(spec)))


KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
}
"""Where each family's key is read from, in order; openai's is optional (local servers)."""

_DEFAULT_FAMILIES = ("anthropic", "gemini")
"""The hosted families whose key alone picks the default models."""


def keys_present(env: Mapping[str, str]) -> list[str]:
    """Which provider families have an API key in ``env`` (names only; values never read)."""
    return [
        family
        for family in _DEFAULT_FAMILIES
        if any(env.get(name) for name in KEY_VARIABLES[family])
    ]


def default_models(env: Mapping[str, str]) -> dict[str, str | list[str]]:
    """Role -> spec defaults: the SIM with no key; current models for the keys present.

    With both keys the authors (planner, engineer, twin, verifier) run on Anthropic and the
    judging roles (critic, reviewers, task reviewer, QC, judge) on Gemini, so every review
    crosses families. With one key, everything runs on that family (and routing warns).
    """
    keys = keys_present(env)
    if not keys:
        sim: dict[str, str | list[str]] = dict.fromkeys(SINGLE_ROLES, "sim:")
        sim["reviewers"] = ["sim:"] * SIM_REVIEWERS
        return sim
    author = ANTHROPIC_MAIN if "anthropic" in keys else GEMINI_MAIN
    judge = GEMINI_MAIN if "gemini" in keys else ANTHROPIC_MAIN
    second = GEMINI_SECOND if "gemini" in keys else ANTHROPIC_SECOND
    return {
        "planner": author,
        "engineer": author,
        "twin": author,
        "verifier": author,
        "critic": judge,
        "task_reviewer": judge,
        "qc": second,
        "judge": judge,
        "reviewers": [judge, second, judge],
    }


@dataclass(frozen=True)
class Routing:
    """The model spec of every role, and what routing has to say about it."""

    models: dict[str, str]
    reviewers: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def spec(self, role: str) -> str:
        """The spec of a single-model role."""
        return self.models[role]

    def as_dict(self) -> dict[str, str]:
        """Flat role -> spec (reviewers as ``reviewer-N``), for RunStarted.models."""
        flat = dict(self.models)
        for number, spec in enumerate(self.reviewers, start=1):
            flat[f"reviewer-{number}"] = spec
        return flat


def _specs(value: object, role: str) -> list[str]:
    if isinstance(value, str):
        specs = [value]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        specs = [str(v) for v in value]
    else:
        raise RoutingError(f"[models] {role} must be a model spec or a list of specs")
    if not specs:
        raise RoutingError(f"[models] {role} must name at least one model")
    for spec in specs:
        for part in chain_parts(spec):  # a fallback chain names a family in each part
            try:
                family = family_of(part)
            except RoutingError as exc:
                raise RoutingError(f"[models] {role}: {exc}") from None
            if family not in FAMILIES:
                raise RoutingError(
                    f"[models] {role}: unknown model family {family!r} in {spec!r}; "
                    f"known: {', '.join(FAMILIES)}"
                )
    return specs


def route(
    configured: Mapping[str, str | Sequence[str]],
    env: Mapping[str, str],
) -> Routing:
    """Apply ``configured`` (from [models]) over :func:`default_models` and check the rules.

    Raises :class:`RoutingError` for an unknown role, a bad spec, or a reviewer on its author's
    family while another family is configured; warns when only one family is configured.
    """
    unknown = sorted(set(configured) - set(ROLES))
    if unknown:
        raise RoutingError(f"unknown role(s) in [models]: {unknown}; known: {list(ROLES)}")
    merged: dict[str, str | Sequence[str]] = {**default_models(env), **configured}
    models: dict[str, str] = {}
    for role in SINGLE_ROLES:
        specs = _specs(merged[role], role)
        if len(specs) != 1:
            raise RoutingError(f"[models] {role} takes one model spec, got {len(specs)}")
        models[role] = specs[0]
    reviewers = tuple(_specs(merged["reviewers"], "reviewers"))
    for role, spec in [*models.items(), *(("reviewers", s) for s in reviewers)]:
        agents = [p for p in chain_parts(spec) if family_of(p) in ENGINEER_ONLY_FAMILIES]
        if agents and role != "engineer":
            raise RoutingError(
                f"[models] {role} {agents[0]!r}: an external coding agent can only play the "
                "engineer; give this role a model"
            )
    # The families a reviewer could move to. A fallback chain may answer on any of its
    # links' families, so each counts: a reviewer's chain that shares a family with its
    # author's could end up reviewing that family's work.
    families = {f for s in (*models.values(), *reviewers) for f in families_of(s)}
    families -= set(ENGINEER_ONLY_FAMILIES)
    alone: list[tuple[str, str, str]] = []  # (who reviews, whose work, the one family)
    for role, author in _AUTHOR_OF.items():
        author_family = family_of(models[author])
        author_families = families_of(models[author])
        judged_by = reviewers if role == "reviewers" else (models[role],)
        same = [(s, f) for s in judged_by for f in families_of(s) if f in author_families]
        if not same:
            continue
        if len(families) > 1:
            spec, shared = same[0]
            where = (
                f"the {author}'s family ({shared})"
                if author_families == [shared]
                else f"a family of the {author}'s fallback chain ({shared})"
            )
            others = sorted(families - set(author_families))
            pick = (
                f"pick one of {others}"
                if others
                else f"configure one the {author}'s chain does not name"
            )
            raise RoutingError(
                f"[models] {role} {spec!r} is on {where}; a reviewer must use another "
                f"family — {pick}"
            )
        who = "review panel" if role == "reviewers" else "task reviewer"
        alone.append((who, author, author_family))
    return Routing(models=models, reviewers=reviewers, warnings=_one_family_warnings(alone))


def _one_family_warnings(alone: list[tuple[str, str, str]]) -> tuple[str, ...]:
    """The warning that reviews are not independent: one line, naming each review that runs
    on its author's family (the panel and the task reviewer were two near-identical lines
    at the start of every SIM run)."""
    families = sorted({family for _, _, family in alone})
    if len(alone) == 2 and len(families) == 1:
        (panel, planner, _), (reviewer, engineer, _) = alone
        return (
            f"WARNING: only one model family ({families[0]}) is configured: the {panel} and "
            f"the {reviewer} review the {planner}'s and the {engineer}'s work on their own "
            "family, so the reviews are not independent; configure a second family in [models]",
        )
    return tuple(
        f"WARNING: only one model family ({family}) is configured: the {who} reviews the "
        f"{author}'s work on its own family, so the review is not independent; configure a "
        "second family in [models]"
        for who, author, family in alone
    )
