"""The verifier: an adversary that tries to break the merged result.

It works in a throwaway worktree of the merged tree with the engineer's toolbelt (read, list,
write probe tests, run tests through the sandbox), then reports what it tried and what it
broke as a validated :class:`~engine.roles.VerifierReport`. Its tool loop is bounded in turns;
its final reply goes through the same repair re-ask as every structured role.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.project_tests import ProjectTests
from agents.provider import CompletionRequest, Message, Provider, ProviderError
from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, StructuredReplyError, ask_structured
from agents.templates import render_prompt
from agents.tool_specs import CUT_NOTICE, TOOL_SPECS, answers_to_a_cut_reply, describe_call
from agents.toolbelt import Toolbelt
from engine.blueprint import Blueprint
from engine.protocols import EmitFn, Sandbox
from engine.roles import VerifierReport

SYSTEM = (
    "You are an adversarial tester. Use the tools to probe the code and try to break it; "
    "then reply with the JSON report only."
)
VERIFIER_TOOLS = tuple(t for t in TOOL_SPECS if t.name != "finish")


def check_report(report: VerifierReport) -> None:
    """The report says what was broken, if only ``[]``: a reply without ``broken`` (another
    role's JSON, a misspelt key, an object from the model's thinking) would otherwise read as
    "broke nothing" and let the judge pass what the verifier broke. Else ``ValueError``."""
    if "broken" not in report.model_fields_set:
        raise ValueError('the report must list what you broke under "broken" ([] if nothing)')


class VerifierRole(ModelRole):
    """Implements engine.roles.Verifier over any tool-calling provider."""

    def __init__(
        self,
        provider: Provider,
        sandbox: Sandbox,
        *,
        max_turns: int = 12,
        max_repairs: int = 2,
        python: str = sys.executable,
        test_env: Mapping[str, str] | None = None,
        tests: ProjectTests | None = None,
        prices: PriceTable = DEFAULT_PRICES,
    ) -> None:
        super().__init__(provider, max_repairs=max_repairs, prices=prices)
        self.tests = tests or ProjectTests()
        self.sandbox = sandbox
        self.max_turns = max_turns
        self.python = python
        self.test_env = dict(test_env or {})

    async def attack(self, blueprint: Blueprint, workspace: Path, emit: EmitFn) -> VerifierReport:
        session = self.session(emit, agent_id="verifier", role="verifier")
        tools = Toolbelt(
            workspace,
            self.sandbox,
            python=self.python,
            test_env=self.test_env,
            tests=self.tests,
        )
        prompt = render_prompt(
            "verifier",
            spec=blueprint.spec,
            criteria="\n".join(f"- {c}" for c in blueprint.acceptance_criteria) or "(none)",
        )
        messages: list[Message] = [Message("user", prompt)]
        labels = {"role": "verifier"}
        final: str | None = None  # the reply that ended the loop, if one did
        try:
            for _ in range(self.max_turns):
                completion = await session.complete(
                    CompletionRequest(
                        system=SYSTEM, messages=tuple(messages), tools=VERIFIER_TOOLS, labels=labels
                    )
                )
                cut = completion.stop_reason == "max_tokens"
                if not completion.tool_calls and not cut:
                    final = completion.text
                    break
                session.say(completion.text)
                messages.append(Message("assistant", completion.text, completion.tool_calls))
                if cut:
                    session.say(CUT_NOTICE, kind="error")
                    messages += answers_to_a_cut_reply(completion.tool_calls)
                    continue
                for call in completion.tool_calls:
                    session.say(describe_call(call), kind="tool")
                    result = await tools.execute(call)
                    session.say(result.text, kind="error" if result.is_error else "result")
                    messages.append(
                        Message("tool", result.text, tool_call_id=call.id, is_error=result.is_error)
                    )
            else:
                messages.append(
                    Message("user", "You are out of turns. Stop probing and report now.")
                )
            report = await ask_structured(
                session,
                VerifierReport,
                StructuredAsk(SYSTEM, "", labels, noun="verifier report", history=messages),
                max_repairs=self.max_repairs,
                check=check_report,
                reply=final,
            )
        except (ProviderError, StructuredReplyError) as exc:
            session.finish(False, str(exc))
            raise
        summary = f"verifier tried {len(report.tried)} thing(s), broke {len(report.broken)}"
        for item in report.tried:
            session.say(f"tried: {item}", kind="result")
        for item in report.broken:
            session.say(f"BROKE: {item}", kind="error")
        session.finish(True, summary)
        return report
