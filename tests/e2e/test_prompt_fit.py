"""One-message roles on a small window: the prompt is cut to fit, not refused.

The planner, the critic, the task reviewer and QC each send one user message holding what
they are shown of the repository (its file list and map, a diff). On a local model with an 8k
window that message alone was over it, and :mod:`agents.compaction` cannot shorten the task
message: the role failed with the one-line overflow. Now the variable parts are cut to the
window the model is known to have — configured (``context_tokens``) or taught by the first
refusal — the request, the spec and the notes kept whole, the most relevant lines and files
kept, what was left out said by a marker. Through the loopback OpenAI-compatible server of
tests/e2e, refusing a request over its window as vLLM does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from openai_model import (
    MODEL,
    ROLES,
    LoopbackModel,
    ModelServer,
    last_user_text,
    text_message,
)
from scripted_factory import BLUEPRINT, FILES, REPAIR
from wire_run import (
    REQUEST as RUN_REQUEST,
)
from wire_run import (
    git,
    make_repo,
    new_project,
    run_id,
    shopfloor,
    write_config,
)

from agents.provider import ProviderError
from agents.providers.context_overflow import ContextOverflow
from agents.registry import ProviderOptions, close_provider, make_provider
from agents.roles.critic import CriticRole
from agents.roles.engineer import EngineerRole
from agents.roles.planner import PlannerRole
from agents.roles.qc import CodeQCRole
from agents.roles.task_reviewer import TaskReviewerRole
from engine.blueprint import Blueprint
from engine.events import AgentOutput, EventBase
from engine.protocols import EngineerJob, PlanRequest
from engine.recon import Baseline, recon_notes
from gates.sandbox import ProcessSandbox

KEY = "test-key-123"
WINDOW = 8192
ANSWER = 4096
"""The structured roles' max_tokens, which vLLM counts in the window."""
REQUEST = "Build a tiny greetings package: greet(name) and shout(name), tested with pytest."
NOTES = "The owner asked: keep shout() in its own module, greetings/shout.py."
LEFT_OUT = " lines left out"
NO_PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
"""The engineer's test runs load none of the pytest plugins installed beside shopfloor (the
project needs none; they cost most of a second a run), as the demo's settings have it."""


def big_tree() -> list[str]:
    """A repository of 640 files with long paths: its list alone is over an 8k window."""
    pages = [
        f"docs/reference/section_{n // 20:02}/a_long_page_about_topic_{n:03}.md" for n in range(640)
    ]
    return sorted([*pages, "greetings/__init__.py", "greetings/core.py"])


def options(window: int | None = None, spec: str = "") -> ProviderOptions:
    limits = {spec: {"context_tokens": window}} if window else {}
    raw = {"max_retries": 0, "retry_base_delay_s": 0.01, "limits": limits}
    return replace(ProviderOptions.from_mapping(raw), env={"OPENAI_API_KEY": KEY})


def first_user(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


def notices(events: list[EventBase]) -> list[str]:
    return [e.text for e in events if isinstance(e, AgentOutput) and e.kind == "notice"]


class Rambling(LoopbackModel):
    """A model whose planner answers first with 8,400 characters of prose and no JSON."""

    def answer(self, role: str, body: dict[str, Any]) -> dict[str, Any]:
        if role == "planner" and not last_user_text(body["messages"]).startswith(REPAIR):
            return text_message("Let me think about the plan first. " * 240)
        return super().answer(role, body)


async def plan(
    configured: bool, model: LoopbackModel | None = None
) -> tuple[LoopbackModel, Blueprint, list[EventBase]]:
    files = big_tree()
    context = recon_notes("\n".join(f"{f}: def page" for f in files), Baseline())
    with ModelServer(model or LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        provider = make_provider(spec, options=options(WINDOW if configured else None, spec))
        events: list[EventBase] = []
        try:
            request = PlanRequest(REQUEST, files, notes=NOTES, context=context)
            blueprint = await PlannerRole(provider).plan(request, events.append)
        finally:
            await close_provider(provider)
        return server.model, blueprint, events


async def test_a_planner_over_an_8k_window_learns_it_from_the_refusal_and_plans():
    model, blueprint, events = await plan(configured=False)
    assert [t.id for t in blueprint.tasks] == ["core", "shout"]
    # Refused once whole, then asked once with the repository's list and map cut to fit.
    assert len(model.prompts) == 2 and model.overflows == [model.prompts[0]]
    assert model.prompts[0] + ANSWER > WINDOW >= model.prompts[1] + ANSWER
    assert model.problems == []
    prompt = first_user(model.seen[-1].body)
    assert REQUEST in prompt and NOTES in prompt  # what the planner must see stays whole
    assert "UPDATE MODE" in prompt and "Repository map (file: symbols):" in prompt
    assert "greetings/core.py" in prompt  # the files the request is about are kept
    assert LEFT_OUT in prompt and "a_long_page_about_topic_639" not in prompt
    [said] = notices(events)
    assert "over the model's context window: asking again with it cut to about" in said


async def test_a_configured_window_fits_the_planner_before_the_first_request():
    model, blueprint, events = await plan(configured=True)
    assert len(blueprint.tasks) == 2
    assert model.overflows == [] and len(model.prompts) == 1
    assert model.prompts[0] + ANSWER <= WINDOW
    assert LEFT_OUT in first_user(model.seen[0].body) and notices(events) == []


async def test_a_repair_re_ask_cuts_the_prompt_to_leave_room_for_the_bad_reply():
    """The re-ask quotes the bad reply back: the prompt before it, the one message that
    cannot be compacted, is cut further so the three fit the window together."""
    model, blueprint, _ = await plan(configured=True, model=Rambling(context_tokens=WINDOW))
    assert len(blueprint.tasks) == 2
    assert model.overflows == [] and len(model.prompts) == 2
    assert model.prompts[1] + ANSWER <= WINDOW
    first, second = (first_user(s.body) for s in model.seen)
    assert len(second) < len(first) - 6000 and REQUEST in second and NOTES in second


def big_diff() -> str:
    """The diff of the plan's four files after a 1,500-line data file that sorts first: a
    diff cut at its head would show the reviewer none of the code."""
    table = "".join(f"+row {n},a value of some length,another value,{n * 7}\n" for n in range(1500))
    parts = [
        "diff --git a/data/aaa_table.csv b/data/aaa_table.csv\nnew file mode 100644\n"
        f"--- /dev/null\n+++ b/data/aaa_table.csv\n@@ -0,0 +1,1500 @@\n{table}"
    ]
    for files in FILES.values():
        for path, text in files.items():
            body = "".join(f"+{line}\n" for line in text.splitlines())
            parts.append(
                f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n"
                f"+++ b/{path}\n@@ -0,0 +1 @@\n{body}"
            )
    return "".join(parts)


@pytest.mark.parametrize("role", ["task_reviewer", "qc"])
async def test_a_diff_over_an_8k_window_is_cut_to_the_files_the_task_is_about(role: str):
    blueprint = Blueprint.model_validate(BLUEPRINT)
    with ModelServer(LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        provider = make_provider(spec, options=options(WINDOW, spec))
        try:
            if role == "qc":
                report = await CodeQCRole(provider).assess(blueprint, big_diff(), [].append)
                assert report.score == 91, report.notes  # every file of the plan was shown
            else:
                task = blueprint.tasks[0]
                review = await TaskReviewerRole(provider).review_task(
                    task, big_diff(), [], [].append, attempt=1
                )
                assert review.approved, review.notes  # the task's own files were shown
        finally:
            await close_provider(provider)
        model = server.model
    assert model.overflows == [] and len(model.prompts) == 1
    assert model.prompts[0] + ANSWER <= WINDOW
    prompt = first_user(model.seen[0].body)
    assert "b/data/aaa_table.csv" in prompt and LEFT_OUT in prompt and "row 1499," not in prompt


async def test_a_request_over_the_window_by_itself_still_fails_in_one_line():
    """Nothing of the request is cut: a request the window cannot hold fails as before."""
    request = "Build greet(name). " * 2400  # about 11k tokens by itself
    with ModelServer(LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        provider = make_provider(spec, options=options())
        try:
            with pytest.raises(ContextOverflow) as caught:
                await CriticRole(provider).critique(request, big_tree(), [].append)
        finally:
            await close_provider(provider)
        model = server.model
    line = str(caught.value)
    assert "\n" not in line and "does not fit the model's context window of 8192 tokens" in line
    # Refused whole; cut, it is still over the window learnt: not sent again.
    assert len(model.prompts) == 1 and model.overflows == model.prompts
    assert isinstance(caught.value, ProviderError)


def project(path: Path) -> Path:
    """The greetings project with 640 documents beside it."""
    return add_documents(make_repo(path))


def add_documents(repo: Path) -> Path:
    """640 documents committed in ``repo``, the first 40 of them notes on how to greet a
    person by name: what an engineer's context ranks high, 6000 tokens of it."""
    for number, rel in enumerate(r for r in big_tree() if r.startswith("docs/")):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        line = "How greet in greetings core greets a person by name.\n" if number < 40 else ""
        (repo / rel).write_text(f"# {rel}\n{line * 30}" + "Words about a topic.\n" * 20)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Documents")
    return repo


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "learnt"])
async def test_an_engineer_gets_a_repository_context_that_fits_an_8k_window(
    tmp_path: Path, configured: bool
):
    blueprint = Blueprint.model_validate(BLUEPRINT)
    repo = project(tmp_path / "repo")
    job = EngineerJob("run-1", blueprint.tasks[0], blueprint, repo, attempt=1, max_attempts=2)
    with ModelServer(LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        provider = make_provider(spec, options=options(WINDOW if configured else None, spec))
        sandbox = ProcessSandbox(use_bwrap=False)
        events: list[EventBase] = []
        try:
            role = EngineerRole(provider, sandbox, test_env=NO_PLUGINS)
            report = await role.work(job, events.append)
        finally:
            sandbox.close()
            await close_provider(provider)
        model = server.model
    assert report.finished, report.summary
    assert model.overflows == ([] if configured else [model.prompts[0]])
    said = notices(events)
    assert said == [] if configured else "repository context cut from 6000 to" in said[0]
    assert "Your task (core, attempt 1 of 2)" in json.dumps(model.seen[0].body)


@pytest.mark.e2e
@pytest.mark.parametrize("configured", [True, False], ids=["configured", "learnt"])
def test_a_whole_run_on_an_8k_window_ships(
    tmp_path: Path, configured: bool, share_gate_cache: Callable[[Path], None]
) -> None:
    """Every role on one model with an 8k window, the repository 643 files: before, the run
    failed at the critic (its file list over the window; configured, nothing was sent).
    Both runs build the same trees: the gates' verdicts on them (not what is tested here)
    are the session's."""
    project = new_project(tmp_path, {"OPENAI_API_KEY": KEY})
    share_gate_cache(project.home)
    add_documents(project.repo)
    with ModelServer(LoopbackModel(context_tokens=WINDOW)) as server:
        spec = f"openai:{MODEL}@{server.base_url}"
        limits = f'[providers.limits."{spec}"]\ncontext_tokens = {WINDOW}\n'
        config = write_config(tmp_path / "shopfloor.toml", spec, extra=limits if configured else "")
        argv = ["run", RUN_REQUEST, "--repo", str(project.repo), "--config", str(config)]
        run = shopfloor(*argv, "--headless", "-v", env=project.env)
        model = server.model
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert model.problems == []
    status = json.loads(shopfloor("status", "--json", run_id(run.stdout), env=project.env).stdout)
    assert (status["outcome"], status["mode"]) == ("shipped", "update")
    assert status["merged"] == ["core", "shout"] and status["simulated"] is False
    assert {s.role for s in model.seen} == set(ROLES)
    # Configured, nothing was refused; learnt, the planner's first request only.
    assert len(model.overflows) == (0 if configured else 1)
    assert all(size + ANSWER <= WINDOW for size in model.prompts if size not in model.overflows)
