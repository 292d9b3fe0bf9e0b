"""One conformance suite, every network provider: each runs against a loopback server that
speaks its real wire protocol (Anthropic Messages JSON + SSE, Gemini generateContent +
streamGenerateContent?alt=sse, OpenAI chat completions + SSE), built through the registry
exactly as a run builds it (retries, timeouts, keys from the environment)."""

from __future__ import annotations

import email.utils
import time
from dataclasses import replace

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import CANARY, WIRES

from agents.provider import CompletionRequest, Message, Provider, ProviderError, ToolCall, ToolSpec
from agents.providers.context_fit import ContextFit
from agents.providers.context_overflow import ContextOverflow
from agents.providers.limits import LimiterPool, Limits
from agents.providers.retrying import RetryingProvider, retry_notices
from agents.registry import ProviderOptions, close_provider, make_provider

READ = ToolSpec(
    "read_file",
    "Read a file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
ASK = CompletionRequest(
    system="You are terse.", messages=(Message("user", "Say hello."),), max_tokens=64
)

pytestmark = pytest.mark.parametrize("wire_name", sorted(WIRES))


async def test_a_plain_reply_comes_back_with_usage_and_stop_reason(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.text("Hello there."))
    completion = await provider.complete(ASK)
    assert completion.text == "Hello there."
    assert completion.tool_calls == ()
    assert completion.stop_reason == "end_turn"
    assert completion.model == wire.model
    # One convention everywhere: input excludes the 7 cache-read tokens.
    assert completion.usage.cache_read_tokens == 7
    assert completion.usage.input_tokens == 12
    assert completion.usage.output_tokens == 5
    sent = server.seen[-1]
    assert "You are terse." in wire.sent_text(sent.body)
    assert "Say hello." in wire.sent_text(sent.body)
    assert wire.sent_key(sent.headers) == CANARY
    assert provider.family == wire_name and not provider.simulated


async def test_a_streamed_reply_reaches_on_text_piece_by_piece(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.stream(["Hel", "lo ", "world."]))
    pieces: list[str] = []
    completion = await provider.complete(ASK, pieces.append)
    assert pieces == ["Hel", "lo ", "world."]
    assert completion.text == "Hello world."
    assert completion.stop_reason == "end_turn"
    assert completion.usage.output_tokens == 5
    assert "text/event-stream" not in (server.seen[-1].headers.get("content-type") or "")


async def test_a_tool_use_round_trip_keeps_the_call_id(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    request = CompletionRequest(
        system="Use tools.", messages=(Message("user", "What is in a.py?"),), tools=(READ,)
    )
    server.queue(wire.tool_call("call_a1", "read_file", {"path": "a.py"}))
    first = await provider.complete(request)
    assert first.stop_reason == "tool_use"
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("read_file", {"path": "a.py"})]
    call = first.tool_calls[0]
    assert call.id == "call_a1"

    server.queue(wire.text("a.py prints hi."))
    follow_up = CompletionRequest(
        system="Use tools.",
        messages=(
            *request.messages,
            Message("assistant", first.text, first.tool_calls),
            Message("tool", "print('hi')", tool_call_id=call.id),
        ),
        tools=(READ,),
    )
    second = await provider.complete(follow_up)
    assert second.text == "a.py prints hi."
    assert wire.sent_tool_result(server.seen[-1].body) == ("call_a1", "print('hi')")


async def test_429_is_retried_after_the_servers_retry_after(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.error(429, "slow down", retry_after="0.2"), wire.text("Made it."))
    completion = await provider.complete(ASK)
    assert completion.text == "Made it."
    assert len(server.seen) == 2
    assert isinstance(provider, ContextFit)
    retrying = provider.inner
    assert isinstance(retrying, RetryingProvider)
    assert retrying.delays[0] >= 0.2


OVERFLOWS = {
    "anthropic": "prompt is too long: 9000 tokens > 8192 maximum",
    "gemini": "The input token count (9000) exceeds the maximum number of tokens allowed (8192).",
    "openai": "This model's maximum context length is 8192 tokens. However, you requested 9064 "
    "tokens (9000 in the messages, 64 in the completion). Please reduce the length of the "
    "messages or completion.",
}


async def test_a_request_over_the_context_window_is_not_retried_and_says_the_sizes(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """Nothing in a one-message conversation can be shortened: one request, no retry."""
    server.queue(WIRES[wire_name].error(400, OVERFLOWS[wire_name]), WIRES[wire_name].text("no"))
    with pytest.raises(ContextOverflow) as caught:
        await provider.complete(ASK)
    assert len(server.seen) == 1
    assert caught.value.overflow.window == 8192 and caught.value.overflow.prompt == 9000
    said = "the conversation does not fit the model's context window of 8192 tokens: a prompt "
    assert said + "of 9000 tokens" in str(caught.value), caught.value


async def test_a_retry_after_beyond_the_limit_fails_at_once(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.error(429, "quota exhausted", retry_after="3600"))
    with pytest.raises(ProviderError, match=r"HTTP 429 .*3600s, over the 120s limit") as caught:
        await provider.complete(ASK)
    assert len(server.seen) == 1
    assert "\n" not in str(caught.value)


async def test_a_retry_after_given_as_an_http_date_is_honoured(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """RFC 9110 lets ``retry-after`` be a date (a proxy or gateway in front of the model):
    an hour from now is an hour's wait, over the limit, so no retry spent in vain."""
    wire = WIRES[wire_name]
    in_an_hour = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.queue(*[wire.error(429, "quota exhausted", retry_after=in_an_hour)] * 3)
    with pytest.raises(ProviderError, match=r"server asks to wait 3[56]\d\ds, over the 120s"):
        await provider.complete(ASK)
    assert len(server.seen) == 1


async def test_overload_and_5xx_are_retried_then_succeed(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(
        wire.error(wire.overload_status, "overloaded"),
        wire.error(500, "internal"),
        wire.text("Back."),
    )
    completion = await provider.complete(ASK)
    assert completion.text == "Back."
    assert len(server.seen) == 3


async def test_5xx_that_persists_is_one_line_naming_the_attempts(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(*(wire.error(500, "internal trouble") for _ in range(3)))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ASK)
    message = str(caught.value)
    assert "HTTP 500" in message and "gave up after 3 attempts" in message
    assert "\n" not in message


async def test_a_timeout_is_retried_then_reported(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    slow = wire.text("too late")
    slow.delay_s = 1.5
    server.queue(slow, wire.text("In time."))
    completion = await provider.complete(ASK)
    assert completion.text == "In time."

    server.queue(*(Reply(json_body={}, delay_s=1.5) for _ in range(3)))
    with pytest.raises(ProviderError, match=r"timed out \(gave up after 3 attempts"):
        await provider.complete(ASK)


@pytest.mark.parametrize(
    "bad",
    [
        Reply(raw=b"{not json", headers={"content-type": "application/json"}),
        Reply(json_body={"unexpected": True}),
    ],
)
async def test_a_malformed_body_is_a_clear_error_not_retried(
    wire_name: str, server: LoopbackServer, provider: Provider, bad: Reply
):
    server.queue(bad)
    with pytest.raises(ProviderError, match="malformed response") as caught:
        await provider.complete(ASK)
    assert "\n" not in str(caught.value)
    assert len(server.seen) == 1


async def test_a_malformed_stream_is_a_clear_error(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    server.queue(Reply(sse=["event: message_start\ndata: {garbage\n\n"]))
    with pytest.raises(ProviderError, match=r"malformed|bad stream|parse") as caught:
        await provider.complete(ASK, lambda _t: None)
    assert "\n" not in str(caught.value)


async def test_the_key_never_appears_in_an_error_even_when_the_server_echoes_it(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.error(401, f"invalid api key {CANARY}"))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ASK)
    message = str(caught.value)
    assert "HTTP 401" in message and CANARY not in message and "***" in message
    assert CANARY not in provider.spec and CANARY not in repr(caught.value)
    assert len(server.seen) == 1  # 401 is not worth a retry


async def test_assistant_turns_with_calls_and_errors_go_back_in_the_wire_format(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    wire = WIRES[wire_name]
    server.queue(wire.text("ok"))
    calls = (ToolCall("call_b2", "read_file", {"path": "missing.py"}),)
    request = CompletionRequest(
        system="s",
        messages=(
            Message("user", "go"),
            Message("assistant", "", calls),
            Message("tool", "no such file: missing.py", tool_call_id="call_b2", is_error=True),
            Message("user", "try again"),
        ),
        tools=(READ,),
    )
    assert (await provider.complete(request)).text == "ok"
    body = server.seen[-1].body
    assert "try again" in wire.sent_text(body)
    if wire_name != "gemini":  # gemini replays an unknown call by name; ids are optional there
        call_id, content = wire.sent_tool_result(body)
        assert call_id == "call_b2" and "no such file" in str(content)


async def test_a_request_refused_as_too_long_gives_its_tokens_back_to_the_minute(
    wire_name: str, server: LoopbackServer
):
    """A refused request took the whole minute's tokens; they come back, so the next request
    waits for nothing (before: about 4 s, for tokens the refused one never used)."""
    wire = WIRES[wire_name]
    spec = wire.spec(server.url)
    options = ProviderOptions(
        limits={spec: Limits(tokens_per_minute=60_000)}, env=wire.env(server.url)
    )
    pool = LimiterPool()
    provider = make_provider(spec, options=options, limiters=pool)
    huge = CompletionRequest(system="", messages=(Message("user", "x" * 240_000),), max_tokens=64)
    # short enough that the scripted reply's usage (a few prompt tokens) is not read as a
    # prompt the server cut; still a second's wait at 60,000 a minute if nothing came back
    fits = CompletionRequest(system="", messages=(Message("user", "y" * 4_000),), max_tokens=64)
    server.queue(wire.error(400, OVERFLOWS[wire_name]), wire.text("Read it."))
    try:
        with pytest.raises(ContextOverflow):
            await provider.complete(huge)
        assert (await provider.complete(fits)).text == "Read it."
    finally:
        await close_provider(provider)
    assert len(server.seen) == 2
    assert pool.get(spec, Limits()).waited_s == 0


ANSWER_TOO_LARGE = {
    "anthropic": "input length and `max_tokens` exceed context limit: 100 + 4096 > 4096, "
    "decrease input length or `max_tokens` and try again",
    "openai": "'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's "
    "maximum context length is 4096 tokens and your request has 100 input tokens "
    "(4096 > 4096 - 100).",
}


async def test_an_answer_too_large_for_the_window_is_asked_again_smaller(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """vLLM refuses a max_tokens the prompt leaves no room for (Gemini's answer has a limit
    of its own): asked again with the answer a quarter of the window, and said so."""
    if wire_name not in ANSWER_TOO_LARGE:
        pytest.skip("Gemini limits the answer apart from the window")
    wire = WIRES[wire_name]
    server.queue(wire.error(400, ANSWER_TOO_LARGE[wire_name]), wire.text("Short."))
    said: list[str] = []
    with retry_notices(said.append):
        completion = await provider.complete(replace(ASK, max_tokens=4096))
    assert completion.text == "Short."
    assert [s.body["max_tokens"] for s in server.seen] == [4096, 1024]
    [line] = said
    told = "is over the model's context window of 4096 tokens; asking again with the answer "
    assert told + "limited to 1024 tokens (about " in line, line


async def test_a_connection_reset_mid_stream_is_retried_and_the_cut_text_said(
    wire_name: str, server: LoopbackServer, provider: Provider, notices: list[str]
):
    """A proxy or a restarting server resets the connection half-way through the stream.
    Anthropic's SDK lets httpx's ReadError through while it iterates the events: it left
    the provider as a bare ``ReadError`` (no retry, no provider named, the task failed)."""
    wire = WIRES[wire_name]
    cut = wire.stream(["Half", " a", " reply."])
    assert cut.sse is not None
    first_text = next(n for n, chunk in enumerate(cut.sse) if "Half" in chunk)
    server.queue(replace(cut, sse=cut.sse[: first_text + 1], reset=True), wire.stream(["Whole."]))
    completion = await provider.complete(ASK, lambda _t: None)
    assert completion.text == "Whole." and len(server.seen) == 2
    [told] = notices
    assert told.startswith(f"{provider.spec}: connection failed") and "cut off" in told, told
