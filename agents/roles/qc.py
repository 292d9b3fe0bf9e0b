"""Code QC: scores the whole merged change 0-100 against the blueprint's spec."""

from __future__ import annotations

from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, answer_once, bounded, out_of_100
from agents.templates import render_prompt
from engine.blueprint import Blueprint
from engine.protocols import EmitFn
from engine.roles import QCReport

SYSTEM = "You are a principal engineer judging code quality. Reply with JSON only."
MAX_DIFF_CHARS = 120_000


class CodeQCRole(ModelRole):
    """Implements engine.roles.CodeQC over any provider."""

    async def assess(self, blueprint: Blueprint, diff: str, emit: EmitFn) -> QCReport:
        session = self.session(emit, agent_id="qc", role="qc")
        prompt = render_prompt(
            "qc",
            spec=blueprint.spec,
            criteria="\n".join(f"- {c}" for c in blueprint.acceptance_criteria) or "(none)",
            diff=bounded(diff, MAX_DIFF_CHARS, "diff") or "(empty diff)",
        )
        return await answer_once(
            session,
            QCReport,
            StructuredAsk(SYSTEM, prompt, {"role": "qc"}, noun="QC report"),
            summarize=lambda r: f"code QC {r.score}/100" + (f" - {r.notes}" if r.notes else ""),
            max_repairs=self.max_repairs,
            check=out_of_100(lambda r: r.score),
        )
