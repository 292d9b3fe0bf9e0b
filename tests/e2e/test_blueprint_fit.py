"""The review panel and the twin on a small window: the blueprint is cut to fit, not refused.

A reviewer and the twin are sent the whole blueprint. A plan of forty tasks with a long spec
is over an 8k window by itself: the role failed in one line (configured, nothing was sent).
Now what may be cut (the spec, descriptions, test plans, file lists) is cut to the window;
the acceptance criteria and every task's id, title and depends_on are always shown. A
reviewer's patch must lie in what it was shown: one of a line left out is refused and asked
again, as a search text not found is, and a reviewer that insists fails in one line (a
missing vote to the panel) — the engine never applies a patch to text nobody reviewed.
Through the loopback OpenAI-compatible server of tests/e2e, refusing a request over its
window as vLLM does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from openai_model import MODEL, LoopbackModel, ModelServer, last_user_text, text_message
from scripted_factory import REPAIR

from agents.providers.context_overflow import ContextOverflow
from agents.registry import ProviderOptions, close_provider, make_provider
from agents.roles.reviewer import ReviewerRole, blueprint_text
from agents.roles.twin import TwinRole
from agents.structured import StructuredReplyError
from engine.blueprint import Blueprint
from engine.events import EventBase
from engine.roles import ReviewReport, TwinVerdict
from engine.stages import apply_patches

KEY = "test-key-123"
WINDOW = 8192
ANSWER = 4096
REQUEST = "Build the forty report modules of the ledger, each tested with pytest."
CRITERION = "every report module has a test"
HIDDEN = "tests/test_report_39.py checks report 39"
"""The last task's test plan: not shown on an 8k window (the request ranks it low)."""


def big_blueprint() -> Blueprint:
    """Forty tasks and a 6,000-character spec: about 38k characters of JSON, over the 8k
    window's prompt room (about 12k characters) by itself."""
    tasks = [
        {
            "id": f"report-{n:02}",
            "title": f"Report {n}",
            "description": f"ledger/report_{n}.py renders report {n}. " * 8,
            "depends_on": [f"report-{n - 1:02}"] if n else [],
            "files": [f"ledger/report_{n}.py", f"tests/test_report_{n}.py"],
            "test_plan": f"tests/test_report_{n}.py checks report {n}.",
        }
        for n in range(40)
    ]
    spec = "The ledger renders its reports one module each. " * 120
    return Blueprint.model_validate(
        {"spec": spec, "acceptance_criteria": [CRITERION, "reports render"], "tasks": tasks}
    )


def options(window: int | None, spec: str) -> ProviderOptions:
    limits = {spec: {"context_tokens": window}} if window else {}
    raw = {"max_retries": 0, "retry_base_delay_s": 0.01, "limits": limits}
    return replace(ProviderOptions.from_mapping(raw), env={"OPENAI_API_KEY": KEY})


def first_user(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


ADD = '"acceptance_criteria": [\n'
"""A patch's search text in what every reviewer is shown: it adds a criterion."""


@dataclass
class Guessing(LoopbackModel):
    """A reviewer that first patches the last task's test plan, which it was not shown (it
    guesses the line); told so, it patches a criterion in — unless ``insists``."""

    insists: bool = False

    def answer(self, role: str, body: dict[str, Any]) -> dict[str, Any]:
        if role != "reviewer":
            return super().answer(role, body)
        repaired = last_user_text(body["messages"]).startswith(REPAIR)
        if repaired and not self.insists:
            patch = {"search": ADD, "replace": ADD + '    "empty reports render",\n'}
        else:
            patch = {"search": HIDDEN, "replace": HIDDEN + " and an empty ledger"}
        reply = {"score": 80, "findings": ["no empty ledger"], "patches": [patch]}
        return text_message(json.dumps(reply))


async def review(
    model: LoopbackModel, configured: bool
) -> tuple[LoopbackModel, ReviewReport | Exception]:
    with ModelServer(model) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        window = model.context_tokens if configured else None
        provider = make_provider(spec, options=options(window, spec))
        events: list[EventBase] = []
        try:
            role = ReviewerRole(provider, "reviewer-2", max_repairs=1)
            report: ReviewReport | Exception = await role.review(
                REQUEST, big_blueprint(), 1, events.append
            )
        except (StructuredReplyError, ContextOverflow) as exc:
            report = exc
        finally:
            await close_provider(provider)
        return server.model, report


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "learnt"])
async def test_a_reviewer_on_an_8k_window_sees_the_plan_cut_and_patches_only_what_it_saw(
    configured: bool,
):
    blueprint = big_blueprint()
    assert len(blueprint_text(blueprint)) > 3 * WINDOW
    model, report = await review(Guessing(context_tokens=WINDOW), configured)
    assert isinstance(report, ReviewReport), report
    assert model.problems == []
    # Configured, nothing refused; learnt, the whole plan's first request only.
    assert model.overflows == ([] if configured else [model.prompts[0]])
    sent = [p for p in model.prompts if p not in model.overflows]
    assert len(sent) == 2 and all(p + ANSWER <= WINDOW for p in sent)
    prompt = first_user(model.seen[0].body)
    assert REQUEST in prompt and "left out" in prompt and HIDDEN not in prompt
    for task in blueprint.tasks:  # the DAG is shown whole, so are the criteria
        assert f'"id": "{task.id}",\n      "title": "{task.title}",' in prompt
        assert all(f'"{dep}"' in prompt for dep in task.depends_on)
    assert f'    "{CRITERION}",\n' in prompt
    # The guess at the hidden test plan was refused and asked again; the patch returned is
    # of text shown, and it applies to the whole plan.
    repair = last_user_text(model.seen[1].body["messages"])
    assert "search text is in a part of the blueprint left out of what you were shown" in repair
    [patch] = report.patches
    assert patch.search == ADD
    patched = apply_patches(blueprint, report.patches)
    assert patched.applied == 1 and "empty reports render" in patched.blueprint.acceptance_criteria


async def test_a_reviewer_that_keeps_patching_unseen_text_fails_in_one_line():
    """Its vote is missing from the panel (engine.planning), and nothing is applied."""
    model, failed = await review(Guessing(context_tokens=WINDOW, insists=True), True)
    assert isinstance(failed, StructuredReplyError)
    line = str(failed)
    assert "\n" not in line and line.startswith("the reviewer gave no valid review after 2 tries")
    assert "left out of what you were shown" in line
    assert model.overflows == [] and len(model.prompts) == 2


async def test_a_plan_the_window_holds_is_shown_whole_and_any_line_may_be_patched():
    model, report = await review(Guessing(context_tokens=64_000), True)
    assert isinstance(report, ReviewReport), report
    prompt = first_user(model.seen[0].body)
    assert len(model.seen) == 1 and HIDDEN in prompt and "left out" not in prompt
    assert [p.search for p in report.patches] == [HIDDEN]


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "learnt"])
async def test_the_twin_on_an_8k_window_decides_on_the_plan_cut_to_fit(configured: bool):
    blueprint = big_blueprint()
    with ModelServer(LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        provider = make_provider(spec, options=options(WINDOW if configured else None, spec))
        try:
            verdict = await TwinRole(provider).decide(REQUEST, blueprint, [].append)
        finally:
            await close_provider(provider)
        model = server.model
    assert isinstance(verdict, TwinVerdict) and verdict.decision == "ACCEPT"
    assert model.problems == []
    assert model.overflows == ([] if configured else [model.prompts[0]])
    prompt = first_user(model.seen[-1].body)
    assert model.prompts[-1] + ANSWER <= WINDOW and "left out" in prompt
    assert re.findall(r'"id": "(report-\d\d)"', prompt) == [t.id for t in blueprint.tasks]
    assert f'    "{CRITERION}",\n' in prompt and REQUEST in prompt
