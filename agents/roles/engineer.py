"""The engineer role: one attempt at one task, as a tool-calling loop.

The model is given the task, the spec and (on a retry) the previous attempt's failure, and
works through the toolbelt until it calls ``finish`` or runs out of turns. Every model call,
every tool call and its result is reported on the event bus, so the TUI and the log show
exactly what the agent did. The first prompt carries the context agents/context.py selects
for the task (repo map, the files it builds on, relevant files, learnings) within a budget.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence

from agents.context import ContextPack, select_context
from agents.learnings import Lesson, common_words, rank_lessons
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.project_tests import ProjectTests
from agents.prompt_fit import message_room
from agents.provider import (
    BUILD_DIR_LABEL,
    CompletionRequest,
    Message,
    Provider,
    ProviderError,
)
from agents.providers.context_overflow import ContextOverflow
from agents.providers.fallback_chain import StreamFrom
from agents.roles.common import AgentSession
from agents.templates import render_prompt
from agents.tool_specs import (
    CUT_NOTICE,
    EMPTY_REPLY_NOTICE,
    TOOL_SPECS,
    answers_to_a_cut_reply,
    describe_call,
)
from agents.toolbelt import Toolbelt
from engine.blueprint import Task
from engine.protocols import EmitFn, EngineerJob, EngineerReport, Sandbox

SYSTEM = (
    "You are a careful senior engineer. Use the tools to change the repository. "
    "Tests first, then code. Call finish when the tests pass."
)


def task_text(task: Task) -> str:
    """The text a task is ranked against (context files, learnings)."""
    return " ".join([task.title, task.description, task.test_plan, *task.files])


def task_query(job: EngineerJob) -> str:
    """The text the job's task is ranked against."""
    return task_text(job.task)


def relevant_lessons(job: EngineerJob, lessons: Sequence[Lesson], limit: int) -> list[Lesson]:
    """The lessons relevant to the job's task; the blueprint's shared vocabulary (the
    package name, words in half its tasks) does not make a lesson relevant."""
    common = common_words([task_text(t) for t in job.blueprint.tasks])
    return rank_lessons(lessons, task_query(job), limit=limit, ignore=common)


def select_job_context(
    job: EngineerJob, budget_tokens: int, lessons: Sequence[Lesson] = ()
) -> ContextPack:
    """The context of one attempt: its worktree, ranked against its task, within the budget.

    The blueprint's named files are the task's own and the code (not the tests) of the tasks
    it depends on;
    ``job.context["learnings"]`` (a list of strings), when the engine passes it, comes first.
    """
    task = job.task
    by_id = {t.id: t for t in job.blueprint.tasks}
    named = [
        f
        for dep in task.depends_on
        if dep in by_id
        for f in by_id[dep].files
        if not f.startswith(("tests/", "test/"))
    ]
    learnings = [str(x) for x in job.context.get("learnings", ())]
    learnings += [lesson.line() for lesson in lessons]
    return select_context(
        job.workspace,
        task_query(job),
        named_files=[*task.files, *named],
        failure=job.failure_context,
        learnings=learnings,
        budget_tokens=budget_tokens,
    )


def build_prompt(job: EngineerJob, context: str = "") -> str:
    """The first user message of an attempt; ``context`` is the selected repository context."""
    task = job.task
    merged = job.context.get("merged", [])
    failure = ""
    if job.failure_context:
        fresh = "your worktree is fresh"
        if job.kept_tests:
            fresh += (
                " but for the tests the previous attempt wrote, kept in it: "
                f"{', '.join(job.kept_tests)}; fix them if they are wrong, never delete them "
                "(moving one to another test file's name keeps it)"
            )
        failure = (
            "\nThe previous attempt failed. Fix what this output shows; start from the task's "
            f"files ({fresh}):\n{job.failure_context}\n"
        )
    return render_prompt(
        "engineer",
        spec=job.blueprint.spec,
        task_id=task.id,
        attempt=str(job.attempt),
        max_attempts=str(job.max_attempts),
        title=task.title,
        description=task.description,
        files=", ".join(task.files) or "(not specified)",
        removes=f"\nFiles or folders to delete (the request asks for it): {', '.join(task.removes)}"
        if task.removes
        else "",
        test_plan=task.test_plan or "(not specified)",
        merged=", ".join(str(m) for m in merged) or "(none)",
        failure=failure,
        context=f"\nWhat you need from the repository (selected for this task):\n{context}\n"
        if context
        else "",
    )


class EngineerRole:
    """Implements engine.protocols.Engineer over any tool-calling provider."""

    def __init__(
        self,
        provider: Provider,
        sandbox: Sandbox,
        *,
        max_turns: int = 30,
        python: str = sys.executable,
        test_env: Mapping[str, str] | None = None,
        tests: ProjectTests | None = None,
        context_budget: int = 6000,
        prices: PriceTable = DEFAULT_PRICES,
        lessons: Sequence[Lesson] = (),
        lesson_limit: int = 5,
    ) -> None:
        self.provider = provider
        self.lessons: Sequence[Lesson] = lessons
        """Learnings of earlier runs; each attempt uses the ones relevant to its task."""
        self.lesson_limit = lesson_limit
        self.context_budget = context_budget
        self.prices = prices
        self.test_env = dict(test_env or {})
        self.tests = tests or ProjectTests()
        self.sandbox = sandbox
        self.max_turns = max_turns
        self.python = python

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        task = job.task
        session = AgentSession(
            self.provider,
            emit,
            agent_id=f"engineer:{task.id}:a{job.attempt}",
            role="engineer",
            task_id=task.id,
            attempt=job.attempt,
            prices=self.prices,
        )
        labels = {
            "role": "engineer",
            "task": task.id,
            "attempt": str(job.attempt),
            "workspace": str(job.workspace),  # where a cli: agent runs
            **self.tests.labels(),  # whose installed dependencies a cli: agent borrows
        }
        if job.build_dir is not None:  # its CARGO_TARGET_DIR: the slot's, not the worktree's
            labels[BUILD_DIR_LABEL] = str(job.build_dir)
        shape = CompletionRequest(system=SYSTEM, messages=(), tools=TOOL_SPECS, labels=labels)
        used: Sequence[Lesson] = ()
        if self.context_budget > 0:
            used = relevant_lessons(job, self.lessons, self.lesson_limit)
            if used:
                ids = ", ".join(lesson.learning_id for lesson in used)
                session.say(f"learnings used: {ids}", kind="result")

        async def task_message(budget: int) -> Message:
            context = ""
            if budget > 0:  # it reads the whole worktree: in a thread, off the shared loop
                pack = await asyncio.to_thread(select_job_context, job, budget, used)
                context = pack.text
                session.say(
                    f"context: {pack.tokens} tokens of {pack.budget}, "
                    f"{len(pack.files)} file(s) in full" + (", repo map" if pack.repo_map else ""),
                    kind="result",
                )
            return Message("user", build_prompt(job, context))

        budget = self.context_tokens(shape)
        tools = Toolbelt(
            job.workspace,
            self.sandbox,
            python=self.python,
            test_env=self.test_env,
            tests=self.tests,
        )
        messages: list[Message] = [await task_message(budget)]
        # A coding agent (cli:) does the whole attempt in one call that may last many minutes:
        # what it does goes to the log line by line as it happens, its summary included. A
        # model's reply is said whole once it is in (streaming would say every delta). In a
        # fallback chain, the link that answers decides, not the first.
        live = StreamFrom(session.say, frozenset({"cli"}))
        last_text = ""
        answered = False  # the model ended on a reply with no tool call: its own end
        asked_on = False  # an empty reply was asked to go on (once an attempt)
        for turn in range(self.max_turns):
            if turn and job.admit is not None:
                try:  # a budget crossed meanwhile (by this attempt or another) pauses it here
                    await job.admit()
                except Exception as exc:
                    session.finish(False, str(exc))
                    raise
            try:
                completion = await session.complete(
                    CompletionRequest(
                        system=SYSTEM, messages=tuple(messages), tools=TOOL_SPECS, labels=labels
                    ),
                    live,
                )
            except ContextOverflow as exc:
                smaller = self.context_tokens(shape) if turn == 0 else budget
                if smaller >= budget:  # the window was known: the task itself is too long
                    return self._failed(session, exc, tools)
                session.say(
                    f"the task is over the model's context window: asking again with the "
                    f"repository context cut from {budget} to {smaller} tokens",
                    kind="notice",
                )
                budget, messages[0] = smaller, await task_message(smaller)
                continue
            except ProviderError as exc:
                return self._failed(session, exc, tools)
            last_text = completion.text.strip() or last_text
            if (completion.family or self.provider.family) not in live.families:
                session.say(completion.text)  # a model's reply, not streamed
            messages.append(Message("assistant", completion.text, completion.tool_calls))
            if completion.stop_reason == "max_tokens":
                session.say(CUT_NOTICE, kind="error")
                messages += answers_to_a_cut_reply(completion.tool_calls)
                continue
            if not completion.tool_calls:
                if not completion.text.strip() and not asked_on:
                    asked_on = True  # an empty reply: asked to go on once, not the attempt's end
                    session.say(EMPTY_REPLY_NOTICE, kind="error")
                    messages.append(Message("user", EMPTY_REPLY_NOTICE))
                    continue
                answered = True
                break
            for call in completion.tool_calls:
                session.say(describe_call(call), kind="tool")
                result = await tools.execute(call)
                session.say(result.text, kind="error" if result.is_error else "result")
                messages.append(
                    Message("tool", result.text, tool_call_id=call.id, is_error=result.is_error)
                )
            if tools.finished:
                session.finish(True, tools.summary)
                return EngineerReport(True, tools.summary or last_text, tuple(tools.written))
        if answered and tools.written:
            # Done in its own words ("Implemented X; the tests pass") but for the call: an
            # agent that did its work, not a failed one. The gates judge the work either way;
            # the report stays unfinished, so the next attempt hears how this one ended.
            reason = f"ended without calling finish: {last_text[:300]}"
            session.finish(True, reason)
            return EngineerReport(False, reason, tuple(tools.written))
        reason = f"stopped without calling finish: {last_text[:300]}"
        session.finish(False, reason)
        return EngineerReport(False, reason, tuple(tools.written))

    def context_tokens(self, shape: CompletionRequest) -> int:
        """An attempt's repository context budget: ``context_budget``, within half of what
        the model's known window leaves the messages of ``shape`` (the other half for the
        task's own text and the tool loop's latest turn)."""
        room = message_room(self.provider, shape)
        return self.context_budget if room is None else min(self.context_budget, room // 2)

    @staticmethod
    def _failed(session: AgentSession, exc: ProviderError, tools: Toolbelt) -> EngineerReport:
        session.say(f"model call failed: {exc}", kind="error")
        session.finish(False, str(exc))
        return EngineerReport(False, f"model call failed: {exc}", tuple(tools.written))
