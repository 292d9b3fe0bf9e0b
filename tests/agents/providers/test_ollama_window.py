"""An Ollama server is asked the window it runs the model with before the first request.

A prompt just over Ollama's window is cut without a word and reads, since 0.32, as about 0.6
of the estimate: too close to tell by the usage. Ollama's own API says the window (``GET
/api/ps``, else the Modelfile's ``num_ctx`` from ``POST /api/show``), so the conversation is
compacted to it before it is sent; a configured ``context_tokens`` wins, and one line says
where the window came from.
"""

from __future__ import annotations

from ollama_loopback import MISSED_IT, SAW_IT, OllamaLike
from provider_loopback import LoopbackServer, Reply, Seen
from test_ollama_cut_prompt import MARKER, conversation, options

from agents.provider import CompletionRequest, Message
from agents.providers.limits import Limits
from agents.registry import close_provider, make_provider

JUST_OVER = 12_500
"""Tool output that makes :func:`conversation` about 8,800 of the server's tokens: over an
8192 window by a tenth, so what Ollama keeps (4098) is 0.6 of the estimate, not below half."""


async def ask(
    ollama: OllamaLike, *requests: CompletionRequest, limits: Limits | None = None
) -> tuple[list[str], list[Seen], str]:
    """The answers ``ollama`` gave ``requests``, one provider asking in turn; what it was sent;
    the spec."""
    with LoopbackServer(respond=ollama) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=options({spec: limits} if limits else None))
        try:
            answers = [(await provider.complete(r)).text for r in requests]
        finally:
            await close_provider(provider)
    return answers, server.seen, spec


def chats(seen: list[Seen]) -> list[Seen]:
    return [s for s in seen if s.path == "/v1/chat/completions"]


async def test_a_prompt_just_over_a_loaded_models_window_is_compacted_before_it_is_sent(
    notices: list[str],
):
    ollama = OllamaLike(num_ctx=8192, marker=MARKER, api=True, loaded=True)
    answers, seen, spec = await ask(ollama, conversation(JUST_OVER), conversation(JUST_OVER))
    # Both fitted before they were sent: read whole, answered from the task.
    assert answers == [SAW_IT, SAW_IT]
    assert ollama.kept == ollama.prompts and max(ollama.prompts) <= 8192
    assert len(chats(seen)) == 2  # no answer set aside, no request asked again
    # Asked once for the provider, before its first request.
    assert [s.path for s in seen[:2]] == ["/api/version", "/api/ps"]
    assert len(seen) == 4
    assert notices == [
        f"{spec}: context window of 8192 tokens, as Ollama loaded the model (GET /api/ps): "
        "a conversation is compacted to it before it is sent"
    ]


async def test_a_model_not_loaded_takes_the_num_ctx_of_its_modelfile_not_its_trained_length(
    notices: list[str],
):
    ollama = OllamaLike(num_ctx=8192, marker=MARKER, api=True, modelfile_num_ctx=8192)
    [answer], seen, spec = await ask(ollama, conversation(JUST_OVER))
    assert answer == SAW_IT and ollama.kept == ollama.prompts and ollama.prompts[0] <= 8192
    assert [s.path for s in seen] == [
        "/api/version",
        "/api/ps",
        "/api/show",
        "/v1/chat/completions",
    ]
    assert seen[2].body["model"] == "qwen"
    [said] = notices
    assert said.startswith(f"{spec}: context window of 8192 tokens, the num_ctx of the model's")


async def test_a_window_nothing_says_before_the_model_is_loaded_is_asked_once_it_is(
    notices: list[str],
):
    """The server's default (OLLAMA_CONTEXT_LENGTH, or by GPU memory) is said by /api/ps
    alone, once the first request has loaded the model."""
    ollama = OllamaLike(num_ctx=8192, marker=MARKER, api=True)
    short = CompletionRequest(system="Be brief.", messages=(Message("user", "hi"),))
    answers, seen, spec = await ask(ollama, short, conversation(JUST_OVER))
    assert answers[1] == SAW_IT and ollama.kept == ollama.prompts and ollama.prompts[1] <= 8192
    assert [s.path for s in seen].count("/api/ps") == 2 and len(chats(seen)) == 2
    [unknown, learnt] = notices
    assert unknown.startswith(f"{spec}: context window not known: Ollama says none before")
    assert "OLLAMA_CONTEXT_LENGTH, else 4k, 32k or 256k tokens" in unknown
    assert learnt.startswith(f"{spec}: context window of 8192 tokens, as Ollama loaded the model")


async def test_a_configured_window_wins_and_one_larger_than_the_servers_is_said(
    notices: list[str],
):
    ollama = OllamaLike(num_ctx=8192, marker=MARKER, api=True, loaded=True)
    [answer], _, spec = await ask(
        ollama, conversation(JUST_OVER), limits=Limits(context_tokens=32_768)
    )
    # Sent as the configuration says: whole, and cut by the server — as the line warned.
    assert ollama.prompts[0] > 8192 and ollama.kept[0] == 4098 and answer == MISSED_IT
    [said] = notices
    assert "\n" not in said and said.startswith(
        f"{spec}: context window of 32768 tokens, as configured (context_tokens), more than "
        "the 8192 the server runs the model with (as Ollama loaded the model (GET /api/ps))"
    )
    assert "set context_tokens to at most 8192" in said and "OLLAMA_CONTEXT_LENGTH" in said


async def test_a_configured_window_smaller_than_the_servers_is_the_window(notices: list[str]):
    ollama = OllamaLike(num_ctx=65_536, marker=MARKER, api=True, loaded=True)
    [answer], _, spec = await ask(ollama, conversation(), limits=Limits(context_tokens=8192))
    assert answer == SAW_IT and ollama.prompts[0] <= 8192
    assert notices == [
        f"{spec}: context window of 8192 tokens, as configured (context_tokens); the server "
        "runs the model with 65536 (as Ollama loaded the model (GET /api/ps))"
    ]


async def test_a_server_that_is_not_ollama_is_asked_once_and_nothing_is_said(
    notices: list[str],
):
    with LoopbackServer() as server:  # vLLM, llama.cpp: 404 under /api/
        server.queue(Reply(json_body=_chat("one")), Reply(json_body=_chat("two")))
        provider = make_provider(f"openai:qwen@{server.url}/v1", options=options())
        try:
            first = await provider.complete(conversation(2_000))
            second = await provider.complete(conversation(2_000))
        finally:
            await close_provider(provider)
    assert (first.text, second.text) == ("one", "two")
    assert [s.path for s in server.native] == ["/api/version"] and notices == []


async def test_an_ollama_whose_api_fails_is_asked_nothing_more_and_the_run_goes_on(
    notices: list[str],
):
    ollama = OllamaLike(num_ctx=65_536, marker=MARKER, api=True, loaded=True)

    def failing(seen: Seen) -> Reply:
        if seen.path in ("/api/ps", "/api/show"):
            return Reply(500, raw=b"<html>proxy error</html>")
        return ollama(seen)

    with LoopbackServer(respond=failing) as server:
        spec = f"openai:qwen@{server.url}/v1"
        provider = make_provider(spec, options=options())
        try:
            answer = await provider.complete(conversation())
        finally:
            await close_provider(provider)
    assert answer.text == SAW_IT and len(chats(server.seen)) == 1
    assert notices == [
        f"{spec}: context window not known: Ollama did not say it (GET /api/ps, POST "
        "/api/show); asked again once loaded"
    ]


def _chat(text: str) -> dict[str, object]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
    }
    return {
        "model": "qwen",
        "choices": [choice],
        "usage": {"prompt_tokens": 2000, "completion_tokens": 3},
    }
