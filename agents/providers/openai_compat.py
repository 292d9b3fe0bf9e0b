"""``openai:MODEL@BASE_URL`` — any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp,
LM Studio, ...), spoken to directly over httpx: ``POST {base}/chat/completions``.

Native tool calls and SSE streaming (tool-call deltas reassembled by index, and by id where
Ollama numbers every call 0; streamed thinking kept for the estimate) are used when the
server takes them. When the server or model refuses tools (an HTTP 400 that mentions tools)
or ``tools_mode="text"`` is configured, the provider switches to the text edit format of
text_tools.py for good, so a model without tool support still drives the engineer's loop.
A refused ``response_format`` is asked for as ``json_object`` where the refusal names it
(llama.cpp's forks and older builds), else in the prompt alone; also for good. A model name
the server does not serve is one line naming those ``GET {base}/models`` lists.
This module is the HTTP exchange; the format it speaks is :mod:`agents.providers.openai_wire`,
what a reply means :mod:`agents.providers.openai_reply`, and its tool calls, streamed or
written as text, :mod:`agents.providers.openai_tool_calls`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from agents.provider import (
    Completion,
    CompletionRequest,
    ProviderError,
)
from agents.providers.context_overflow import ContextOverflow, overflow_in, user_turn_cut
from agents.providers.ollama_window import OllamaWindow
from agents.providers.openai_reply import MalformedReply, completion_of
from agents.providers.openai_tool_calls import StreamedCalls
from agents.providers.openai_wire import (
    SchemaFormat,
    ToolsMode,
    content_parts,
    request_body,
    served_models_hint,
    shown_url,
    unknown_model,
    url_credentials,
    without_userinfo,
)
from agents.providers.provider_errors import (
    TransientProviderError,
    one_line,
    retry_after_hint,
    transient_status,
)


class OpenAICompatProvider:
    """A chat-completions endpoint; ``api_key`` is optional (local servers need none)."""

    family = "openai"
    simulated = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        http_client: httpx.AsyncClient | None = None,
        tools_mode: ToolsMode = "auto",
    ) -> None:
        if not model or not base_url:
            raise ProviderError("openai spec needs a model and a base URL: openai:MODEL@URL")
        if not base_url.startswith(("http://", "https://")):
            raise ProviderError(
                f"openai base URL must start with http:// or https://: {shown_url(base_url)}"
            )
        if urlsplit(base_url).query or "#" in base_url:
            raise ProviderError(
                "openai base URL must not carry a query or a fragment (the provider appends "
                f"/chat/completions to it; a key goes in OPENAI_API_KEY): {shown_url(base_url)}"
            )
        self._model = model
        self.base_url = base_url.rstrip("/")
        self._secrets = (*((api_key,) if api_key else ()), *url_credentials(base_url))
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # Credentials in the URL go as basic auth, in the same Authorization header as the
        # key: httpx put them in place of the Bearer key. The key wins; the URL's user part
        # is used only where there is no key (and a 401 or 403 says it was not sent).
        self._unsent_userinfo = bool(api_key) and bool(url_credentials(base_url))
        self._post_to = (
            without_userinfo(self.base_url) if self._unsent_userinfo else self.base_url
        ) + "/chat/completions"
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient()
        self._headers = headers
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        self.tools_mode: ToolsMode = tools_mode
        self._schema_format: SchemaFormat = "json_schema"

    @property
    def model(self) -> str:
        return self._model

    @property
    def spec(self) -> str:
        return f"openai:{self._model}@{shown_url(self.base_url)}"

    def window_lookup(self) -> OllamaWindow:
        """Where the window the server runs the model with is asked, when it is Ollama."""
        base = self._post_to.removesuffix("/chat/completions")
        return OllamaWindow(self._client, base, self._model, self._headers)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._client.aclose()

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """One chat completion; falls back to the text format when tools are refused."""
        started = time.monotonic()
        for _ in range(3):
            try:
                body = request_body(
                    request,
                    on_text is not None,
                    model=self._model,
                    tools_mode=self.tools_mode,
                    schema_format=self._schema_format,
                )
                data = await self._send(body, on_text)
            except _Refused as refused:
                if refused.about == "tools" and self.tools_mode == "auto" and request.tools:
                    self.tools_mode = "text"
                    continue
                if refused.about == "response_format" and self._schema_format != "prompt":
                    # llama.cpp-family servers that predate json_schema name json_object
                    offered = "json_object" in refused.message
                    offered &= self._schema_format == "json_schema"
                    self._schema_format = "json_object" if offered else "prompt"
                    continue
                raise ProviderError(refused.message) from None
            try:
                return completion_of(
                    data,
                    request,
                    time.monotonic() - started,
                    model=self._model,
                    tools_mode=self.tools_mode,
                )
            except MalformedReply as exc:
                raise self._malformed(str(exc)) from None
            except _SHAPE_ERRORS as exc:  # a string where an object goes, "12k" tokens
                raise self._malformed(f"unexpected shape ({exc})") from None
        raise ProviderError(f"{self.spec}: the server refused the request")

    async def _send(
        self, body: dict[str, Any], on_text: Callable[[str], None] | None
    ) -> dict[str, Any]:
        url = self._post_to
        try:
            async with self._client.stream(
                "POST", url, json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    served = await self._served_models() if unknown_model(response) else ""
                    raise self._status_error(response, body, served)
                if on_text is None:
                    await response.aread()
                    try:
                        data = response.json()
                    except ValueError:
                        raise self._malformed("body is not JSON") from None
                    if not isinstance(data, dict):
                        raise self._malformed("body is not a JSON object")
                    return data
                try:
                    return await self._read_stream(response, on_text)
                except _SHAPE_ERRORS as exc:
                    raise self._malformed(f"unexpected shape in the stream ({exc})") from None
        except httpx.TimeoutException:
            raise TransientProviderError(f"{self.spec}: request timed out") from None
        except httpx.TransportError as exc:
            raise TransientProviderError(
                one_line(f"{self.spec}: connection failed: {exc!r}", self._secrets)
            ) from None

    def _malformed(self, why: str) -> ProviderError:
        return ProviderError(one_line(f"{self.spec}: malformed response: {why}", self._secrets))

    async def _served_models(self) -> str:
        """What ``GET {base}/models`` says the server serves, as a hint to append to its
        "no such model" (empty when the list cannot be had)."""
        try:
            listed = await self._client.get(
                self._post_to.removesuffix("/chat/completions") + "/models",
                headers=self._headers,
                timeout=min(self._timeout.read or 10.0, 10.0),
            )
            return served_models_hint(listed.json()) if listed.status_code == 200 else ""
        except (httpx.HTTPError, ValueError):
            return ""

    def _status_error(
        self, response: httpx.Response, body: dict[str, Any], served: str = ""
    ) -> Exception:
        detail = response.text
        fields: dict[str, Any] = {}
        try:
            payload = response.json()
            error = payload.get("error") if isinstance(payload, dict) else None
            if error is None and isinstance(payload, dict) and payload.get("object") == "error":
                error = payload  # vLLM before 0.10: the error's fields at the top level
            if isinstance(error, dict):
                detail = str(error.get("message", detail))
                fields = error
            elif isinstance(error, str):
                detail = error
        except ValueError:
            pass
        status = response.status_code
        overflow = overflow_in(detail, fields) or user_turn_cut(detail, body)
        if overflow is not None:  # before all else: llama.cpp and Ollama say it with a 500
            said = one_line(f"{self.spec}: HTTP {status} {detail}", self._secrets)
            return ContextOverflow(said, overflow, status=status)
        if status == 404 and not httpx.URL(self.base_url).path.strip("/"):
            # Ollama, vLLM, llama.cpp and LM Studio all serve the API under /v1.
            shown = shown_url(self.base_url)
            detail += f" (OpenAI-compatible servers answer under /v1: try {shown}/v1)"
        if status in (401, 403) and self._unsent_userinfo:
            detail += (
                " (the credentials in the base URL were not sent: with an API key set, the"
                " key goes in the Authorization header)"
            )
        text = one_line(f"{self.spec}: HTTP {status} {detail}{served}", self._secrets)
        lowered = detail.lower()
        if "tools" in body and "tool" in lowered:
            # llama.cpp without --jinja refuses tools with a 500: "tools param requires
            # --jinja flag" (older: "Unsupported param: tools"), not a passing failure
            if status in (400, 422, 501) or any(s in lowered for s in _TOOLS_500):
                return _Refused("tools", text)
        # llama.cpp-family servers refuse a json_schema they do not know with a 500
        if status in (400, 422, 500) and "response_format" in body and "response_format" in lowered:
            return _Refused("response_format", text)
        if transient_status(status):
            hint = retry_after_hint(response.headers)
            return TransientProviderError(text, retry_after=hint, status=status)
        return ProviderError(text, status=status)

    async def _read_stream(
        self, response: httpx.Response, on_text: Callable[[str], None]
    ) -> dict[str, Any]:
        """Fold SSE chunks into one non-streamed response body.

        A server or proxy that ignores ``stream: true`` answers with the whole completion
        as JSON: that body is the answer (told to ``on_text`` at once). A stream that stops
        before its finish reason and its ``[DONE]`` is cut off, not an answer.
        """
        text: list[str] = []
        thought: list[str] = []
        calls = StreamedCalls()
        finish: str | None = None
        usage: dict[str, Any] | None = None
        model = self._model
        events = done = False
        whole: list[str] = []
        async for line in response.aiter_lines():
            if line.startswith(("data:", "event:")):
                events = True
            elif not events:
                whole.append(line)
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise self._malformed(f"bad stream chunk {payload[:60]!r}") from None
            if not isinstance(chunk, dict):
                raise self._malformed("stream chunk is not a JSON object")
            self._raise_error_in(chunk, "stream error")
            # Groq sends the stream's usage in its own field of the last chunk.
            groq = chunk.get("x_groq")
            usage = (
                chunk.get("usage")
                or (groq.get("usage") if isinstance(groq, dict) else None)
                or usage
            )
            model = chunk.get("model") or model
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                finish = choice.get("finish_reason") or finish
                parts = content_parts(delta.get("content"))
                if parts is None:
                    raise self._malformed("stream content is not text")
                if parts[0]:
                    text.append(parts[0])
                    on_text(parts[0])
                # vLLM sends both fields with the same text; llama.cpp reasoning_content
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                thought.extend(t for t in (reasoning, parts[1]) if isinstance(t, str) and t)
                for piece in delta.get("tool_calls") or []:
                    calls.add(piece)
        if not events:
            body = "\n".join(whole)
            if not body.strip() and "event-stream" in response.headers.get("content-type", ""):
                # closed after the 200 and before the first event: cut off, not malformed
                raise TransientProviderError(
                    f"{self.spec}: the stream ended before the answer began"
                )
            return self._whole_reply(body, on_text)
        if not done and finish is None:
            raise TransientProviderError(f"{self.spec}: the stream ended before the answer did")
        tool_calls = calls.as_wire()
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
        if thought:
            message["reasoning_content"] = "".join(thought)
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "model": model,
            "choices": [{"message": message, "finish_reason": finish}],
            "usage": usage,
        }

    def _raise_error_in(self, data: dict[str, Any], what: str) -> None:
        error = data.get("error")
        if error:  # an object with a message, or (llama.cpp, some proxies) a string
            said = error.get("message") if isinstance(error, dict) else error
            text = one_line(f"{self.spec}: {what}: {said}", self._secrets)
            # vLLM and OpenRouter give the status the error would have had as its code: a
            # 429 or 5xx after the 200 that began the stream is worth another try.
            code = str(error.get("code", "")) if isinstance(error, dict) else ""
            if code.isdigit() and transient_status(int(code)):
                raise TransientProviderError(text, status=int(code))
            raise ProviderError(text)

    def _whole_reply(self, body: str, on_text: Callable[[str], None]) -> dict[str, Any]:
        """A streamed request answered with one body: the completion it holds."""
        if not body.strip():
            raise self._malformed("a streamed request was answered with an empty body")
        try:
            data = json.loads(body)
        except ValueError:
            raise self._malformed(
                "a streamed request was answered with neither an event stream nor JSON"
            ) from None
        if not isinstance(data, dict):
            raise self._malformed("body is not a JSON object")
        self._raise_error_in(data, "error")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._malformed("a streamed request was answered with JSON without choices")
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and content:
            on_text(content)
        return data


_SHAPE_ERRORS = (AttributeError, KeyError, OverflowError, TypeError, ValueError)
"""What reading a JSON reply of an unexpected shape raises: a "malformed response"."""


_TOOLS_500 = ("tools param requires", "unsupported param: tools")
"""What llama.cpp says, with an HTTP 500, when it cannot take ``tools`` at all."""


class _Refused(Exception):
    """The server refused a feature (``tools`` or ``response_format``) we can do without."""

    def __init__(self, about: str, message: str) -> None:
        super().__init__(message)
        self.about = about
        self.message = message
