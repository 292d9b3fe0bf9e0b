"""What each provider does beyond the shared suite: Anthropic's prompt caching and forced
schema tool, Gemini's thought signatures and JSON mode, the OpenAI-compatible provider's
streamed tool calls and its text fallback for models without tool support."""

from __future__ import annotations

import base64
import json
import warnings

import pytest
from provider_loopback import LoopbackServer, Reply, Seen
from provider_wires import CANARY, WIRES

from agents.provider import CompletionRequest, Message, ProviderError, ToolCall, ToolSpec
from agents.providers.anthropic import AnthropicProvider
from agents.providers.gemini import GeminiProvider
from agents.providers.gemini_models import output_limit
from agents.providers.openai_compat import OpenAICompatProvider
from agents.providers.openai_wire import without_reasoning
from agents.providers.retrying import RetryingProvider, RetryPolicy, retry_notices
from agents.tool_specs import TOOL_SPECS

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}, "why": {"type": "string"}},
    "required": ["score", "why"],
}


def conversation() -> tuple[Message, ...]:
    return (
        Message("user", "Task: the repo map and the spec."),
        Message("assistant", "", ()),
        Message("user", "continue"),
    )


# -- anthropic -------------------------------------------------------------------------------


SHORT = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=64)


async def one_call(server: LoopbackServer, provider: AnthropicProvider | GeminiProvider) -> Seen:
    """What ``provider`` sent for one short question, answered "ok"; the provider is closed."""
    family = "anthropic" if isinstance(provider, AnthropicProvider) else "gemini"
    server.queue(WIRES[family].text("ok"))
    await provider.complete(SHORT)
    await provider.aclose()
    return server.seen[-1]


async def test_anthropic_marks_the_stable_prefix_for_caching(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(WIRES["anthropic"].text("ok"))
    completion = await provider.complete(
        CompletionRequest(system="You are careful.", messages=conversation(), tools=TOOL_SPECS)
    )
    await provider.aclose()
    body = server.seen[-1].body
    assert body["system"] == [
        {"type": "text", "text": "You are careful.", "cache_control": {"type": "ephemeral"}}
    ]
    first, last = body["messages"][0], body["messages"][-1]
    assert first["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert last["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in json.dumps(body["messages"][1])
    assert [t["name"] for t in body["tools"]] == [t.name for t in TOOL_SPECS]
    assert (completion.usage.cache_read_tokens, completion.usage.cache_write_tokens) == (7, 3)


async def test_an_anthropic_url_pasted_with_v1_is_not_called_at_v1_v1(server: LoopbackServer):
    """The SDK adds ``/v1/messages`` to the base URL; a proxy URL pasted with ``/v1`` (as
    OpenAI-compatible ones are written) went to ``/v1/v1/messages``, a 404."""
    paths = [
        (await one_call(server, AnthropicProvider("c", api_key=CANARY, base_url=url))).path
        for url in [server.url, server.url + "/v1", server.url + "/v1/"]
    ]
    assert paths == ["/v1/messages"] * 3


async def test_anthropic_answers_a_schema_through_a_forced_tool(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    answer = {"score": 8, "why": "clear"}
    reply = WIRES["anthropic"].tool_call("toolu_9", "respond", answer)
    server.queue(reply)
    completion = await provider.complete(
        CompletionRequest(
            system="Score it.", messages=(Message("user", "x"),), response_schema=SCHEMA
        )
    )
    await provider.aclose()
    body = server.seen[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert json.loads(completion.text) == answer
    assert completion.tool_calls == () and completion.stop_reason == "end_turn"


async def test_anthropic_deprecated_models_stream_without_raising_the_sdk_warning(
    server: LoopbackServer,
):
    provider = AnthropicProvider("claude-sonnet-4-5", api_key=CANARY, base_url=server.url)
    assert provider.deprecation is not None
    server.queue(WIRES["anthropic"].stream(["fine"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        completion = await provider.complete(
            CompletionRequest(system="", messages=(Message("user", "x"),))
        )
    await provider.aclose()
    assert completion.text == "fine"


# -- gemini ----------------------------------------------------------------------------------


async def test_gemini_replays_the_thought_signature_of_a_function_call(server: LoopbackServer):
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    wire = WIRES["gemini"]
    read = TOOL_SPECS[1]
    server.queue(wire.tool_call("fc_1", "read_file", {"path": "a.py"}), wire.text("done"))
    request = CompletionRequest(system="s", messages=(Message("user", "read"),), tools=(read,))
    first = await provider.complete(request)
    await provider.complete(
        CompletionRequest(
            system="s",
            messages=(
                *request.messages,
                Message("assistant", first.text, first.tool_calls),
                Message("tool", "print(1)", tool_call_id="fc_1"),
            ),
            tools=(read,),
        )
    )
    await provider.aclose()
    declared = server.seen[0].body["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "read_file"
    replayed = server.seen[1].body["contents"][1]
    assert replayed["role"] == "model"
    call_part = next(p for p in replayed["parts"] if "functionCall" in p)
    assert call_part["thoughtSignature"] == "c2lnLTE="
    result = server.seen[1].body["contents"][2]["parts"][0]["functionResponse"]
    assert result == {"id": "fc_1", "name": "read_file", "response": {"output": "print(1)"}}


async def test_gemini_replays_each_conversations_own_call_when_the_server_reuses_call_ids(
    server: LoopbackServer,
):
    """One provider serves every role on its spec, and a server may number function calls
    per reply ("call_0"). Kept by that id, a later reply's call replaced an earlier one, and
    the earlier conversation replayed another call's arguments and thought signature."""
    wire = WIRES["gemini"]
    read = TOOL_SPECS[1]
    first, second = (wire.tool_call("call_0", "read_file", {"path": p}) for p in ("a.py", "b.py"))
    second.json_body["candidates"][0]["content"]["parts"][1]["thoughtSignature"] = "c2lnLTI="
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    server.queue(first, second, wire.text("done"))
    ask = CompletionRequest(system="s", messages=(Message("user", "read"),), tools=(read,))
    one = await provider.complete(ask)
    await provider.complete(ask)  # another conversation, on the same provider
    call = one.tool_calls[0]
    await provider.complete(
        CompletionRequest(
            system="s",
            messages=(
                *ask.messages,
                Message("assistant", one.text, one.tool_calls),
                Message("tool", "print(1)", tool_call_id=call.id),
            ),
            tools=(read,),
        )
    )
    await provider.aclose()
    replayed = server.seen[2].body["contents"][1]["parts"][1]
    assert replayed["functionCall"]["args"] == {"path": "a.py"}
    assert replayed["thoughtSignature"] == "c2lnLTE="
    answer = server.seen[2].body["contents"][2]["parts"][0]["functionResponse"]
    assert answer["id"] == "call_0"


async def test_gemini_marks_a_call_it_did_not_make_as_unsigned_on_purpose(server: LoopbackServer):
    """A call this provider never saw (another model's in a fallback chain, or one no longer
    kept) has no thought signature; Gemini 3 refuses such a turn with a 400 unless it carries
    the documented sentinel that skips the check."""
    server.queue(WIRES["gemini"].text("ok"))
    provider = GeminiProvider("gemini-3-pro-preview", api_key=CANARY, base_url=server.url)
    calls = (ToolCall("toolu_01", "read_file", {"path": "a.py"}),)
    await provider.complete(
        CompletionRequest(
            system="s",
            messages=(
                Message("user", "read"),
                Message("assistant", "", calls),
                Message("tool", "print(1)", tool_call_id="toolu_01"),
            ),
            tools=(TOOL_SPECS[1],),
        )
    )
    await provider.aclose()
    part = server.seen[-1].body["contents"][1]["parts"][0]
    assert part["functionCall"]["name"] == "read_file"
    assert part["thoughtSignature"] == "skip_thought_signature_validator"


async def test_gemini_uses_json_mode_for_a_response_schema(server: LoopbackServer):
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    server.queue(WIRES["gemini"].text('{"score": 7, "why": "ok"}'))
    completion = await provider.complete(
        CompletionRequest(system="Score.", messages=(Message("user", "x"),), response_schema=SCHEMA)
    )
    await provider.aclose()
    config = server.seen[-1].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA
    assert json.loads(completion.text) == {"score": 7, "why": "ok"}


async def test_gemini_leaves_a_thinking_model_room_to_think_besides_the_answer(
    server: LoopbackServer,
):
    """Gemini 2.5 and 3 count thoughts against maxOutputTokens: capped at the answer's 4,096
    a long think used it all and the reply came back empty (MAX_TOKENS)."""
    ask = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=4096)
    sent = {}
    for model in ["gemini-2.5-pro", "gemini-3-flash-preview", "models/gemini-2.5-flash"]:
        provider = GeminiProvider(model, api_key=CANARY, base_url=server.url)
        server.queue(WIRES["gemini"].text("ok"))
        await provider.complete(ask)
        await provider.aclose()
        sent[model] = server.seen[-1].body["generationConfig"]["maxOutputTokens"]
    assert set(sent.values()) == {4096 + 32768}
    assert output_limit("gemini-2.0-flash", 4096) == 4096  # no thoughts; its ceiling is 8,192
    assert output_limit("gemini-1.5-pro", 8192) == 8192
    assert output_limit("gemini-2.5-pro", 60000) == 65536
    # The moving aliases name thinking models too; a pinned older alias does not.
    assert output_limit("gemini-flash-latest", 4096) == 4096 + 32768
    assert output_limit("models/gemini-pro-latest", 4096) == 4096 + 32768
    assert output_limit("gemini-1.5-flash-latest", 4096) == 4096


async def test_a_gemini_url_ending_in_its_api_version_is_called_at_that_version(
    server: LoopbackServer,
):
    """People paste a proxy's URL with the version (``…/v1beta``, as Google's docs write it);
    the SDK appends its own (``/v1``), so the request went to ``/v1beta/v1/models/…``."""
    paths = [
        (await one_call(server, GeminiProvider("g", api_key=CANARY, base_url=url))).path
        for url in [server.url, server.url + "/v1beta", server.url + "/v1alpha/"]
    ]
    assert [path.split("/models/")[0] for path in paths] == ["/v1", "/v1beta", "/v1alpha"]


async def test_gemini_waits_as_long_as_a_429s_retry_info_asks(server: LoopbackServer):
    """Gemini answers a 429 without ``retry-after``; how long to wait is only in the body's
    ``google.rpc.RetryInfo``. Ignoring it spent every retry within a second or two of a
    per-minute quota, and the role failed."""
    error = {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.53s"},
        ],
    }
    server.queue(Reply(status=429, json_body={"error": error}), WIRES["gemini"].text("ok"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    inner = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    provider = RetryingProvider(inner, RetryPolicy(max_retries=1, base_delay_s=0.1), sleep=sleep)
    completion = await provider.complete(
        CompletionRequest(system="s", messages=(Message("user", "x"),))
    )
    await inner.aclose()
    assert completion.text == "ok"
    assert slept == [2.53]


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "UNEXPECTED_TOOL_CALL"])
async def test_gemini_an_empty_reply_stopped_for_its_own_reason_is_asked_again_then_named(
    server: LoopbackServer, reason: str
):
    """Read as an empty answer, a blocked reply reached a structured role as "Expecting value"
    and ended an engineer's attempt; it is asked again, and if it stays empty, named."""
    empty = {
        "candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason}],
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    }
    server.queue(Reply(json_body=empty), WIRES["gemini"].text('{"score": 1, "why": "w"}'))

    async def sleep(seconds: float) -> None:
        return None

    inner = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    provider = RetryingProvider(inner, RetryPolicy(max_retries=1), sleep=sleep)
    request = CompletionRequest(
        system="s", messages=(Message("user", "x"),), response_schema=SCHEMA
    )
    assert json.loads((await provider.complete(request)).text) == {"score": 1, "why": "w"}
    server.queue(Reply(json_body=empty), Reply(json_body=empty))
    with pytest.raises(ProviderError) as failed:
        await provider.complete(request)
    await inner.aclose()
    assert f"the model gave no answer (finish reason {reason}) (gave up after 2 attempts" in str(
        failed.value
    )


async def test_gemini_asks_again_when_the_models_function_call_was_malformed(
    server: LoopbackServer,
):
    """A function call Gemini could not parse comes back as a candidate with no parts and
    finishReason MALFORMED_FUNCTION_CALL. Read as an empty reply, it ended the engineer's
    attempt ("stopped without calling finish: ..."); it is a transient failure of this call."""
    wire = WIRES["gemini"]
    malformed = {
        "candidates": [
            {
                "finishReason": "MALFORMED_FUNCTION_CALL",
                "finishMessage": "Malformed function call: print(default_api.read_file(path=a.py",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    }
    server.queue(Reply(json_body=malformed), wire.tool_call("fc_1", "read_file", {"path": "a.py"}))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    inner = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    provider = RetryingProvider(inner, RetryPolicy(max_retries=1, base_delay_s=0.1), sleep=sleep)
    request = CompletionRequest(
        system="s", messages=(Message("user", "read a.py"),), tools=(TOOL_SPECS[1],)
    )
    completion = await provider.complete(request)
    assert completion.tool_calls == (ToolCall("fc_1", "read_file", {"path": "a.py"}),)
    assert len(slept) == 1
    server.queue(Reply(json_body=malformed))
    with pytest.raises(ProviderError, match=r"function call was malformed \(MALFORMED_FUNC"):
        await inner.complete(request)
    await inner.aclose()


async def test_gemini_a_streamed_request_answered_with_one_json_response_is_that_answer(
    server: LoopbackServer,
):
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    server.queue(WIRES["gemini"].text("Whole at once."))
    said: list[str] = []
    completion = await provider.complete(
        CompletionRequest(system="s", messages=conversation()[:1]), said.append
    )
    await provider.aclose()
    assert "streamGenerateContent" in server.seen[0].path
    assert completion.text == "Whole at once." and said == ["Whole at once."]
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 5)


@pytest.mark.parametrize(
    "body",
    [
        Reply(json_body={"unexpected": True}),
        Reply(raw=b"<html>Bad gateway</html>", headers={"content-type": "text/html"}),
    ],
)
async def test_gemini_a_streamed_request_answered_with_something_else_is_one_line(
    server: LoopbackServer, body: Reply
):
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=2, base_delay_s=0))
    server.queue(body)
    with pytest.raises(
        ProviderError, match=r"^gemini:gemini-2\.5-pro: malformed response"
    ) as raised:
        await retrying.complete(
            CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
        )
    await provider.aclose()
    assert "\n" not in str(raised.value) and retrying.attempts == 1


async def test_gemini_a_stream_cut_off_before_its_finish_reason_is_not_an_answer(
    server: LoopbackServer,
):
    """Gemini's last chunk carries the finish reason; a stream that ends without one was cut
    off mid-answer, and half a reply was taken as a whole one."""
    provider = GeminiProvider("gemini-2.5-pro", api_key=CANARY, base_url=server.url)
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=1, base_delay_s=0))
    cut = WIRES["gemini"].stream(["The first half", " and", " the second."])
    assert cut.sse is not None
    server.queue(Reply(sse=cut.sse[:2]), WIRES["gemini"].stream(["Whole."]))
    notices: list[str] = []
    with retry_notices(notices.append):
        completion = await retrying.complete(
            CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
        )
    await provider.aclose()
    assert completion.text == "Whole." and retrying.attempts == 2
    assert "the stream ended before the answer did" in notices[0]
    assert "streamed above is cut off" in notices[0]


# -- openai-compatible -----------------------------------------------------------------------


def _sse(chunks: list[dict[str, object]]) -> Reply:
    return Reply(sse=[f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"])


async def test_an_openai_url_without_v1_that_404s_says_to_try_v1(server: LoopbackServer):
    """``http://127.0.0.1:11434`` (Ollama's address as people know it) posts to
    ``/chat/completions``, a bare 404; the error says where the API is."""
    ask = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=64)
    for url, hint in [(server.url, True), (server.url + "/v1", False)]:
        provider = OpenAICompatProvider("qwen", base_url=url, api_key=CANARY)
        server.queue(Reply(404, raw=b"404 page not found"))
        with pytest.raises(ProviderError) as failure:
            await provider.complete(ask)
        await provider.aclose()
        said = str(failure.value)
        assert said.startswith(f"openai:qwen@{url}: HTTP 404 404 page not found")
        assert (f"try {server.url}/v1)" in said) is hint


async def test_openai_streamed_tool_call_deltas_are_assembled(server: LoopbackServer):
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    call = {
        "index": 0,
        "id": "call_7",
        "type": "function",
        "function": {"name": "read_file", "arguments": ""},
    }
    server.queue(
        _sse(
            [
                {"choices": [{"index": 0, "delta": {"content": "Let me look."}}]},
                {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": '{"pa'}}]
                            },
                        }
                    ]
                },
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {"index": 0, "function": {"arguments": 'th": "a.py"}'}}
                                ]
                            },
                        }
                    ]
                },
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 9}},
            ]
        )
    )
    said: list[str] = []
    completion = await provider.complete(
        CompletionRequest(system="s", messages=(Message("user", "go"),), tools=TOOL_SPECS),
        said.append,
    )
    await provider.aclose()
    assert said == ["Let me look."]
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_7", "read_file", {"path": "a.py"})
    ]
    assert completion.stop_reason == "tool_use"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (30, 9)
    body = server.seen[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert server.seen[-1].path == "/v1/chat/completions"


SEARCH_REPLACE_REPLY = """I'll fix the greeting.

app.py
```python
<<<<<<< SEARCH
print("helo")
=======
print("hello")
>>>>>>> REPLACE
```

tests/test_new.py
<<<<<<< SEARCH
=======
def test_it():
    assert True
>>>>>>> REPLACE

```json
{"tool": "run_tests", "arguments": {"args": ["-x"]}}
```
"""


async def test_openai_falls_back_to_the_text_edit_format_when_tools_are_refused(
    server: LoopbackServer,
):
    provider = OpenAICompatProvider("tiny-model", base_url=f"{server.url}/v1")
    wire = WIRES["openai"]
    server.queue(
        wire.error(
            400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser'
        ),
        wire.text(SEARCH_REPLACE_REPLY),
        wire.text("All done."),
    )
    request = CompletionRequest(
        system="Be careful.", messages=(Message("user", "fix app.py"),), tools=TOOL_SPECS
    )
    completion = await provider.complete(request)
    assert provider.tools_mode == "text"
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("edit_file", {"path": "app.py", "search": 'print("helo")', "replace": 'print("hello")'}),
        (
            "write_file",
            {"path": "tests/test_new.py", "content": "def test_it():\n    assert True\n"},
        ),
        ("run_tests", {"args": ["-x"]}),
    ]
    assert completion.stop_reason == "tool_use"
    retry_body = server.seen[1].body
    assert "tools" not in retry_body
    assert "<<<<<<< SEARCH" in retry_body["messages"][0]["content"]
    assert "- edit_file:" in retry_body["messages"][0]["content"]

    # The next turn sends the results back as text; the model's own reply stays verbatim.
    follow = CompletionRequest(
        system="Be careful.",
        messages=(
            *request.messages,
            Message("assistant", completion.text, completion.tool_calls),
            *(Message("tool", f"ok {c.name}", tool_call_id=c.id) for c in completion.tool_calls),
        ),
        tools=TOOL_SPECS,
    )
    final = await provider.complete(follow)
    await provider.aclose()
    assert final.text == "All done." and final.tool_calls == ()
    sent = server.seen[2].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == SEARCH_REPLACE_REPLY
    assert "[edit_file result]\nok edit_file" in sent[3]["content"]
    assert "[run_tests result]\nok run_tests" in sent[3]["content"]


async def test_openai_text_mode_by_configuration_parses_a_bare_json_action(server: LoopbackServer):
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1", tools_mode="text")
    server.queue(WIRES["openai"].text('{"tool": "finish", "arguments": {"summary": "done"}}'))
    finish = ToolSpec(
        "finish", "End.", {"type": "object", "properties": {"summary": {"type": "string"}}}
    )
    completion = await provider.complete(
        CompletionRequest(system="", messages=(Message("user", "x"),), tools=(finish,))
    )
    await provider.aclose()
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("finish", {"summary": "done"})
    ]
    assert len(server.seen) == 1 and "tools" not in server.seen[0].body


async def test_openai_text_mode_sends_a_tool_loop_as_text_when_the_request_has_no_tools(
    server: LoopbackServer,
):
    """The verifier's report, re-asked after its tool loop, offers no tools but carries the
    loop's turns: a server that refused tools must not get them as native tool calls."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1", tools_mode="text")
    server.queue(WIRES["openai"].text('{"score": 1, "why": "x"}'))
    call = ToolCall("text-0", "run_tests", {"args": []})
    history = (
        Message("user", "Try to break it."),
        Message("assistant", "Probing.", (call,)),
        Message("tool", "2 passed", tool_call_id="text-0"),
        Message("assistant", "Report: not JSON"),
        Message("user", "That reply is not a valid report. Reply again."),
    )
    await provider.complete(
        CompletionRequest(system="Report.", messages=history, response_schema=SCHEMA)
    )
    await provider.aclose()
    sent = server.seen[0].body
    assert "tools" not in sent
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert not any("tool_calls" in m for m in sent["messages"])
    assert sent["messages"][2]["content"] == "Probing."
    assert sent["messages"][3]["content"] == "[run_tests result]\n2 passed"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA


@pytest.mark.parametrize(
    ("content", "answer"),
    [
        ('<think>Shape {"score": ?} first.</think>\n\n{"score": 1}', '{"score": 1}'),
        ('  <think>\nhmm {\n</think>{"score": 1}', '{"score": 1}'),
        ('Shape {"a": 1} first.\n</think>\n{"score": 1}', '{"score": 1}'),  # opened by the template
        ('{"score": 1}', '{"score": 1}'),
        ("<think>ran out of tokens {", ""),  # thinking to the end: no answer
        ("Wrap it in <think> and </think> tags.", "Wrap it in <think> and </think> tags."),
    ],
)
def test_reasoning_in_the_content_is_not_part_of_the_answer(content: str, answer: str):
    assert without_reasoning(content) == answer


async def test_openai_a_reasoning_models_think_block_does_not_spoil_a_structured_reply(
    server: LoopbackServer,
):
    """vLLM without --reasoning-parser, Ollama: a Qwen3's or R1's thinking comes in content."""
    wire = WIRES["openai"]
    provider = OpenAICompatProvider("qwen3", base_url=f"{server.url}/v1")
    thinking = '<think>The schema wants {"score": int, "why": str}. Fine.</think>\n\n'
    server.queue(wire.text(thinking + '{"score": 7, "why": "ok"}'))
    request = CompletionRequest(
        system="s", messages=(Message("user", "go"),), response_schema=SCHEMA
    )
    completion = await provider.complete(request)
    assert json.loads(completion.text) == {"score": 7, "why": "ok"}
    server.queue(
        _sse(
            [
                {"choices": [{"index": 0, "delta": {"content": "<think>{ hmm"}}]},
                {"choices": [{"index": 0, "delta": {"content": "</think>"}}]},
                {"choices": [{"index": 0, "delta": {"content": '{"score": 2, "why": "s"}'}}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
        )
    )
    streamed = await provider.complete(request, lambda _text: None)
    await provider.aclose()
    assert json.loads(streamed.text) == {"score": 2, "why": "s"}


async def test_openai_a_stream_error_that_echoes_the_key_is_masked(server: LoopbackServer):
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1", api_key=CANARY)
    server.queue(_sse([{"error": {"message": f"invalid key {CANARY} for this model"}}]))
    with pytest.raises(ProviderError) as raised:
        await provider.complete(
            CompletionRequest(system="s", messages=(Message("user", "go"),)), lambda _text: None
        )
    await provider.aclose()
    assert CANARY not in str(raised.value) and "invalid key *** for this model" in str(raised.value)


async def test_a_proxy_password_in_an_openai_url_is_never_shown(server: LoopbackServer):
    """``openai:MODEL@https://user:password@proxy/v1`` (a gateway behind basic auth): the spec
    names the model in every error, retry notice, event and span, and carried the password
    into each. Without an API key it still reaches the server, as basic auth."""
    password = "pw-" + "Zq8" * 6
    ask = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=64)
    url = server.url.replace("http://", f"http://gateway:{password}@") + "/v1"
    provider = OpenAICompatProvider("qwen", base_url=url)
    server.queue(Reply(401, json_body={"error": {"message": f"bad login gateway:{password}"}}))
    with pytest.raises(ProviderError) as failure:
        await provider.complete(ask)
    await provider.aclose()
    assert provider.spec == f"openai:qwen@{server.url.replace('http://', 'http://***@')}/v1"
    assert str(failure.value) == f"{provider.spec}: HTTP 401 bad login gateway:***"
    sent = base64.b64decode(server.seen[0].headers["authorization"].removeprefix("Basic "))
    assert sent.decode() == f"gateway:{password}"
    dead = OpenAICompatProvider("qwen", base_url=f"http://{password}@127.0.0.1:9/v1")
    assert password not in dead.spec  # a bare token before the @ too
    await dead.aclose()


async def test_an_openai_api_key_is_sent_even_when_the_url_carries_credentials(
    server: LoopbackServer,
):
    """Both go in the Authorization header: httpx sent the URL's basic auth in place of the
    Bearer key. The key is sent; a refusal says the URL's credentials were not."""
    password = "pw-" + "Zq8" * 6
    ask = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=64)
    url = server.url.replace("http://", f"http://gateway:{password}@") + "/v1"
    provider = OpenAICompatProvider("qwen", base_url=url, api_key=CANARY)
    server.queue(WIRES["openai"].text("hi"), Reply(401, json_body={"error": "bad login"}))
    assert (await provider.complete(ask)).text == "hi"
    with pytest.raises(ProviderError) as refused:
        await provider.complete(ask)
    await provider.aclose()
    assert [seen.headers["authorization"] for seen in server.seen] == [f"Bearer {CANARY}"] * 2
    assert str(refused.value) == (
        f"{provider.spec}: HTTP 401 bad login (the credentials in the base URL were not sent: "
        "with an API key set, the key goes in the Authorization header)"
    )
    assert password not in str(refused.value) and "***@" in provider.spec


def test_an_openai_url_with_a_query_is_refused_without_showing_it():
    """``…/v1?key=...`` cannot work (``/chat/completions`` lands in the query) and is one line
    that does not repeat the key."""
    with pytest.raises(ProviderError) as refused:
        OpenAICompatProvider("qwen", base_url=f"http://127.0.0.1:9/v1?key={CANARY}")
    assert str(refused.value) == (
        "openai base URL must not carry a query or a fragment (the provider appends "
        "/chat/completions to it; a key goes in OPENAI_API_KEY): http://127.0.0.1:9/v1?***"
    )


async def test_openai_schema_uses_response_format_and_drops_it_when_refused(server: LoopbackServer):
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    wire = WIRES["openai"]
    server.queue(
        wire.error(400, "response_format json_schema is not supported"),
        wire.text('{"score": 1, "why": "x"}'),
    )
    completion = await provider.complete(
        CompletionRequest(system="Score.", messages=(Message("user", "x"),), response_schema=SCHEMA)
    )
    await provider.aclose()
    assert server.seen[0].body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "response_format" not in server.seen[1].body
    assert json.dumps(SCHEMA) in server.seen[1].body["messages"][0]["content"]
    assert json.loads(completion.text)["score"] == 1


def _chat(message: object, usage: object = None) -> dict[str, object]:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {"model": "m", "choices": [choice], "usage": usage or {"prompt_tokens": 3}}


def _chunks(*chunks: object) -> Reply:
    return Reply(sse=[f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"])


ODD_OPENAI_REPLIES = {
    "function as a string": Reply(
        json_body=_chat({"content": "x", "tool_calls": [{"id": "1", "function": "read_file"}]})
    ),
    "a count that is not a number": Reply(
        json_body=_chat({"content": "x"}, {"prompt_tokens": "12k"})
    ),
    "a cached count that is not a number": Reply(
        json_body=_chat(
            {"content": "x"}, {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": "a"}}
        )
    ),
    "a count past any number": Reply(
        raw=json.dumps(_chat({"content": "x"}, {"prompt_tokens": 7}))
        .replace("7", "1e400")
        .encode(),
        headers={"content-type": "application/json"},
    ),
    "stream: a choice that is a string": _chunks({"choices": ["oops"]}),
    "stream: a delta that is a string": _chunks({"choices": [{"delta": "text"}]}),
    "stream: a tool call index that is not a number": _chunks(
        {"choices": [{"delta": {"tool_calls": [{"index": "a"}]}}]}
    ),
    "stream: content that is a list": _chunks({"choices": [{"delta": {"content": ["a"]}}]}),
    "stream: usage that is not a number": _chunks(
        {"choices": [{"delta": {"content": "hi"}}], "usage": {"prompt_tokens": "x"}}
    ),
}


@pytest.mark.parametrize("why", sorted(ODD_OPENAI_REPLIES))
async def test_an_openai_compatible_reply_of_an_unexpected_shape_is_a_one_line_error(
    server: LoopbackServer, why: str
):
    """A local server's quirk (a string where an object goes, a count that is not a number)
    is "malformed response", not an AttributeError or ValueError that fails the whole run."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    server.queue(ODD_OPENAI_REPLIES[why])
    streamed = why.startswith("stream")
    try:
        with pytest.raises(ProviderError, match=r"^openai:m@.*: malformed response: ") as caught:
            await provider.complete(
                CompletionRequest(system="s", messages=conversation()[:1]),
                (lambda _t: None) if streamed else None,
            )
    finally:
        await provider.aclose()
    assert "\n" not in str(caught.value)


async def test_an_error_sent_as_a_string_in_the_stream_is_an_error_not_an_empty_answer(
    server: LoopbackServer,
):
    """llama.cpp's server and some proxies put ``"error": "..."`` (a string) in a chunk; it
    was passed over, and the call answered "" as if the model had nothing to say."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    server.queue(_chunks({"error": "the model ran out of memory"}))
    try:
        with pytest.raises(ProviderError, match=r"stream error: the model ran out of memory$"):
            await provider.complete(
                CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
            )
    finally:
        await provider.aclose()


def _message(content: object, usage: object) -> dict[str, object]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": content,
        "stop_reason": "end_turn",
        "usage": usage,
    }


ODD_ANTHROPIC_REPLIES = {
    "a content block that is a string": _message(["hi"], {"input_tokens": 1, "output_tokens": 1}),
    "a count that is not a number": _message(
        [{"type": "text", "text": "hi"}], {"input_tokens": "12k", "output_tokens": 1}
    ),
}


@pytest.mark.parametrize("why", sorted(ODD_ANTHROPIC_REPLIES))
async def test_an_anthropic_reply_of_an_unexpected_shape_is_a_one_line_error(
    server: LoopbackServer, why: str
):
    """A gateway speaking the Messages API loosely: the SDK builds its objects without
    checking, so a string block raised AttributeError, and "12k" tokens went on as a str to
    fail the accounting, both failing the whole run."""
    provider = AnthropicProvider("c", api_key=CANARY, base_url=server.url)
    server.queue(Reply(json_body=ODD_ANTHROPIC_REPLIES[why]))
    try:
        with pytest.raises(ProviderError, match=r"^anthropic:c: malformed response: ") as caught:
            await provider.complete(CompletionRequest(system="s", messages=conversation()[:1]))
    finally:
        await provider.aclose()
    assert "\n" not in str(caught.value)


async def test_openai_a_streamed_request_answered_with_one_json_completion_is_that_answer(
    server: LoopbackServer,
):
    """A server or proxy that ignores ``stream: true`` answers with the whole completion as
    JSON: it was read as an empty event stream, an empty answer with no usage."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    server.queue(WIRES["openai"].text("Whole at once."))
    call = WIRES["openai"].tool_call("call_1", "read_file", {"path": "a.py"})
    server.queue(call)
    said: list[str] = []
    ask = CompletionRequest(system="s", messages=conversation()[:1], tools=TOOL_SPECS)
    first = await provider.complete(ask, said.append)
    second = await provider.complete(ask, said.append)
    await provider.aclose()
    assert server.seen[0].body["stream"] is True
    assert first.text == "Whole at once." and first.stop_reason == "end_turn"
    assert (first.usage.input_tokens, first.usage.output_tokens) == (12, 5)
    assert first.usage.cache_read_tokens == 7
    assert [(c.id, c.name, c.arguments) for c in second.tool_calls] == [
        ("call_1", "read_file", {"path": "a.py"})
    ]
    assert second.stop_reason == "tool_use" and said == ["Whole at once.", "Reading."]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (Reply(json_body={"unexpected": True}), "malformed response: .* JSON without choices"),
        (
            Reply(raw=b"<html>Bad gateway</html>", headers={"content-type": "text/html"}),
            "malformed response: .* neither an event stream nor JSON",
        ),
        (Reply(raw=b""), "malformed response: .* an empty body"),
        (Reply(json_body={"error": {"message": "no such model"}}), ": error: no such model$"),
    ],
)
async def test_openai_a_streamed_request_answered_with_something_else_is_one_line(
    server: LoopbackServer, body: Reply, said: str
):
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=2, base_delay_s=0))
    server.queue(body)
    with pytest.raises(ProviderError, match=said) as raised:
        await retrying.complete(
            CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
        )
    await provider.aclose()
    assert "\n" not in str(raised.value) and retrying.attempts == 1


async def test_openai_a_stream_cut_off_before_its_finish_is_not_an_answer(server: LoopbackServer):
    """No finish reason and no ``[DONE]``: the connection ended mid-answer (a proxy's idle
    timeout, a server restart). Taken as the answer, half a reply went on as a whole one."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=1, base_delay_s=0))
    cut = WIRES["openai"].stream(["The first half", " and the second."])
    assert cut.sse is not None
    server.queue(Reply(sse=cut.sse[:1]), WIRES["openai"].stream(["Whole."]))
    notices: list[str] = []
    with retry_notices(notices.append):
        completion = await retrying.complete(
            CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
        )
    await provider.aclose()
    assert completion.text == "Whole." and retrying.attempts == 2
    assert "the stream ended before the answer did" in notices[0]
    assert "streamed above is cut off" in notices[0]


async def test_openai_a_stream_whose_usage_comes_in_groqs_field_is_counted(
    server: LoopbackServer,
):
    """Groq reports a stream's usage in ``x_groq.usage`` of its last chunk; it was 0 tokens."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    usage = {"prompt_tokens": 30, "completion_tokens": 4}
    server.queue(
        _chunks(
            {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]},
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "x_groq": {"id": "req_1", "usage": usage},
            },
        )
    )
    completion = await provider.complete(
        CompletionRequest(system="s", messages=conversation()[:1]), lambda _t: None
    )
    await provider.aclose()
    assert completion.text == "hi"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (30, 4)


async def test_openai_a_server_that_reports_no_usage_has_its_tokens_estimated(
    server: LoopbackServer,
):
    """A server that ignores ``stream_options.include_usage`` (or a proxy that strips it)
    said nothing, and the call counted 0 tokens: no token budget saw it. The counts are now
    estimated from the text (about four characters a token) and marked as estimated."""
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    answer = "A plan of about forty characters long..."
    server.queue(
        _chunks(
            {"choices": [{"index": 0, "delta": {"content": answer}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        )
    )
    request = CompletionRequest(system="s" * 400, messages=conversation()[:1])
    completion = await provider.complete(request, lambda _t: None)
    await provider.aclose()
    usage = completion.usage
    assert usage.estimated
    assert usage.input_tokens >= 100 and usage.output_tokens == len(answer) // 4

    server.queue(
        _chunks(
            {
                "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 4},
            }
        )
    )
    provider = OpenAICompatProvider("m", base_url=f"{server.url}/v1")
    reported = await provider.complete(request, lambda _t: None)
    await provider.aclose()
    assert not reported.usage.estimated and reported.usage.input_tokens == 30
