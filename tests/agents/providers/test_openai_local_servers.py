"""The OpenAI-compatible provider against what local servers and open models really send:
vLLM, Ollama, llama.cpp (and its forks) and LM Studio, serving Qwen, DeepSeek-R1 or Llama —
tool calls left in the text by a tool parser that missed them, ids that repeat or are
missing, a ``json_schema`` the server does not know, thinking beside the answer, and a model
name the server does not serve."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openai_loopback import ENGINEER, SCHEMA, STRUCTURED, chat
from provider_loopback import LoopbackServer, Reply

from agents.provider import CompletionRequest, Message, ProviderError, ToolCall
from agents.providers.openai_compat import OpenAICompatProvider
from agents.tool_specs import TOOL_SPECS


async def ask(server: LoopbackServer, request: CompletionRequest, *replies: Reply) -> Any:
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    server.queue(*replies)
    try:
        return await provider.complete(request)
    finally:
        await provider.aclose()


# -- a model the server does not serve -------------------------------------------------------

UNKNOWN_MODEL = {
    "vllm": (404, {"object": "error", "message": "The model `qwen` does not exist.", "code": 404}),
    "ollama": (
        404,
        {"error": {"message": 'model "qwen" not found, try pulling it first', "type": "api_error"}},
    ),
}


@pytest.mark.parametrize("server_kind", sorted(UNKNOWN_MODEL))
async def test_a_model_the_server_does_not_serve_is_one_line_naming_those_it_does(
    server: LoopbackServer, server_kind: str
):
    """vLLM serves a model under the name it was started with (often a path or
    ``Qwen/Qwen3-8B``), Ollama under its tag: the error says which names would work."""
    status, body = UNKNOWN_MODEL[server_kind]
    listing = {"object": "list", "data": [{"id": "Qwen/Qwen3-8B"}, {"id": "qwen3:8b"}]}
    with pytest.raises(ProviderError) as caught:
        await ask(server, STRUCTURED, Reply(status, body), Reply(json_body=listing))
    said = str(caught.value)
    assert "\n" not in said and said.startswith(f"openai:qwen@{server.url}/v1: HTTP 404 ")
    assert said.endswith("(the server serves: Qwen/Qwen3-8B, qwen3:8b)")
    assert caught.value.status == 404  # still a dead link for a fallback chain
    assert [(s.method, s.path) for s in server.seen] == [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ]


async def test_a_server_that_cannot_list_its_models_leaves_the_error_as_it_was(
    server: LoopbackServer,
):
    status, body = UNKNOWN_MODEL["vllm"]
    with pytest.raises(ProviderError) as caught:
        await ask(server, STRUCTURED, Reply(status, body), Reply(404, raw=b"404 page not found"))
    assert str(caught.value).endswith("HTTP 404 The model `qwen` does not exist.")


async def test_a_server_with_no_model_loaded_says_so(server: LoopbackServer):
    status, body = UNKNOWN_MODEL["ollama"]
    empty = Reply(json_body={"object": "list", "data": []})
    with pytest.raises(ProviderError, match=r"\(the server lists no models at GET /models\)$"):
        await ask(server, STRUCTURED, Reply(status, body), empty)


# -- tool calls the server's tool parser left in the text --------------------------------------

CALLS_IN_TEXT = {
    # Ollama, qwen2.5-coder: its template asks for <tool_call> tags, the model writes bare JSON
    "bare JSON (Ollama qwen2.5-coder)": '{"name": "read_file", "arguments": {"path": "a.py"}}',
    "Hermes tags": 'Reading it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}'
    "\n</tool_call>",
    "<tools> with a list (Qwen2.5-Coder few-shot)": '<tools>\n[{"name": "read_file", "arguments":'
    ' {"path": "a.py"}}, {"name": "run", "arguments": {"argv": ["ls"]}}]\n</tools>',
    "one JSON call a line": '{"name": "read_file", "arguments": {"path": "a.py"}}\n'
    '{"name": "run", "arguments": {"argv": ["ls"]}}',
    "fenced JSON, arguments as a string": 'Let me look.\n```json\n{"name": "read_file", '
    '"arguments": "{\\"path\\": \\"a.py\\"}"}\n```',
    "Qwen3-Coder XML under the hermes parser": "<tool_call>\n<function=read_file>\n"
    "<parameter=path>\na.py\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n"
    '<function=run>\n<parameter=argv>\n["ls"]\n</parameter>\n<parameter=timeout_s>\n30\n'
    "</parameter>\n</function>\n</tool_call>",
    "gpt-oss harmony markup (the server's parser missed it)": "<|channel|>analysis<|message|>"
    'I should read {"path"} first.<|end|><|start|>assistant<|channel|>commentary '
    'to=functions.read_file <|constrain|>json<|message|>{"path": "a.py"}<|call|>',
}


@pytest.mark.parametrize("shape", sorted(CALLS_IN_TEXT))
async def test_a_tool_call_left_in_the_text_is_a_tool_call(server: LoopbackServer, shape: str):
    """With ``finish_reason: "stop"`` and no ``tool_calls``: without this the engineer's loop
    took the call for its final reply and ended the attempt having done nothing."""
    completion = await ask(server, ENGINEER, chat({"content": CALLS_IN_TEXT[shape]}))
    assert completion.stop_reason == "tool_use"
    first = completion.tool_calls[0]
    assert (first.name, first.arguments) == ("read_file", {"path": "a.py"})
    if len(completion.tool_calls) > 1:
        second = completion.tool_calls[1]
        assert second.name == "run" and second.arguments["argv"] == ["ls"]
        assert second.arguments.get("timeout_s", 30) == 30  # typed as its schema says
    assert "read_file" not in completion.text and "<" not in completion.text


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "delete_repo", "arguments": {}}',  # not a tool it was offered
        'Done. The config is {"name": "read_file", "arguments": "not json"}.',
        "I used <tool_call> tags as asked.",
        '{"summary": "all green"}',
    ],
)
async def test_a_reply_that_only_shows_json_is_not_a_tool_call(
    server: LoopbackServer, content: str
):
    completion = await ask(server, ENGINEER, chat({"content": content}))
    assert completion.tool_calls == () and completion.text == content
    assert completion.stop_reason == "end_turn"


async def test_a_structured_answer_shaped_like_a_call_is_left_alone(server: LoopbackServer):
    """No tools offered: a JSON reply is the answer, whatever it holds."""
    content = '{"name": "read_file", "arguments": {"path": "a.py"}}'
    completion = await ask(server, STRUCTURED, chat({"content": content}))
    assert completion.tool_calls == () and completion.text == content


@pytest.mark.parametrize("said", ["tools param requires --jinja flag", "Unsupported param: tools"])
async def test_llama_cpp_refusing_tools_with_a_500_gets_the_text_format(
    server: LoopbackServer, said: str
):
    """llama-server without ``--jinja`` (the default before 2025's builds, and still for
    ik_llama.cpp) answers a request with ``tools`` by an HTTP 500. Taken for a passing
    server error, it was retried until every engineer's attempt failed."""
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    refusal = Reply(500, {"error": {"code": 500, "message": said, "type": "server_error"}})
    action = '```json\n{"tool": "read_file", "arguments": {"path": "a.py"}}\n```'
    server.queue(refusal, chat({"content": action}))
    completion = await provider.complete(ENGINEER)
    await provider.aclose()
    assert "tools" not in server.seen[1].body and provider.tools_mode == "text"
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("read_file", {"path": "a.py"})
    ]


# -- tool-call ids ---------------------------------------------------------------------------


def native_call(call_id: str | None, path: str) -> dict[str, Any]:
    call: dict[str, Any] = {
        "type": "function",
        "function": {"name": "read_file", "arguments": json.dumps({"path": path})},
    }
    if call_id is not None:
        call["id"] = call_id
    return call


async def test_tool_call_ids_that_repeat_or_are_missing_are_made_unique(server: LoopbackServer):
    """llama.cpp has answered every call of a conversation with one constant id, and parallel
    calls with the same one; LM Studio with ``""``. Results matched to the wrong call, and
    an Anthropic fallback link refuses a conversation whose ids repeat."""
    constant = "ZsSt4SkIFMRz0HtqT7MTlimNvzlKM896"
    earlier = (
        Message("user", "go"),
        Message("assistant", "", (ToolCall(constant, "read_file", {"path": "a.py"}),)),
        Message("tool", "x = 1", tool_call_id=constant),
    )
    request = CompletionRequest(system="Build.", messages=earlier, tools=TOOL_SPECS)
    calls = [native_call(constant, "b.py"), native_call(constant, "c.py"), native_call(None, "d")]
    calls.append(native_call("", "e.py"))
    completion = await ask(
        server, request, chat({"content": None, "tool_calls": calls}, finish="tool_calls")
    )
    ids = [c.id for c in completion.tool_calls]
    assert [c.arguments["path"] for c in completion.tool_calls] == ["b.py", "c.py", "d", "e.py"]
    assert len(set(ids)) == 4 and constant not in ids
    assert all(re.fullmatch(r"[a-z0-9]{9}", i) for i in ids)  # Mistral's templates' shape


async def test_distinct_ids_are_kept_as_the_server_sent_them(server: LoopbackServer):
    calls = [native_call("call_a1", "b.py"), native_call("call_b2", "c.py")]
    completion = await ask(server, ENGINEER, chat({"tool_calls": calls}, finish="tool_calls"))
    assert [c.id for c in completion.tool_calls] == ["call_a1", "call_b2"]


async def test_streamed_tool_call_arguments_sent_as_an_object_are_read(server: LoopbackServer):
    """Ollama's native shape (arguments as an object) leaks through some proxies."""
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    piece = {"index": 0, "id": "c1", "function": {"name": "run", "arguments": {"argv": ["ls"]}}}
    chunks = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    server.queue(Reply(sse=[f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]))
    completion = await provider.complete(ENGINEER, lambda _text: None)
    await provider.aclose()
    assert completion.tool_calls == (ToolCall("c1", "run", {"argv": ["ls"]}),)


# -- response_format -------------------------------------------------------------------------


async def test_a_llama_cpp_server_without_json_schema_gets_json_object_with_the_schema(
    server: LoopbackServer,
):
    """ik_llama.cpp, llama-cpp-python and llama.cpp builds before json_schema refuse it with a
    500 naming json_object, which they constrain to the ``schema`` it carries. Taken for a
    passing server error, every structured call of the run failed after its retries."""
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    said = 'response_format type must be one of "text" or "json_object", but got: json_schema'
    refusal = Reply(500, {"error": {"code": 500, "message": said, "type": "server_error"}})
    answer = chat({"content": '{"score": 3, "why": "ok"}'})
    server.queue(refusal, answer, answer)
    first = await provider.complete(STRUCTURED)
    second = await provider.complete(STRUCTURED)
    await provider.aclose()
    assert json.loads(first.text) == json.loads(second.text) == {"score": 3, "why": "ok"}
    assert server.seen[0].body["response_format"]["type"] == "json_schema"
    # remembered: the next request asks the way the server takes, with no refusal first
    json_object = {"type": "json_object", "schema": SCHEMA}
    assert [s.body["response_format"] for s in server.seen[1:]] == [json_object, json_object]


async def test_a_server_that_refuses_json_object_too_gets_the_schema_in_the_prompt(
    server: LoopbackServer,
):
    provider = OpenAICompatProvider("qwen", base_url=f"{server.url}/v1")
    said = 'response_format type must be one of "text" or "json_object", but got: json_schema'
    server.queue(
        Reply(500, {"error": {"code": 500, "message": said}}),
        Reply(400, {"error": {"message": "response_format json_object is not supported"}}),
        chat({"content": '{"score": 3, "why": "ok"}'}),
    )
    completion = await provider.complete(STRUCTURED)
    await provider.aclose()
    assert json.loads(completion.text)["score"] == 3
    assert "response_format" not in server.seen[2].body
    assert json.dumps(SCHEMA) in server.seen[2].body["messages"][0]["content"]


# -- reasoning -------------------------------------------------------------------------------


async def test_gpt_oss_harmony_channels_left_in_the_text_give_only_the_final_answer(
    server: LoopbackServer,
):
    """mlx-lm, TensorRT-LLM, an Ollama parse miss: gpt-oss's analysis channel (its thinking)
    came through as the answer, markup and all, and the structured reply did not parse."""
    content = (
        '<|channel|>analysis<|message|>The schema wants {"score": int}. Say 4.<|end|>'
        '<|start|>assistant<|channel|>final<|message|>{"score": 4, "why": "ok"}<|return|>'
    )
    completion = await ask(server, STRUCTURED, chat({"content": content}))
    assert completion.text == '{"score": 4, "why": "ok"}'


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_thinking_beside_the_answer_is_not_the_answer_and_its_tokens_count(
    server: LoopbackServer, field: str
):
    """vLLM's reasoning parser and DeepSeek's API say ``reasoning_content``, Ollama and
    OpenRouter ``reasoning``. Where a proxy strips the usage, the estimate counts the
    thinking too: it is most of what a reasoning model generates."""
    thinking = "Let me weigh the criteria one by one. " * 100
    reply = chat({"content": '{"score": 5, "why": "ok"}', field: thinking}, usage={})
    completion = await ask(server, STRUCTURED, reply)
    assert json.loads(completion.text) == {"score": 5, "why": "ok"}
    assert completion.usage.estimated
    assert completion.usage.output_tokens >= len(thinking) // 4
