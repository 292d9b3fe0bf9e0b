"""Each provider's real wire protocol, as the loopback server speaks it.

A ``Wire`` knows how its API answers (JSON bodies, SSE event streams, error bodies) and where
its requests carry a tool result, so the conformance suite can run one set of tests against
Anthropic's Messages API, Gemini's generateContent and OpenAI's chat completions.
"""

from __future__ import annotations

import json
from typing import Any

from provider_loopback import Reply

CANARY = "sk-canary-7f3a9c1e5b"


def _sse_named(events: list[dict[str, Any]]) -> list[str]:
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events]


def _sse_data(chunks: list[dict[str, Any]], done: bool = False) -> list[str]:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return [*lines, "data: [DONE]\n\n"] if done else lines


class AnthropicWire:
    name = "anthropic"
    model = "claude-sonnet-4-6"
    key_env = "ANTHROPIC_API_KEY"
    base_env = "ANTHROPIC_BASE_URL"
    overload_status = 529

    def spec(self, url: str) -> str:
        return f"anthropic:{self.model}"

    def env(self, url: str) -> dict[str, str]:
        return {self.key_env: CANARY, self.base_env: url}

    def _message(self, content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
        return {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "output_tokens": 5,
                "cache_read_input_tokens": 7,
                "cache_creation_input_tokens": 3,
            },
        }

    def text(self, text: str) -> Reply:
        return Reply(json_body=self._message([{"type": "text", "text": text}], "end_turn"))

    def _one_block_stream(
        self, block: dict[str, Any], deltas: list[dict[str, Any]], stop: str, output_tokens: int
    ) -> Reply:
        """A streamed message of one content ``block``, its ``deltas``, then ``stop``."""
        start = self._message([], "end_turn")
        start["stop_reason"] = None
        events: list[dict[str, Any]] = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": block},
            *({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
            {"type": "message_stop"},
        ]
        return Reply(sse=_sse_named(events))

    def stream(self, pieces: list[str]) -> Reply:
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
        return self._one_block_stream({"type": "text", "text": ""}, deltas, "end_turn", 5)

    def overloaded_mid_stream(self, pieces: list[str]) -> Reply:
        """The stream begun (HTTP 200), then the API's ``error`` event: how it reports an
        overload half-way through an answer."""
        begun = self.stream(pieces).sse
        assert begun is not None
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return Reply(sse=[*begun[:-3], *_sse_named([error])])

    def tool_call(self, call_id: str, name: str, args: dict[str, Any]) -> Reply:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": args}
        return Reply(
            json_body=self._message([{"type": "text", "text": "Reading."}, block], "tool_use")
        )

    def call_with_raw_arguments(self, call_id: str, name: str, raw: str) -> Reply:
        block = {"type": "tool_use", "id": call_id, "name": name, "input": raw}
        return Reply(json_body=self._message([block], "tool_use"))

    def text_without_usage(self, text: str) -> Reply:
        message = self._message([{"type": "text", "text": text}], "end_turn")
        del message["usage"]
        return Reply(json_body=message)

    def cut_call_stream(self, call_id: str, name: str, partial_json: str) -> Reply:
        """A streamed tool call whose input JSON stops where ``max_tokens`` ran out."""
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": partial_json}
        return self._one_block_stream(block, [delta], "max_tokens", 64)

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}
        body = {
            "type": "error",
            "error": {"type": kind.get(status, "api_error"), "message": message},
        }
        headers = {"retry-after": retry_after} if retry_after else {}
        return Reply(status=status, json_body=body, headers=headers)

    def sent_text(self, body: dict[str, Any]) -> str:
        system = " ".join(b["text"] for b in body.get("system", []))
        user = " ".join(
            b.get("text", "") for m in body["messages"] for b in m["content"] if m["role"] == "user"
        )
        return f"{system} {user}"

    def sent_tool_result(self, body: dict[str, Any]) -> tuple[str, str]:
        for message in body["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else []:
                if block.get("type") == "tool_result":
                    return block["tool_use_id"], block["content"]
        raise AssertionError("no tool_result sent")

    def sent_key(self, headers: dict[str, str]) -> str:
        return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


class GeminiWire:
    name = "gemini"
    model = "gemini-3.8-flash"
    key_env = "GEMINI_API_KEY"
    base_env = "GOOGLE_GEMINI_BASE_URL"
    overload_status = 503

    def spec(self, url: str) -> str:
        return f"gemini:{self.model}"

    def env(self, url: str) -> dict[str, str]:
        return {self.key_env: CANARY, self.base_env: url}

    def _response(self, parts: list[dict[str, Any]], finish: str | None = "STOP") -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 19,
                "candidatesTokenCount": 5,
                "totalTokenCount": 24,
                "cachedContentTokenCount": 7,
            },
            "modelVersion": self.model,
        }

    def text(self, text: str) -> Reply:
        return Reply(json_body=self._response([{"text": text}]))

    def stream(self, pieces: list[str]) -> Reply:
        chunks = [self._response([{"text": p}], None) for p in pieces[:-1]]
        chunks.append(self._response([{"text": pieces[-1]}]))
        return Reply(sse=[c.replace("\n\n", "\r\n\r\n") for c in _sse_data(chunks)])

    def overloaded_mid_stream(self, pieces: list[str]) -> Reply:
        """The stream begun (HTTP 200), then an error object where the next chunk goes."""
        begun = self.stream([*pieces, ""]).sse
        assert begun is not None
        error = {
            "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
        }
        return Reply(sse=[*begun[:-1], *_sse_data([error])])

    def tool_call(self, call_id: str, name: str, args: dict[str, Any]) -> Reply:
        part = {
            "functionCall": {"id": call_id, "name": name, "args": args},
            "thoughtSignature": "c2lnLTE=",
        }
        return Reply(json_body=self._response([{"text": "Reading."}, part]))

    def text_without_usage(self, text: str) -> Reply:
        response = self._response([{"text": text}])
        del response["usageMetadata"]
        return Reply(json_body=response)

    def cut_call_stream(self, call_id: str, name: str, partial_json: str) -> Reply:
        """A function call in the chunk that stopped at MAX_TOKENS, its arguments as far as
        they came (Gemini parses them: the object ``partial_json`` had begun)."""
        args = {"path": partial_json.rsplit('"', 1)[-1]} if "path" in partial_json else {}
        part = {"functionCall": {"id": call_id, "name": name, "args": args}}
        return Reply(sse=_sse_data([self._response([part], "MAX_TOKENS")]))

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        names = {
            429: "RESOURCE_EXHAUSTED",
            503: "UNAVAILABLE",
            500: "INTERNAL",
            401: "UNAUTHENTICATED",
        }
        body = {
            "error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}
        }
        headers = {"retry-after": retry_after} if retry_after else {}
        return Reply(status=status, json_body=body, headers=headers)

    def sent_text(self, body: dict[str, Any]) -> str:
        system = " ".join(
            p.get("text", "") for p in body.get("systemInstruction", {}).get("parts", [])
        )
        user = " ".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
        return f"{system} {user}"

    def sent_tool_result(self, body: dict[str, Any]) -> tuple[str, str]:
        for content in body["contents"]:
            for part in content["parts"]:
                response = part.get("functionResponse") or part.get("function_response")
                if response:
                    return response["id"], response["response"]["output"]
        raise AssertionError("no functionResponse sent")

    def sent_key(self, headers: dict[str, str]) -> str:
        return headers.get("x-goog-api-key", "")


class OpenAIWire:
    name = "openai"
    model = "qwen2.5-coder"
    key_env = "OPENAI_API_KEY"
    base_env = "OPENAI_BASE_URL"
    overload_status = 503

    def spec(self, url: str) -> str:
        return f"openai:{self.model}@{url}/v1"

    def env(self, url: str) -> dict[str, str]:
        return {self.key_env: CANARY}

    def _completion(self, message: dict[str, Any], finish: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": 19,
                "completion_tokens": 5,
                "total_tokens": 24,
                "prompt_tokens_details": {"cached_tokens": 7},
            },
        }

    def text(self, text: str) -> Reply:
        return Reply(json_body=self._completion({"role": "assistant", "content": text}, "stop"))

    def stream(self, pieces: list[str]) -> Reply:
        chunks: list[dict[str, Any]] = [
            {
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": p},
                        "finish_reason": None,
                    }
                ],
            }
            for p in pieces
        ]
        chunks.append(
            {
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        chunks.append(
            {
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [],
                "usage": self._completion({}, "stop")["usage"],
            }
        )
        return Reply(sse=_sse_data(chunks, done=True))

    def overloaded_mid_stream(self, pieces: list[str]) -> Reply:
        """The stream begun (HTTP 200), then an error chunk as vLLM and OpenRouter send one
        (with the status as its ``code``) and the end of the stream."""
        begun = self.stream(pieces).sse
        assert begun is not None
        error = {"error": {"message": "upstream overloaded", "type": "server_error", "code": 503}}
        return Reply(sse=[*begun[: len(pieces)], *_sse_data([error], done=True)])

    def tool_call(self, call_id: str, name: str, args: dict[str, Any]) -> Reply:
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        message = {"role": "assistant", "content": "Reading.", "tool_calls": [call]}
        return Reply(json_body=self._completion(message, "tool_calls"))

    def call_with_raw_arguments(self, call_id: str, name: str, raw: str) -> Reply:
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return Reply(json_body=self._completion(message, "tool_calls"))

    def text_without_usage(self, text: str) -> Reply:
        completion = self._completion({"role": "assistant", "content": text}, "stop")
        del completion["usage"]
        return Reply(json_body=completion)

    def cut_call_stream(self, call_id: str, name: str, partial_json: str) -> Reply:
        call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": partial_json},
        }
        chunks: list[dict[str, Any]] = [
            {
                "object": "chat.completion.chunk",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "tool_calls": [call]},
                        "finish_reason": None,
                    }
                ],
            },
            {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
            },
        ]
        return Reply(sse=_sse_data(chunks, done=True))

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        body = {"error": {"message": message, "type": "server_error", "code": status}}
        headers = {"retry-after": retry_after} if retry_after else {}
        return Reply(status=status, json_body=body, headers=headers)

    def sent_text(self, body: dict[str, Any]) -> str:
        return " ".join(str(m.get("content") or "") for m in body["messages"])

    def sent_tool_result(self, body: dict[str, Any]) -> tuple[str, str]:
        for message in body["messages"]:
            if message["role"] == "tool":
                return message["tool_call_id"], message["content"]
        raise AssertionError("no tool message sent")

    def sent_key(self, headers: dict[str, str]) -> str:
        return headers.get("authorization", "").removeprefix("Bearer ")


WIRES = {w.name: w for w in (AnthropicWire(), GeminiWire(), OpenAIWire())}
