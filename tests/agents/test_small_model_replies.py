"""Every structured role against a small local model's habits, through its real parsing path.

Each role's valid sim reply is mutated the ways small models behind an OpenAI-compatible
server do (tests/agents/small_model_harness.py). What is unambiguous (fences, a think block,
prose, comments, trailing commas, "85" for 85) is read as meant in one call; what is wrong
gets one re-ask that names the problem, and the sim's valid reply after it is read as meant;
a model that never gets it right ends the role with one line, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from recording_sandbox import RecordingSandbox
from role_fakes import Reply, ScriptedProvider
from small_model_harness import (
    PATCH,
    PLAN,
    ROLES,
    MutatingProvider,
    Mutation,
    _runner,
    edit,
    run_role,
    score_to,
    single_quotes,
    trailing_comma,
    valid_answer,
)

from agents.provider import ToolCall
from agents.roles.engineer import EngineerRole
from agents.structured import StructuredReplyError
from engine.dag import PlanError
from engine.protocols import EngineerJob

KEY = {
    "critic": "scores",
    "planner": "tasks",
    "reviewer": "score",
    "code_review": "score",
    "twin": "decision",
    "twin_answer": "choice",
    "task_reviewer": "approved",
    "qc": "score",
    "verifier": "broken",
    "judge": "checklist",
}
"""The field each role's answer cannot do without."""

TEXT = {
    "critic": "rationale",
    "planner": "spec",
    "reviewer": "findings",
    "code_review": "findings",
    "twin": "notes",
    "twin_answer": "choice",
    "task_reviewer": "notes",
    "qc": "notes",
    "verifier": "tried",
    "judge": "notes",
}
"""A field of each role's answer whose type a model gets wrong (a list for a string, or the
other way round)."""

SCORED = ("critic", "reviewer", "code_review", "twin", "task_reviewer", "qc", "judge")
OUT_OF_100 = ("reviewer", "code_review", "task_reviewer", "qc", "judge")


def numbers_as_strings(text: str) -> str:
    """Every number of the reply written as a string ("85" for 85), as small models do."""

    def quote(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: quote(v) for k, v in value.items()}
        if isinstance(value, list):
            return [quote(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    return json.dumps(quote(json.loads(text)))


TOLERATED: dict[str, Mutation] = {
    "fenced": lambda t: f"Here is my answer:\n```json\n{t}\n```\nHope this helps!",
    "prose with braces": lambda t: f"Sure! {t}\nAsk if you need {{more}}.",
    "think block": lambda t: f"<think>\nThe format is {{score: ...}} so {{a}}.\n</think>\n{t}",
    "think opened by the template": lambda t: f"okay, so {{x}} hmm\n</think>\n\n{t}",
    "think with a fenced object": lambda t: f'<think>```json\n{{"x": 1}}\n```</think>```{t}```',
    "trailing comma": trailing_comma,
    "comments": lambda t: t.replace("{", "{\n  // my answer\n  /* all of it */\n", 1),
    "CRLF line ends": lambda t: t.replace("\n", "\r\n"),
    "numbers as strings": numbers_as_strings,
    "two fenced copies": lambda t: f"```json\n{t}\n```\nor again:\n```json\n{t}\n```",
}

MULTI_LINE = '"id": "core",\n      "title": "Core greeting"'


def _patched(patch: object) -> Mutation:
    return edit(lambda d: d.update(patches=[patch]))


@pytest.mark.parametrize(
    "patch",
    [
        f"<<<<<<< SEARCH\n{PATCH.search}\n=======\n{PATCH.replace}\n>>>>>>> REPLACE",
        f"<<<<<<< SEARCH\r\n{PATCH.search}\r\n=======\r\n{PATCH.replace}\r\n>>>>>>> REPLACE\r\n",
    ],
    ids=["LF", "CRLF"],
)
async def test_a_patch_written_in_search_replace_markers_is_that_patch(patch: str, tmp_path: Path):
    outcome = await run_role("reviewer", _patched(patch), tmp_path, times=99)
    assert outcome.error is None, outcome.error
    assert outcome.value == await valid_answer("reviewer", tmp_path)
    assert outcome.calls == 1


async def test_a_multi_line_patch_with_crlf_line_ends_matches_the_blueprint(tmp_path: Path):
    crlf = MULTI_LINE.replace("\n", "\r\n")
    patch = {"search": crlf, "replace": crlf.replace("Core greeting", "Core greeter")}
    outcome = await run_role("reviewer", _patched(patch), tmp_path, times=99)
    assert outcome.error is None, outcome.error
    assert outcome.value.patches[0].search == MULTI_LINE
    assert outcome.calls == 1


@pytest.mark.parametrize("mutation", TOLERATED, ids=str)
@pytest.mark.parametrize("role", ROLES)
async def test_an_unambiguous_habit_is_read_as_meant_without_a_re_ask(
    role: str, mutation: str, tmp_path: Path
):
    outcome = await run_role(role, TOLERATED[mutation], tmp_path, times=99)
    assert outcome.error is None, outcome.error
    assert outcome.value == await valid_answer(role, tmp_path)
    assert outcome.calls == 1


def _re_asked(role: str) -> dict[str, Mutation]:
    cases: dict[str, Mutation] = {
        "truncated mid-object": lambda t: t[: len(t) * 2 // 3],
        "empty": lambda t: "",
        "only thinking": lambda t: "<think>I should answer with JSON.</think>",
        "no JSON at all": lambda t: "I think the plan is good, ship it.",
        "single quotes": single_quotes,
        "missing field": edit(lambda d: d.pop(KEY[role])),
        "wrong type": edit(lambda d: d.update({TEXT[role]: _wrong_type(d[TEXT[role]])})),
        "another role's schema": lambda t: json.dumps(
            {"choice": "skip"} if role == "twin" else {"decision": "ACCEPT", "confidence": 0.9}
        ),
        "1 MB of repetition": lambda t: "the " * 250_000,
    }
    if role in SCORED:
        cases["score 150"] = score_to(150)
        cases["score -3"] = score_to(-3)
        cases["score as prose"] = score_to("8.5/10")
        cases["score null"] = score_to(None)
        cases["score NaN"] = score_to(float("nan"))
    if role in OUT_OF_100:
        cases["score 8.5 out of 100"] = score_to(8.5)
    if role == "critic":
        cases["critic score out of 100"] = score_to(85)
    if role == "twin":
        cases["confidence as a percentage"] = score_to(90)
    if role == "planner":
        cases.update(PLAN_GRAPHS)
    if role == "reviewer":
        cases.update(PATCHES)
    return cases


def _task(index: int, **fields: object) -> Mutation:
    return edit(lambda d: d["tasks"][index].update(fields))


PLAN_GRAPHS: dict[str, Mutation] = {
    "duplicate task ids": _task(1, id="core"),
    "a task depending on itself": _task(0, depends_on=["core"]),
    "a task depending on an unknown id": _task(1, depends_on=["kore"]),
    "a cycle": _task(0, depends_on=["cli"]),
    "an accented id": _task(0, id="cœur"),
    "an emoji id": _task(1, id="cli🚀"),
    "depends_on as a string": _task(1, depends_on="core"),
    "a misnamed depends_on": edit(
        lambda d: d["tasks"][1].update(dependencies=d["tasks"][1].pop("depends_on"))
    ),
    "a path outside the repo": _task(0, files=["/etc/passwd"]),
}
"""Blueprints a small model gets wrong: each is re-asked, never built as a guess."""

PATCHES: dict[str, Mutation] = {
    "a patch matching twice": edit(
        lambda d: d.update(patches=[{"search": '"removes": []', "replace": '"removes": ["x"]'}])
    ),
    "a patch in markers without the REPLACE marker": edit(
        lambda d: d.update(patches=['<<<<<<< SEARCH\n"test_plan": "unit"\n=======\n"x"'])
    ),
    "a patch as a pair": edit(lambda d: d.update(patches=[[PATCH.search, PATCH.replace]])),
}


def _wrong_type(value: object) -> object:
    return [value] if isinstance(value, str) else "; ".join(map(str, value))  # type: ignore[call-overload]


RE_ASKED = [(role, name) for role in ROLES for name in _re_asked(role)]


@pytest.mark.parametrize(("role", "mutation"), RE_ASKED, ids=str)
async def test_a_wrong_reply_is_re_asked_naming_the_problem_then_read_as_meant(
    role: str, mutation: str, tmp_path: Path
):
    outcome = await run_role(role, _re_asked(role)[mutation], tmp_path)
    assert outcome.error is None, outcome.error
    assert outcome.value == await valid_answer(role, tmp_path)
    assert outcome.calls == 2


@pytest.mark.parametrize(("role", "mutation"), RE_ASKED, ids=str)
async def test_a_model_that_never_gets_it_right_ends_the_role_in_one_line(
    role: str, mutation: str, tmp_path: Path
):
    outcome = await run_role(role, _re_asked(role)[mutation], tmp_path, times=99)
    error = outcome.error
    assert isinstance(error, PlanError if role == "planner" else StructuredReplyError)
    assert "after 3 tries: " in str(error) and "\n" not in str(error)
    assert "Traceback" not in str(error)
    assert outcome.calls == 3
    assert outcome.finished_ok is False


async def test_the_re_ask_says_an_empty_reply_is_empty():
    outcome = await run_role("qc", lambda t: "", Path("."), times=99)
    assert str(outcome.error).endswith("the reply is empty; it must be a JSON object")


async def test_a_thinking_model_cut_at_the_limit_before_answering_is_told_so(tmp_path: Path):
    outcome = await run_role("qc", lambda t: "<think>Let me weigh", tmp_path, times=99, cut=True)
    assert "cut at the output limit" in str(outcome.error)


async def test_a_1_mb_reply_is_not_quoted_back_whole_in_the_re_ask(tmp_path: Path):
    provider = MutatingProvider(lambda t: "the " * 250_000, times=99)
    with pytest.raises(StructuredReplyError):
        await _runner("qc", provider, tmp_path)(lambda event: None)
    last = provider.requests[-1]
    assert sum(len(m.content) for m in last.messages) < 40_000


@pytest.mark.parametrize("role", OUT_OF_100)
async def test_a_score_out_of_10_where_100_is_asked_is_questioned_once(role: str, tmp_path: Path):
    outcome = await run_role(role, score_to(9), tmp_path)
    assert outcome.error is None, outcome.error
    assert outcome.value == await valid_answer(role, tmp_path)
    assert outcome.calls == 2


@pytest.mark.parametrize("role", OUT_OF_100)
async def test_a_low_score_said_twice_stands(role: str, tmp_path: Path):
    outcome = await run_role(role, score_to(9), tmp_path, times=99)
    assert outcome.error is None, outcome.error
    assert outcome.value.score == 9
    assert outcome.calls == 2


BAD_TOOL_CALLS = [
    ("write_file", {"path": ["greet/core.py"], "content": "x"}),
    ("write_file", {"path": "greet/core.py", "content": ["x"]}),
    ("write_file", {}),
    ("read_file", {"path": None}),
    ("read_file", {"path": "🚀.py"}),
    ("edit_file", {"path": "greet/core.py", "search": ["x"], "replace": "y"}),
    ("run_tests", {"args": "tests -x"}),
    ("Write_File", {"path": "greet/core.py", "content": "x"}),
    ("write_file", {"path": "greet/core.py", "content": "x" * 1_100_000}),
    ("write_file", {"path": "a\x00.py", "content": "x"}),
]


@pytest.mark.parametrize(("tool", "args"), BAD_TOOL_CALLS, ids=lambda v: str(v)[:30])
async def test_an_engineer_tool_call_with_wrong_arguments_is_answered_with_an_error(
    tool: str, args: dict[str, Any], tmp_path: Path
):
    bad = Reply(calls=(ToolCall(id="c1", name=tool, arguments=args),))
    done = Reply(calls=(ToolCall(id="c2", name="finish", arguments={"summary": "done"}),))
    provider = ScriptedProvider([bad, done])
    job = EngineerJob("run-1", PLAN.tasks[0], PLAN, tmp_path, attempt=1, max_attempts=3)
    engineer = EngineerRole(provider, RecordingSandbox(), python="py", context_budget=0)
    report = await engineer.work(job, lambda event: None)
    answer = provider.requests[1].messages[-1]
    assert answer.role == "tool" and answer.is_error
    assert "\n" not in answer.content and "Traceback" not in answer.content
    assert report.finished and not (tmp_path / "greet" / "core.py").exists()
