"""A conversation shortened to a budget: the task and the latest turn stay, older tool
results and written files are cut oldest first, every tool call keeps its answer."""

from __future__ import annotations

from agents.compaction import KEEP_CHARS, compact, request_tokens
from agents.provider import CompletionRequest, Message, ToolCall

BIG = "x" * 8000


def loop(turns: int) -> CompletionRequest:
    """A task, then ``turns`` turns each writing a big file and reading a big test run."""
    messages = [Message("user", "Your task: " + "spec " * 400)]
    for n in range(turns):
        calls = (
            ToolCall(f"w{n}", "write_file", {"path": f"m{n}.py", "content": BIG}),
            ToolCall(f"t{n}", "run_tests", {"args": []}),
        )
        messages += [
            Message("assistant", f"turn {n}", calls),
            Message("tool", f"wrote m{n}.py", tool_call_id=f"w{n}"),
            Message("tool", f"run {n} " + BIG + f" [exit code {n}]", tool_call_id=f"t{n}"),
        ]
    return CompletionRequest(system="You are an engineer.", messages=tuple(messages))


def test_within_the_budget_nothing_is_cut():
    request = loop(3)
    done = compact(request, request_tokens(request))
    assert done.cut == 0 and done.request == request


def test_older_turns_are_cut_oldest_first_and_the_task_and_latest_turn_stay_whole():
    request = loop(4)
    whole = request_tokens(request)
    done = compact(request, whole - 3000)  # about one turn's file and run too many
    assert done.tokens <= whole - 3000
    before, after = request.messages, done.request.messages
    assert after[0] == before[0] and after[-3:] == before[-3:]
    assert len(after[1].tool_calls[0].arguments["content"]) < KEEP_CHARS + 200
    assert len(after[3].content) < KEEP_CHARS + 200 and "characters elided" in after[3].content
    assert after[3].content.endswith("[exit code 0]")  # the tail stays: how the run ended
    assert after[7:] == before[7:]  # the later older turns were not needed
    # Every tool call keeps its answer, in order.
    assert [m.tool_call_id for m in after if m.role == "tool"] == [
        m.tool_call_id for m in before if m.role == "tool"
    ]


def test_the_latest_results_are_cut_last_and_a_floor_is_reported():
    request = loop(2)
    done = compact(request, 10)  # cannot be reached: the task alone is more
    assert done.tokens > 10
    assert done.request.messages[0] == request.messages[0]
    assert "characters elided" in done.request.messages[-1].content
    assert done.request.messages[-1].content.endswith("[exit code 1]")
