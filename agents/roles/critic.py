"""The critic role: scores a request 0-10 on the five criteria before anything is planned.

Its report feeds the kill gates (minimum score, compliance risk, cannibalization), which stop
a run before the expensive stages.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.prompt_fit import Part, fit_prompt
from agents.roles.common import ModelRole
from agents.roles.planner import FILES_CAP
from agents.structured import StructuredAsk, answer_once
from engine.protocols import EmitFn
from engine.roles import CRITIC_CRITERIA, CriticReport

SYSTEM = "You are a blunt, fair product and engineering critic. Reply with JSON only."


def check_scores(report: CriticReport) -> None:
    """Every criterion scored, nothing else, each 0-10; else ``ValueError``."""
    missing = [c for c in CRITIC_CRITERIA if c not in report.scores]
    extra = sorted(set(report.scores) - set(CRITIC_CRITERIA))
    if missing or extra:
        raise ValueError(
            f"scores must have exactly {list(CRITIC_CRITERIA)}; missing {missing}, extra {extra}"
        )
    bad = {k: v for k, v in report.scores.items() if not 0 <= v <= 10}
    if bad:
        raise ValueError(f"scores must be 0-10, got {bad}")


class CriticRole(ModelRole):
    """Implements engine.roles.Critic over any provider."""

    async def critique(self, request: str, repo_files: Sequence[str], emit: EmitFn) -> CriticReport:
        session = self.session(emit, agent_id="critic", role="critic")
        files = Part("\n".join(repo_files), request, empty="(empty)", cap=FILES_CAP)
        fixed = {"request": request, "criteria": ", ".join(CRITIC_CRITERIA)}
        return await answer_once(
            session,
            CriticReport,
            StructuredAsk(
                SYSTEM,
                "",
                {"role": "critic"},
                noun="critique",
                fit=lambda budget: fit_prompt("critic", fixed, {"files": files}, budget),
            ),
            summarize=lambda r: (
                f"critic {r.total:.1f}/10 ("
                + ", ".join(f"{k} {v:g}" for k, v in r.scores.items())
                + f"); compliance risk {r.compliance_risk}"
            ),
            max_repairs=self.max_repairs,
            check=check_scores,
        )
