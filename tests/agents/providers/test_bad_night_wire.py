"""What a night of unattended runs gets back from the APIs, per provider, at the wire: a
gateway's HTML error page, a reply without usage, a reply cut at its token limit inside a
tool call. Each provider is built through the registry as a run builds it, against the
loopback server speaking its protocol."""

from __future__ import annotations

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import WIRES

from agents.provider import (
    UNPARSED_ARGUMENTS,
    CompletionRequest,
    Message,
    Provider,
    ProviderError,
    ToolSpec,
)

WRITE = ToolSpec(
    "write_file",
    "Write a file.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
ASK = CompletionRequest(
    system="You are terse.", messages=(Message("user", "Say hello."),), max_tokens=64
)
NGINX_500 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    b"Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)

pytestmark = pytest.mark.parametrize("wire_name", sorted(WIRES))


async def test_a_gateways_html_error_page_is_named_by_its_title_in_one_line(
    wire_name: str, server: LoopbackServer, provider: Provider, notices: list[str]
):
    """A proxy in front of the model answers 502 with its HTML page. The page went whole into
    the error, each retry's notice and the task's failure: 300 characters of tags."""
    page = Reply(status=502, raw=NGINX_500, headers={"content-type": "text/html"})
    server.queue(page, page, page)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ASK)
    said = str(caught.value)
    assert said.startswith(f"{provider.spec}: HTTP 502"), said
    assert "an HTML page: 502 Bad Gateway" in said and "gave up after 3 attempts" in said
    assert all("<" not in line for line in [said, *notices]), [said, *notices]
    assert len(server.seen) == 3


async def test_a_reply_without_usage_is_the_answer_with_its_tokens_estimated(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """A gateway that strips the usage: Anthropic's reply was refused as malformed (the
    answer lost, nothing retried), Gemini's counted 0 tokens, hidden from every budget."""
    server.queue(WIRES[wire_name].text_without_usage("Hello there, from a gateway."))
    completion = await provider.complete(ASK)
    assert completion.text == "Hello there, from a gateway."
    assert completion.usage.estimated
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    assert len(server.seen) == 1


async def test_a_reply_cut_at_its_token_limit_in_a_tool_call_is_cut_not_a_call_to_run(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """The engineer answers a cut reply's calls with the cut notice instead of running them;
    Gemini's MAX_TOKENS with a function call in it was "tool_use": half a write_file ran."""
    request = CompletionRequest(
        system="Use tools.", messages=(Message("user", "Write a.py."),), tools=(WRITE,)
    )
    server.queue(WIRES[wire_name].cut_call_stream("call_1", "write_file", '{"path": "a.'))
    completion = await provider.complete(request, lambda _t: None)
    assert completion.stop_reason == "max_tokens"
    assert [c.name for c in completion.tool_calls] == ["write_file"]


async def test_tool_arguments_that_are_no_json_object_are_kept_for_the_tool_to_refuse(
    wire_name: str, server: LoopbackServer, provider: Provider
):
    """Anthropic's call whose input was not an object (a gateway's string) ran with ``{}``;
    both now keep what was sent, so the toolbelt tells the model its arguments were no JSON."""
    if wire_name == "gemini":
        pytest.skip("Gemini's API and SDK carry a function call's args as an object only")
    request = CompletionRequest(
        system="Use tools.", messages=(Message("user", "Write a.py."),), tools=(WRITE,)
    )
    server.queue(WIRES[wire_name].call_with_raw_arguments("call_1", "write_file", "{path: a.py"))
    completion = await provider.complete(request)
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("write_file", {UNPARSED_ARGUMENTS: "{path: a.py"})
    ]


async def test_an_overload_said_inside_a_begun_stream_is_retried(
    wire_name: str, server: LoopbackServer, provider: Provider, notices: list[str]
):
    """The status was 200, the overload came as an error in the stream. An OpenAI-compatible
    server's (vLLM's, OpenRouter's, with its status as ``code``) failed the call at once,
    never retried: the engineer's attempt was spent on a busy upstream."""
    wire = WIRES[wire_name]
    server.queue(wire.overloaded_mid_stream(["Half", " a"]), wire.stream(["Whole."]))
    completion = await provider.complete(ASK, lambda _t: None)
    assert completion.text == "Whole." and len(server.seen) == 2
    [told] = notices
    assert "overloaded" in told.lower() and "cut off" in told, told


async def test_an_event_stream_closed_before_its_first_event_is_retried(
    wire_name: str, server: LoopbackServer, provider: Provider, notices: list[str]
):
    """A server restarting (or a proxy's idle timeout) after the 200 and the event-stream
    header, before any event: a stream cut off before it began, as one cut later is. It was
    "malformed response" (no message, no candidates, an empty body), never asked again."""
    wire = WIRES[wire_name]
    server.queue(Reply(sse=[]), wire.stream(["Whole."]))
    completion = await provider.complete(ASK, lambda _t: None)
    assert completion.text == "Whole." and len(server.seen) == 2
    [told] = notices
    assert told.startswith(f"{provider.spec}: the stream ended before"), told


async def test_a_429_saying_its_wait_in_retry_after_ms_is_waited_that_long(
    wire_name: str, server: LoopbackServer, provider: Provider, notices: list[str]
):
    """A gateway that says its wait in milliseconds alone (``retry-after-ms``, which the
    official SDKs read before ``retry-after``): it was passed over for a backoff of a few
    milliseconds, spending the retries inside the rate limit's window."""
    wire = WIRES[wire_name]
    limited = wire.error(429, "slow down")
    limited.headers = {"retry-after-ms": "800"}
    server.queue(limited, wire.text("Made it."))
    assert (await provider.complete(ASK)).text == "Made it."
    [told] = notices
    assert "retrying in 0.8s" in told, told
