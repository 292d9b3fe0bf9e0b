"""A blueprint reviewer: one member of the cross-model review panel.

It scores a blueprint revision 0-100, lists findings, and proposes SEARCH/REPLACE patches on
the blueprint's JSON text (indent 2). A patch whose search text is not found exactly once in
that text is refused and re-asked, so the engine only ever receives patches that apply. On a
model whose window the blueprint is over, it is shown cut (:mod:`agents.blueprint_view`), and
a patch of text it was not shown is refused the same way.

In audit mode the same reviewer reads the code itself (``review_code``, engine.audit's
CodeReviewer): it scores the repository and names each finding as ``path:line: message``.
"""

from __future__ import annotations

from agents.blueprint_view import BlueprintView, blueprint_prompt, whole_view
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.prompt_fit import Part, fit_prompt, source_blocks
from agents.provider import Provider
from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, answer_once, out_of_100
from engine.blueprint import Blueprint
from engine.protocols import EmitFn
from engine.roles import ReviewReport
from engine.stages import apply_patches

SYSTEM = "You are an exacting reviewer of software plans. Reply with JSON only."
CODE_SYSTEM = "You are an exacting auditor of source code. Reply with JSON only."


def blueprint_text(blueprint: Blueprint) -> str:
    """The text patches apply to: the blueprint's JSON with indent 2."""
    return blueprint.model_dump_json(indent=2)


def check_patches(
    report: ReviewReport,
    text: str,
    blueprint: Blueprint | None = None,
    shown: BlueprintView | None = None,
) -> None:
    """Every patch's search text occurs exactly once in ``text`` and, given the blueprint,
    the patches leave a valid, buildable one (no cycle, no unknown task); else
    ``ValueError``. A score given for a patched plan must not count for a plan the engine
    would refuse to patch. Given what the reviewer was ``shown`` of a blueprint cut to its
    window, a search text must lie in what it was shown: a patch of text it never saw is
    refused too."""
    cut = shown is not None and not shown.whole
    for number, patch in enumerate(report.patches, start=1):
        count = text.count(patch.search) if patch.search else 0
        if count != 1:
            hidden = " (parts of it were left out of what you were shown)" if cut else ""
            raise ValueError(
                f"patch {number}: search text found {count} times in the blueprint JSON"
                f"{hidden}; it must be copied exactly and occur once"
            )
        if shown is not None and shown.unseen(patch.search):
            raise ValueError(
                f"patch {number}: search text is in a part of the blueprint left out of what "
                "you were shown; patch only text you were shown, copied exactly"
            )
    if blueprint is not None and report.patches:
        refused = apply_patches(blueprint, report.patches).refused
        if refused:
            raise ValueError(f"{refused[0]}; the patched blueprint must stay buildable")


class ReviewerRole(ModelRole):
    """Implements engine.roles.Reviewer over any provider."""

    def __init__(
        self,
        provider: Provider,
        reviewer_id: str,
        *,
        max_repairs: int = 2,
        prices: PriceTable = DEFAULT_PRICES,
    ) -> None:
        super().__init__(provider, max_repairs=max_repairs, prices=prices)
        self._reviewer_id = reviewer_id

    @property
    def reviewer_id(self) -> str:
        return self._reviewer_id

    @property
    def family(self) -> str:
        return self.provider.family

    async def review(
        self, request: str, blueprint: Blueprint, round: int, emit: EmitFn
    ) -> ReviewReport:
        session = self.session(emit, agent_id=f"{self.reviewer_id}:r{round}", role="reviewer")
        text = blueprint_text(blueprint)
        fixed = {"reviewer_id": self.reviewer_id, "round": str(round), "request": request}
        shown = [whole_view(text)]  # what the last prompt sent showed: its reply's patches

        def fit(budget: int | None) -> str:
            prompt, shown[0] = blueprint_prompt("reviewer", fixed, blueprint, request, budget)
            return prompt

        labels = {"role": "reviewer", "reviewer": self.reviewer_id, "round": str(round)}
        return await answer_once(
            session,
            ReviewReport,
            StructuredAsk(SYSTEM, "", labels, noun="review", fit=fit),
            summarize=lambda r: (
                f"{self.reviewer_id} round {round}: {r.score}/100, "
                f"{len(r.findings)} finding(s), {len(r.patches)} patch(es)"
            ),
            max_repairs=self.max_repairs,
            check=out_of_100(
                lambda r: r.score, lambda r: check_patches(r, text, blueprint, shown[0])
            ),
        )

    async def review_code(
        self, request: str, repo_map: str, sources: str, emit: EmitFn
    ) -> ReviewReport:
        """Score a repository's code; findings read ``path:line: message``."""
        session = self.session(emit, agent_id=f"{self.reviewer_id}:code", role="reviewer")
        fixed = {"reviewer_id": self.reviewer_id, "request": request}
        parts = {
            "repo_map": Part(repo_map, request, cap=12_000),
            "sources": Part(sources, request, source_blocks(), "(no Python sources)"),
        }
        labels = {"role": "reviewer", "reviewer": self.reviewer_id, "mode": "code"}
        return await answer_once(
            session,
            ReviewReport,
            StructuredAsk(
                CODE_SYSTEM,
                "",
                labels,
                noun="code review",
                fit=lambda budget: fit_prompt("reviewer_code", fixed, parts, budget),
            ),
            summarize=lambda r: (
                f"{self.reviewer_id} code review: {r.score}/100, {len(r.findings)} finding(s)"
            ),
            max_repairs=self.max_repairs,
            check=out_of_100(lambda r: r.score),
        )
