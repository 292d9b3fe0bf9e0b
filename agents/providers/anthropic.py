"""``anthropic:MODEL`` — Claude through the official SDK (AsyncAnthropic).

The request's parameters are built by :mod:`agents.providers.anthropic_request` (turns, cache
breakpoints, how a response schema is asked for); this module sends them and reads the reply.
How a schema is asked for is the model's own (:mod:`agents.providers.anthropic_models`): a
forced tool where forcing is accepted, structured outputs where it is not; a 400 that names
what was sent moves the model to the next way for the rest of the run, and the call is made
again at once. A reply's thinking blocks are never its text; a tool-calling reply's are kept
and sent back with it (:mod:`agents.providers.anthropic_thinking`). Thinking tokens are
billed as output and the API's ``output_tokens`` already counts them. The SDK's own retries
are off: retrying.py retries.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal

import anthropic
import httpx2
from anthropic.resources.messages import messages as sdk_messages

from agents.provider import (
    UNPARSED_ARGUMENTS,
    Completion,
    CompletionRequest,
    ProviderError,
    ToolCall,
    Usage,
    estimated_usage,
)
from agents.providers.anthropic_models import THINKING_HEADROOM, traits_of
from agents.providers.anthropic_request import NEXT_MODE, RESPOND_TOOL, AnswerMode, build_params
from agents.providers.anthropic_thinking import THINKING_TYPES, KeptThinking
from agents.providers.context_overflow import ContextOverflow, overflow_in
from agents.providers.provider_errors import (
    TransientProviderError,
    one_line,
    retry_after_hint,
    transient_status,
)

DEPRECATED_MODELS: dict[str, str] = dict(getattr(sdk_messages, "DEPRECATED_MODELS", {}))
"""The models the SDK warns are deprecated, with their end-of-life dates: the list its
messages module checks (imported there, not exported, since 2.13; absent in old releases)."""
STREAM_ABOVE_TOKENS = 16_000
StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]
_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "pause_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "error",
}


_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""The HTTP status the API answers each error type with (for an error inside a stream)."""


def without_version(base_url: str | None) -> str | None:
    """A base URL pasted with the API's ``/v1`` (as OpenAI-compatible URLs are written) without
    it: the SDK adds ``/v1/messages`` itself, and ``…/v1/v1/messages`` is a 404."""
    if base_url is None:
        return None
    trimmed = base_url.rstrip("/")
    return trimmed[: -len("/v1")] if trimmed.endswith("/v1") else base_url


class AnthropicProvider:
    """Claude models through AsyncAnthropic; ``http_client`` is an ``httpx2.AsyncClient``."""

    family = "anthropic"
    simulated = False

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        if not model:
            raise ProviderError("anthropic spec needs a model: anthropic:MODEL")
        self._model = model
        self._secrets = (api_key,)
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=without_version(self.base_url),
            timeout=timeout_s,
            max_retries=0,
            http_client=http_client,
            open_telemetry=False,
        )
        traits = traits_of(model)
        self.answer_mode: AnswerMode = "forced_tool" if traits.forced_tool else "output_format"
        """How a response schema is asked for now (learnt from a refusal, see module doc)."""
        self.thinks = traits.thinks
        """Whether the model thinks unasked (so needs headroom): known, or seen in a reply."""
        self._kept = KeptThinking()

    @property
    def model(self) -> str:
        return self._model

    @property
    def spec(self) -> str:
        return f"anthropic:{self._model}"

    @property
    def deprecation(self) -> str | None:
        """When the SDK lists this model as deprecated: its end-of-life date; else None."""
        return DEPRECATED_MODELS.get(self._model)

    def _must_stream(self, max_tokens: int) -> bool:
        """The SDK refuses long non-streamed requests and warns on deprecated models."""
        return max_tokens > STREAM_ABOVE_TOKENS or self.deprecation is not None

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        await self._client.close()

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """One Messages API call, streamed when ``on_text`` is given; made once more at once
        when the model refuses the way a response schema was asked for."""
        started = time.monotonic()
        while True:
            mode = self.answer_mode
            headroom = THINKING_HEADROOM if self.thinks else 0
            params, prefix = build_params(self._model, request, mode, self._kept, headroom)
            try:
                message = await self._send(params, request.max_tokens + headroom, on_text)
            except ProviderError as exc:
                if not self._refused_mode(exc, params, mode):
                    raise
                self.answer_mode = NEXT_MODE[mode]
                continue
            break
        try:
            return self._completion(message, request, prefix, time.monotonic() - started)
        except (AttributeError, TypeError, ValueError) as exc:
            # The SDK builds its objects without checking them: a gateway's string where a
            # block goes, or "12k" tokens, only shows here.
            raise ProviderError(
                one_line(
                    f"{self.spec}: malformed response: unexpected shape ({exc})", self._secrets
                )
            ) from None

    @staticmethod
    def _refused_mode(exc: ProviderError, params: dict[str, Any], mode: AnswerMode) -> bool:
        """Whether ``exc`` is the API refusing how ``params`` asked for the answer: a 400
        naming the forced ``tool_choice``, or the ``output_config`` it does not take."""
        if exc.status != 400 or isinstance(exc, ContextOverflow) or mode not in NEXT_MODE:
            return False
        said = str(exc)
        if mode == "forced_tool":
            return "tool_choice" in params and "tool_choice" in said
        return "output_config" in params and ("output_config" in said or "output_format" in said)

    async def _send(
        self, params: dict[str, Any], max_tokens: int, on_text: Callable[[str], None] | None
    ) -> anthropic.types.Message:
        """The API's message for ``params``; a ProviderError for anything else."""
        try:
            if on_text is None and not self._must_stream(max_tokens):
                message = await self._client.messages.create(**params)
            else:
                with warnings.catch_warnings():
                    # Synchronous: the SDK's own model-deprecation warning, reported by
                    # `deprecation` instead of raised in the middle of a run.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    manager = self._client.messages.stream(**params)
                async with manager as stream:
                    if not _event_stream(stream.response):
                        message = await self._whole_reply(stream.response, on_text)
                    else:
                        async for text in stream.text_stream:
                            if on_text is not None:
                                on_text(text)
                        message = await self._final_message(stream)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from None
        except (anthropic.APITimeoutError, httpx2.TimeoutException):
            raise TransientProviderError(f"{self.spec}: request timed out") from None
        except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
            # The SDK maps httpx's failures to its own only while it sends; one while it
            # reads the event stream (a connection reset half-way) comes through as httpx's.
            cause = exc.__cause__ or exc
            raise TransientProviderError(
                one_line(f"{self.spec}: connection failed: {cause!r}", self._secrets)
            ) from None
        except (
            anthropic.APIResponseValidationError,
            AttributeError,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            raise ProviderError(
                one_line(f"{self.spec}: malformed response: {exc}", self._secrets)
            ) from None
        if not isinstance(message, anthropic.types.Message) or not isinstance(
            message.content, list
        ):
            raise ProviderError(f"{self.spec}: malformed response: not a Messages API message")
        if message.stop_reason is None:
            # A stream that ended before its message_delta: what came is cut short (a tool
            # call's input too), not an answer. The API always sets it on a whole message.
            raise TransientProviderError(f"{self.spec}: the stream ended before the message did")
        return message

    async def _whole_reply(
        self, response: httpx2.Response, on_text: Callable[[str], None] | None
    ) -> anthropic.types.Message:
        """A streamed request answered with one JSON body (a gateway that does not stream):
        a whole Messages API message is the answer, told to ``on_text`` at once; an error
        body is the error it names; anything else is malformed (ValueError)."""
        await response.aread()
        data = json.loads(response.content)
        if not isinstance(data, dict):
            raise ValueError("a streamed request was answered with JSON that is not an object")
        error = data.get("error")
        if data.get("type") == "error" and isinstance(error, dict):
            kind = str(error.get("type") or "api_error")
            raise self._error(
                _STREAM_ERROR_STATUS.get(kind, 500),
                f"HTTP {response.status_code} {kind}: {error.get('message')}",
                retry_after_hint(response.headers),
            )
        if data.get("type") != "message":
            raise ValueError(
                "a streamed request was answered with JSON that is not a Messages API message"
            )
        message = anthropic.types.Message.model_validate(data)
        text = "".join(b.text for b in message.content if b.type == "text")
        if on_text is not None and text:
            on_text(text)
        return message

    async def _final_message(self, stream: Any) -> anthropic.types.Message:
        try:
            message: anthropic.types.Message = await stream.get_final_message()
        except AssertionError:  # the SDK's own check: not one message event in the stream
            if stream.response.num_bytes_downloaded:
                raise ValueError("the event stream carried no message") from None
            # Closed after the 200 and before the first byte (a restart, a proxy's idle
            # timeout): cut off as a stream cut later is, so asked again.
            raise TransientProviderError(
                f"{self.spec}: the stream ended before the message began"
            ) from None
        return message

    def _error(self, status: int, detail: str, retry_after: float | None) -> ProviderError:
        text = one_line(f"{self.spec}: {detail}", self._secrets)
        overflow = overflow_in(detail)
        if overflow is not None:
            return ContextOverflow(text, overflow, status=status)
        if transient_status(status):
            return TransientProviderError(text, retry_after=retry_after, status=status)
        return ProviderError(text, status=status)

    def _status_error(self, exc: anthropic.APIStatusError) -> ProviderError:
        status = exc.status_code
        detail = exc.message
        kind = None
        if isinstance(exc.body, dict):
            error = exc.body.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                kind = error.get("type")
                detail = f"{kind or 'error'}: {error['message']}"
        where = f"HTTP {status}"
        if status < 400:
            # An `error` event in a stream the API had begun with HTTP 200 (how it reports an
            # overload mid-stream): judged by the error's type, as the API's status for it.
            status = _STREAM_ERROR_STATUS.get(str(kind), 500)
            where = "error in the stream:"
        return self._error(status, f"{where} {detail}", retry_after_hint(exc.response.headers))

    def _completion(
        self,
        message: anthropic.types.Message,
        request: CompletionRequest,
        prefix: str,
        latency_s: float,
    ) -> Completion:
        texts: list[str] = []
        calls: list[ToolCall] = []
        answer: str | None = None
        answering = request.response_schema is not None and not request.tools
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                arguments = (
                    block.input
                    if isinstance(block.input, dict)
                    else {UNPARSED_ARGUMENTS: str(block.input)}  # a gateway's, not the API's
                )
                if answering and block.name == RESPOND_TOOL:
                    answer = json.dumps(arguments)
                else:
                    calls.append(ToolCall(block.id, block.name, dict(arguments)))
            elif block.type in THINKING_TYPES:
                self.thinks = True  # not an answer: kept below if the reply called tools
        if answer is not None:
            texts = [answer]  # the respond tool's input is the answer; any preamble is not
        text = "".join(texts)
        self._kept.keep(prefix, list(message.content), text, tuple(calls))
        stop = _STOP.get(str(message.stop_reason), "end_turn")
        if answering and stop == "tool_use":
            stop = "end_turn"
        usage = message.usage
        return Completion(
            text=text,
            tool_calls=tuple(calls),
            usage=Usage(
                input_tokens=_tokens(usage.input_tokens),
                output_tokens=_tokens(usage.output_tokens),  # thinking included, as billed
                cache_read_tokens=_tokens(usage.cache_read_input_tokens),
                cache_write_tokens=_tokens(usage.cache_creation_input_tokens),
            )
            # A gateway that strips the usage: the answer stands, its tokens estimated
            # (0 would hide the call from every token budget).
            if usage is not None
            else estimated_usage(request, text, tuple(calls)),
            stop_reason=stop,
            model=str(message.model or self._model),
            latency_s=latency_s,
        )


def _event_stream(response: httpx2.Response) -> bool:
    """Whether ``response`` is the event stream a streamed request asked for."""
    return "text/event-stream" in response.headers.get("content-type", "").lower()


def _tokens(count: object) -> int:
    """A token count of the reply; ValueError for one that is not a number."""
    if count is None:
        return 0
    if isinstance(count, bool) or not isinstance(count, int | float) or not math.isfinite(count):
        raise ValueError(f"token count {str(count)[:40]!r} is not a number")
    return int(count)
