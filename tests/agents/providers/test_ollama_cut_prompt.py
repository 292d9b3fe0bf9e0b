"""A prompt Ollama cut without a word is an overflow, not an answer.

Ollama's OpenAI-compatible endpoint keeps the end of a prompt over its window and answers
from that (ollama#4967, #17427): the system prompt and the task are what it drops. Its usage
is the only trace — it counts what it kept. The answer to such a prompt is set aside, the
count taken as the window, the conversation compacted and asked again; a conversation that
cannot be made that small fails in one line naming the server setting to raise. A cut that
dropped the user turn, which Ollama's chat templates answer with HTTP 500 "no user query found
in messages" (ollama#18107), is an overflow like a refusal, not a server fault to retry.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from ollama_loopback import MISSED_IT, SAW_IT, OllamaLike
from provider_loopback import LoopbackServer

from agents.provider import CompletionRequest, Message, ToolCall, paid_calls
from agents.providers.context_overflow import ContextOverflow, user_turn_cut
from agents.providers.limits import Limits
from agents.registry import ProviderOptions, close_provider, make_provider

MARKER = "RULES-7734"
SYSTEM = f"You are the engineer ({MARKER})." + " Write the test first, then the code." * 40
"""A system prompt whose start, the marker, is what a cut from the front loses."""


def conversation(output_chars: int = 30_000) -> CompletionRequest:
    """An engineer's tool loop two test runs in: each run's output is long."""
    run = ToolCall("c1", "run_tests", {})
    again = ToolCall("c2", "run_tests", {})
    return CompletionRequest(
        system=SYSTEM,
        messages=(
            Message("user", "Your task: add shout() to core.py, with a test."),
            Message("assistant", "", (run,)),
            Message(
                "tool",
                "F" + "E   AssertionError: a failing line\n" * (output_chars // 36),
                tool_call_id="c1",
            ),
            Message("assistant", "", (again,)),
            Message(
                "tool",
                "." + "passed a test line of the output\n" * (output_chars // 34),
                tool_call_id="c2",
            ),
        ),
    )


def options(limits: dict[str, Limits] | None = None) -> ProviderOptions:
    return replace(ProviderOptions(env={}), limits=limits or {})


async def test_an_answer_to_a_cut_prompt_is_set_aside_and_the_task_asked_again_whole(
    notices: list[str],
):
    ollama = OllamaLike(num_ctx=8192, marker=MARKER)
    with LoopbackServer(respond=ollama) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=options())
        try:
            first = await provider.complete(conversation())
            later = await provider.complete(conversation())
        finally:
            await close_provider(provider)
    # The first request was cut to 4098 tokens and its answer made without the task; the
    # second, compacted, was read whole and answered from it.
    assert ollama.prompts[0] > 8192 and ollama.kept[0] == 8192 // 2 + 2
    assert ollama.kept[1] == ollama.prompts[1] <= 8192
    assert first.text == SAW_IT
    # The set-aside answer still counts as a call made (its tokens were spent).
    [cut, asked] = paid_calls(first)
    assert cut.text == MISSED_IT and cut.usage.input_tokens == 4098 and asked.text == SAW_IT
    [said] = notices
    assert "\n" not in said and said.startswith(f"{spec}: the server counted 4098 prompt tokens")
    assert "the system prompt and the task are cut first" in said
    assert "its answer is set aside, asking again with" in said
    assert "OLLAMA_CONTEXT_LENGTH" in said and "PARAMETER num_ctx" in said
    assert f'context_tokens in [providers.limits."{spec}"]' in said
    # What the cut taught holds: the model's next call is compacted before it is sent.
    assert later.text == SAW_IT and len(ollama.prompts) == 3
    assert ollama.kept[2] == ollama.prompts[2] <= 8192 and len(notices) == 1


async def test_a_configured_window_larger_than_the_server_runs_is_caught_too(notices: list[str]):
    """``context_tokens = 32768`` in the config, Ollama loaded with its 4096 default: before,
    a configured window turned the check off and the cut prompt's answer was the answer."""
    ollama = OllamaLike(num_ctx=4096, marker=MARKER)
    with LoopbackServer(respond=ollama) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=options({spec: Limits(context_tokens=32_768)}))
        try:
            answer = await provider.complete(conversation(output_chars=15_000))
        finally:
            await close_provider(provider)
    assert ollama.kept[0] == 2050 < ollama.prompts[0]
    assert answer.text == SAW_IT and ollama.kept[-1] == ollama.prompts[-1]
    assert len(notices) == 1 and "counted 2050 prompt tokens" in notices[0]


@pytest.mark.parametrize("halves", [True, False], ids=["ollama-0.32", "ollama-before"])
async def test_a_task_the_server_cannot_keep_fails_in_one_line_naming_the_setting(
    notices: list[str], halves: bool
):
    """The system prompt alone is over what the server keeps: nothing older to cut, so the
    attempt fails — not on an answer to half a prompt — and says what to raise."""
    ollama = OllamaLike(num_ctx=2048, marker=MARKER, halves=halves)
    rules = SYSTEM + " Keep to the house style." * 1200
    big = CompletionRequest(system=rules, messages=(Message("user", "Your task: go."),))
    with LoopbackServer(respond=ollama) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=options())
        try:
            with pytest.raises(ContextOverflow) as caught:
                await provider.complete(big)
        finally:
            await close_provider(provider)
    kept = 1026 if halves else 2048
    assert ollama.kept == [kept]  # asked once: compacting cannot shorten a system prompt
    line = str(caught.value)
    assert "\n" not in line and line.startswith(
        f"{spec}: the conversation does not fit the {kept} tokens of a prompt the server keeps: "
    )
    assert "(cut 1 time); raise the server's context window" in line
    assert "OLLAMA_CONTEXT_LENGTH" in line and "PARAMETER num_ctx" in line
    spent = caught.value.spent
    assert spent is not None and spent.text == MISSED_IT  # the answer used, accounted
    assert notices == []


async def test_a_prompt_read_whole_is_answered_once_without_a_word(notices: list[str]):
    ollama = OllamaLike(num_ctx=65_536, marker=MARKER)
    with LoopbackServer(respond=ollama) as server:
        provider = make_provider(f"openai:qwen@{server.url}/v1", options=options())
        try:
            answer = await provider.complete(conversation())
        finally:
            await close_provider(provider)
    assert answer.text == SAW_IT and ollama.kept == ollama.prompts and len(ollama.prompts) == 1
    assert answer.paid_failures == () and notices == []


async def test_a_cut_that_dropped_the_user_turn_is_compacted_and_asked_again(
    notices: list[str],
):
    """ollama#18107: the cut kept the tool results and lost the task; the server's template
    answers HTTP 500 "no user query found in messages" — not a fault to retry as it is."""
    ollama = OllamaLike(num_ctx=12_288, marker=MARKER, needs_user_turn=True)
    with LoopbackServer(respond=ollama) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=replace(options(), max_retries=0))
        try:
            answer = await provider.complete(conversation())
        finally:
            await close_provider(provider)
    assert answer.text == SAW_IT and ollama.kept[-1] == ollama.prompts[-1] <= 12_288
    assert ollama.kept[0] < ollama.prompts[0]  # the first was cut, its user turn with it
    assert ollama.prompts[-1] < ollama.prompts[0]  # compacted, not the same request again
    assert notices and all("over the model's context window; asking again" in n for n in notices)


def test_no_user_turn_is_an_overflow_only_where_the_request_had_one():
    """llama.cpp's Qwen template says the same of a request that sent no user turn at all:
    that one is a request to mend, not a window to fit."""
    said = "no user query found in messages"
    with_user = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    without = {"messages": [{"role": "system", "content": "s"}]}
    assert user_turn_cut(said, with_user) is not None
    assert user_turn_cut(said, without) is None
    assert user_turn_cut("model not found", with_user) is None
