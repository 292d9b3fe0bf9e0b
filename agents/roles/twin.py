"""The human twin: decides on a blueprint as the owner would, and answers escalations.

Its knowledge of the owner is the owner's DNA (agents/dna.py). ``decide`` returns ACCEPT,
CHANGE or REJECT with a confidence; the engine escalates to a human when the confidence is
low or a redline is touched. On a model whose window the blueprint is over, it is shown cut
as the reviewers are (:mod:`agents.blueprint_view`). ``answer`` picks one of an
escalation's options when the run's escalation policy lets the twin decide; a choice outside
the options is re-asked.

A question the owner already ruled on (a decision recorded in the DNA, see
agents/dna_proposals.py) is answered from that ruling, deterministically and with high
confidence, without asking the model: the owner has decided it, so nobody is asked again.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agents.blueprint_view import blueprint_prompt
from agents.dna import OwnerDNA
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.provider import Provider
from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, answer_once, bounded, choice_schema
from agents.templates import render_prompt
from engine.blueprint import Blueprint
from engine.protocols import EmitFn
from engine.roles import TwinVerdict

SYSTEM = "You decide exactly as the owner described in the DNA would. Reply with JSON only."
PRECEDENT_CONFIDENCE = 0.97
_VERDICTS = {"accept": "ACCEPT", "approve": "ACCEPT", "change": "CHANGE", "revise": "CHANGE"}


def check_verdict(verdict: TwinVerdict) -> None:
    """A CHANGE names the change: the planner re-plans from these notes alone, and a blank
    one would only buy the same plan again. Else ``ValueError``."""
    if verdict.decision == "CHANGE" and not verdict.notes.strip():
        raise ValueError("a CHANGE must say in its notes what to change; notes are empty")


class TwinChoice(BaseModel):
    """The twin's answer to an escalation."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    choice: str
    reason: str = ""


class TwinRole(ModelRole):
    """Implements engine.roles.Twin over any provider."""

    def __init__(
        self,
        provider: Provider,
        dna: OwnerDNA | None = None,
        *,
        max_repairs: int = 2,
        prices: PriceTable = DEFAULT_PRICES,
    ) -> None:
        super().__init__(provider, max_repairs=max_repairs, prices=prices)
        self.dna = dna or OwnerDNA()
        self._answers = 0

    async def decide(self, request: str, blueprint: Blueprint, emit: EmitFn) -> TwinVerdict:
        session = self.session(emit, agent_id="twin", role="twin")
        ruling = self.dna.precedent(request, "twin")
        if ruling is not None:
            decision = _VERDICTS.get(ruling.decision.lower(), "REJECT")
            notes = f"the owner decided this request before: {ruling.decision}" + (
                f" ({ruling.note})" if ruling.note else ""
            )
            session.say(f"twin: {decision} from a DNA precedent ({ruling.source})", kind="result")
            session.finish(True, "precedent")
            return TwinVerdict(
                decision=decision,
                confidence=PRECEDENT_CONFIDENCE,
                notes=notes,
            )
        fixed = {"dna": self.dna.render(), "request": request}
        return await answer_once(
            session,
            TwinVerdict,
            StructuredAsk(
                SYSTEM,
                "",
                {"role": "twin", "mode": "decide"},
                noun="decision",
                fit=lambda budget: blueprint_prompt(
                    "twin_decide", fixed, blueprint, request, budget
                )[0],
            ),
            summarize=lambda v: (
                f"twin: {v.decision} (confidence {v.confidence:.2f})"
                + (f"; redlines: {', '.join(v.redlines)}" if v.redlines else "")
            ),
            max_repairs=self.max_repairs,
            check=check_verdict,
        )

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        if not options:
            raise ValueError("the twin cannot answer an escalation that has no options")
        self._answers += 1
        session = self.session(emit, agent_id=f"twin:answer{self._answers}", role="twin")
        choices = list(options)
        ruling = self.dna.precedent(question)
        if ruling is not None and ruling.decision in choices:
            session.say(f"twin answers {ruling.decision!r} from a DNA precedent", kind="result")
            session.finish(True, "precedent")
            return ruling.decision
        prompt = render_prompt(
            "twin_answer",
            dna=self.dna.render(),
            question=question,
            options=", ".join(choices),
            context=bounded(context, 8000, "context") or "(none)",
        )

        def option(said: str) -> str | None:
            """The option ``said`` names, in any casing and spacing."""
            if said in choices:
                return said
            named = [c for c in choices if c.strip().casefold() == said.strip().casefold()]
            return named[0] if len(named) == 1 else None

        def check(reply: TwinChoice) -> None:
            if option(reply.choice) is None:
                raise ValueError(f"choice {reply.choice!r} is not one of {choices}")

        reply = await answer_once(
            session,
            TwinChoice,
            StructuredAsk(
                SYSTEM,
                prompt,
                {"role": "twin", "mode": "answer"},
                noun="answer",
                schema=choice_schema(choices),
            ),
            summarize=lambda r: f"twin answers {r.choice!r}: {r.reason or 'no reason given'}",
            max_repairs=self.max_repairs,
            check=check,
        )
        return option(reply.choice) or reply.choice
