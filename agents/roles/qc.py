"""Code QC: scores the whole merged change 0-100 against the blueprint's spec."""

from __future__ import annotations

from agents.prompt_fit import Part, diff_blocks, fit_prompt
from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, answer_once, out_of_100
from engine.blueprint import Blueprint
from engine.protocols import EmitFn
from engine.roles import QCReport

SYSTEM = "You are a principal engineer judging code quality. Reply with JSON only."
MAX_DIFF_CHARS = 120_000


class CodeQCRole(ModelRole):
    """Implements engine.roles.CodeQC over any provider."""

    async def assess(self, blueprint: Blueprint, diff: str, emit: EmitFn) -> QCReport:
        session = self.session(emit, agent_id="qc", role="qc")
        criteria = "\n".join(f"- {c}" for c in blueprint.acceptance_criteria) or "(none)"
        fixed = {"spec": blueprint.spec, "criteria": criteria}
        query = f"{blueprint.spec}\n{criteria}"
        part = Part(diff, query, diff_blocks(), "(empty diff)", MAX_DIFF_CHARS)
        return await answer_once(
            session,
            QCReport,
            StructuredAsk(
                SYSTEM,
                "",
                {"role": "qc"},
                noun="QC report",
                fit=lambda budget: fit_prompt("qc", fixed, {"diff": part}, budget),
            ),
            summarize=lambda r: f"code QC {r.score}/100" + (f" - {r.notes}" if r.notes else ""),
            max_repairs=self.max_repairs,
            check=out_of_100(lambda r: r.score),
        )
