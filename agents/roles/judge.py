"""The judge: a checklist out of 100 on whether the change is done.

The checklist is the blueprint's acceptance criteria plus standard items every change must
meet. The model must mark exactly those items; a reply that drops or invents one is re-asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agents.roles.common import ModelRole
from agents.roles.task_reviewer import describe_gates
from agents.structured import StructuredAsk, answer_once, checklist_schema, out_of_100
from agents.templates import render_prompt
from engine.blueprint import Blueprint
from engine.protocols import EmitFn, GateResult
from engine.roles import JudgeReport, VerifierReport

SYSTEM = "You are an impartial judge of finished software. Reply with JSON only."

STANDARD_ITEMS = (
    "Every gate passes on the merged result",
    "The verifier broke nothing it tried",
    "Tests exercise the acceptance criteria",
)


def checklist_items(blueprint: Blueprint) -> list[str]:
    """The acceptance criteria, then the standard items, without duplicates."""
    items: list[str] = []
    for item in (*blueprint.acceptance_criteria, *STANDARD_ITEMS):
        text = " ".join(item.split())
        if text and text not in items:
            items.append(text)
    return items


def _item_key(text: str) -> str:
    """An item as a model may echo it: case, spacing, the prompt's bullet and a final full
    stop do not count."""
    return " ".join(text.split()).casefold().lstrip("-*• ").rstrip(".;: ")


def match_checklist(
    checklist: Mapping[str, bool], items: Sequence[str]
) -> tuple[dict[str, bool], list[str], list[str]]:
    """The judge's marks under the items as asked, in their order, with the items left
    unmarked and the keys that name no item (or one already marked). A key matches its item
    exactly, else by :func:`_item_key` when that names one item only."""
    by_key: dict[str, list[str]] = {}
    for item in items:
        by_key.setdefault(_item_key(item), []).append(item)
    marks = {key: ok for key, ok in checklist.items() if key in items}
    unknown: list[str] = []
    for key, ok in checklist.items():
        if key in items:
            continue
        found = by_key.get(_item_key(key), [])
        if len(found) == 1 and found[0] not in marks:
            marks[found[0]] = ok
        else:
            unknown.append(key)
    missing = [item for item in items if item not in marks]
    return {item: marks[item] for item in items if item in marks}, missing, unknown


def _lines(items: Sequence[str]) -> str:
    return "\n".join(f"- {i}" for i in items) or "(nothing)"


class JudgeRole(ModelRole):
    """Implements engine.roles.Judge over any provider."""

    async def judge(
        self,
        blueprint: Blueprint,
        verifier: VerifierReport,
        gates: Sequence[GateResult],
        emit: EmitFn,
    ) -> JudgeReport:
        session = self.session(emit, agent_id="judge", role="judge")
        items = checklist_items(blueprint)
        prompt = render_prompt(
            "judge",
            spec=blueprint.spec,
            checklist=_lines(items),
            tried=_lines(verifier.tried),
            broken=_lines(verifier.broken),
            gates=describe_gates(gates),
        )

        def check(report: JudgeReport) -> None:
            _, missing, extra = match_checklist(report.checklist, items)
            if missing or extra:
                raise ValueError(
                    f"checklist must have exactly the {len(items)} items given; "
                    f"missing {missing[:2]}, unknown {extra[:2]}"
                )

        report = await answer_once(
            session,
            JudgeReport,
            StructuredAsk(
                SYSTEM, prompt, {"role": "judge"}, noun="verdict", schema=checklist_schema(items)
            ),
            summarize=lambda r: (
                f"judge {r.score}/100, {sum(r.checklist.values())}/{len(r.checklist)} items pass"
            ),
            max_repairs=self.max_repairs,
            check=out_of_100(lambda r: r.score, check),
        )
        marks, _, _ = match_checklist(report.checklist, items)
        return report.model_copy(update={"checklist": marks})
