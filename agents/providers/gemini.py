"""``gemini:MODEL`` — Gemini through the official google-genai SDK (async client).

Tools become function declarations (their JSON schema passed through as
``parameters_json_schema``), tool calls come back as ``functionCall`` parts and results go
back as ``functionResponse`` parts. Gemini attaches a thought signature to function-call
parts that must be sent back verbatim on the next turn; our ToolCall has no slot for it, so
the provider keeps the model's original parts by call id and replays them (a call it did not
make goes with the sentinel Gemini documents for unsigned calls). A response schema
uses JSON mode (``response_mime_type`` + ``response_json_schema``). Thinking is set per model
family (gemini_models.py): a Gemini 3 Flash-Lite is asked for MEDIUM, every other model thinks
at its own default, and no sampling setting is sent. Thoughts are billed as output and never
taken for the answer. The SDK's retries are off (its default), so retrying.py is the only
retry loop.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import httpx
import httpx2
from google import genai
from google.genai import errors, types

from agents.provider import (
    Completion,
    CompletionRequest,
    Message,
    ProviderError,
    ToolCall,
    Usage,
    estimated_usage,
)
from agents.providers.context_overflow import ContextOverflow, overflow_in
from agents.providers.gemini_models import output_limit, thinking_config
from agents.providers.provider_errors import (
    TransientProviderError,
    one_line,
    parse_retry_after,
    retry_after_hint,
    transient_status,
)

StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]
KEPT_PARTS = 2048
_VERSION_SUFFIX = re.compile(r"/(v\d+(?:alpha|beta)?\d*)/?$")
UNSIGNED = base64.urlsafe_b64decode("skip_thought_signature_validator")
"""The signature Gemini documents for a function call it did not make (another model's, or
one no longer kept): without one, Gemini 3 refuses the turn with a 400."""
_ids = itertools.count(1)
_NO_ANSWER = {
    "MALFORMED_FUNCTION_CALL": "the model's function call was malformed (MALFORMED_FUNCTION_CALL)"
}
"""How a reply without an answer is named, where its finish reason alone says too little."""


def _finish_name(finish: object) -> str:
    return str(getattr(finish, "name", finish or "")).upper()


def _stop_reason(finish: object, has_calls: bool) -> StopReason:
    name = _finish_name(finish)
    if name == "MAX_TOKENS":  # calls too: their arguments may be cut, not calls to run
        return "max_tokens"
    if has_calls:
        return "tool_use"
    if name in ("", "STOP", "FINISH_REASON_UNSPECIFIED", "NONE"):
        return "end_turn"
    return "error"


class GeminiProvider:
    """Gemini models through ``genai.Client(...).aio``."""

    family = "gemini"
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
            raise ProviderError("gemini spec needs a model: gemini:MODEL")
        self._model = model
        self._secrets = (api_key,)
        self.base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        root, version = split_api_version(self.base_url)
        options = types.HttpOptions(
            base_url=root,
            api_version=version,
            timeout=max(1, int(timeout_s * 1000)),
            httpx_async_client=http_client,
        )
        self._client = genai.Client(api_key=api_key, http_options=options)
        self._parts: OrderedDict[str, types.Part] = OrderedDict()
        self._thinking = thinking_config(model)
        """The model's thinking setting: its name decides it, so once per provider."""

    @property
    def model(self) -> str:
        return self._model

    @property
    def spec(self) -> str:
        return f"gemini:{self._model}"

    async def aclose(self) -> None:
        """Close the SDK's async HTTP client."""
        await self._client.aio.aclose()

    # -- request ---------------------------------------------------------------------------

    def _call_part(self, call: ToolCall) -> types.Part:
        """The model's own part for ``call``, verbatim; rebuilt where we never had it, or
        where compaction cut its arguments: that call no longer is what the model signed, so
        it goes with the marker in place of the signature (none where it had none: a parallel
        call after the first), and a whole request is not sent back in place of a cut one."""
        kept = self._parts.get(call.id)
        made = kept.function_call if kept is not None else None
        if kept is not None and made is not None and (made.args or {}) == call.arguments:
            return kept
        signed = kept is None or kept.thought_signature is not None
        return types.Part(
            function_call=types.FunctionCall(
                id=made.id if made else None, name=call.name, args=call.arguments
            ),
            thought_signature=UNSIGNED if signed else None,
        )

    def to_contents(self, messages: tuple[Message, ...]) -> list[types.Content]:
        """Our conversation as Gemini contents (``user`` / ``model`` turns)."""
        names: dict[str, str] = {}
        contents: list[types.Content] = []
        for message in messages:
            parts: list[types.Part]
            if message.role == "assistant":
                parts = [types.Part(text=message.content)] if message.content else []
                for call in message.tool_calls:
                    names[call.id] = call.name
                    parts.append(self._call_part(call))
                contents.append(types.Content(role="model", parts=parts or [types.Part(text=" ")]))
                continue
            if message.role == "tool":
                call_id = message.tool_call_id or ""
                kept = self._parts.get(call_id)
                original_id = kept.function_call.id if kept and kept.function_call else None
                key = "error" if message.is_error else "output"
                parts = [
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=original_id,
                            name=names.get(call_id, "tool"),
                            response={key: message.content},
                        )
                    )
                ]
            else:
                parts = [types.Part(text=message.content or " ")]
            if contents and contents[-1].role == "user" and contents[-1].parts is not None:
                contents[-1].parts.extend(parts)
            else:
                contents.append(types.Content(role="user", parts=parts))
        return contents

    def _config(self, request: CompletionRequest) -> types.GenerateContentConfig:
        system = request.system
        config: dict[str, Any] = {
            "max_output_tokens": output_limit(self._model, request.max_tokens)
        }
        if request.tools:
            declarations = [
                types.FunctionDeclaration(
                    name=t.name, description=t.description, parameters_json_schema=t.parameters
                )
                for t in request.tools
            ]
            config["tools"] = [types.Tool(function_declarations=declarations)]
            config["automatic_function_calling"] = types.AutomaticFunctionCallingConfig(
                disable=True
            )
            if request.response_schema is not None:
                schema = json.dumps(request.response_schema)
                system = f"{system}\n\nWhen you answer, reply with JSON matching: {schema}"
        elif request.response_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = request.response_schema
        if system:
            config["system_instruction"] = system
        if self._thinking is not None:
            config["thinking_config"] = self._thinking
        return types.GenerateContentConfig(**config)

    # -- call ------------------------------------------------------------------------------

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        """One generateContent call (streamGenerateContent when ``on_text`` is given)."""
        started = time.monotonic()
        contents: Any = self.to_contents(request.messages)
        config = self._config(request)
        models = self._client.aio.models
        try:
            if on_text is None:
                responses = [
                    await models.generate_content(
                        model=self._model, contents=contents, config=config
                    )
                ]
            else:
                responses = []
                stream = await models.generate_content_stream(
                    model=self._model, contents=contents, config=config
                )
                async for chunk in stream:
                    responses.append(chunk)
                    for text in _texts(chunk):
                        on_text(text)
        except errors.APIError as exc:
            raise self._api_error(exc) from None
        except (httpx.TimeoutException, httpx2.TimeoutException):
            raise TransientProviderError(f"{self.spec}: request timed out") from None
        except (httpx.TransportError, httpx2.TransportError) as exc:
            raise TransientProviderError(
                one_line(f"{self.spec}: connection failed: {exc!r}", self._secrets)
            ) from None
        except ValueError as exc:  # JSONDecodeError, UnknownApiResponseError, validation
            raise ProviderError(
                one_line(f"{self.spec}: malformed response: {exc}", self._secrets)
            ) from None
        if on_text is not None and not responses:  # closed before the first chunk
            raise TransientProviderError(f"{self.spec}: the stream ended before the answer began")
        completion = self._completion(request, responses, time.monotonic() - started)
        if on_text is not None and not any(
            r.candidates and r.candidates[0].finish_reason for r in responses
        ):
            # Gemini's last chunk carries the finish reason: without it the connection ended
            # mid-answer (a proxy's idle timeout), and what came is cut short, not an answer.
            raise TransientProviderError(f"{self.spec}: the stream ended before the answer did")
        return completion

    def _api_error(self, exc: errors.APIError) -> ProviderError:
        status = int(exc.code or 0)
        text = one_line(
            f"{self.spec}: HTTP {status} {exc.status or ''} {exc.message or ''}", self._secrets
        )
        overflow = overflow_in(exc.message or "")
        if overflow is not None:
            return ContextOverflow(text, overflow, status=status)
        if transient_status(status):
            headers = getattr(exc.response, "headers", None)
            hint = retry_after_hint(headers) if headers else None
            if hint is None:
                hint = _retry_info_delay(exc.details)
            return TransientProviderError(text, retry_after=hint, status=status)
        if status == 400 and "API_KEY_INVALID" in str(exc.details):
            status = 401  # Gemini answers a bad key with 400 INVALID_ARGUMENT
        return ProviderError(text, status=status)

    def _keep(self, call_id: str, part: types.Part) -> None:
        self._parts[call_id] = part
        while len(self._parts) > KEPT_PARTS:
            self._parts.popitem(last=False)

    def _completion(
        self,
        request: CompletionRequest,
        responses: list[types.GenerateContentResponse],
        latency_s: float,
    ) -> Completion:
        texts: list[str] = []
        calls: list[ToolCall] = []
        finish: object = None
        usage_meta: types.GenerateContentResponseUsageMetadata | None = None
        model = self._model
        candidates_seen = False
        for response in responses:
            usage_meta = response.usage_metadata or usage_meta
            model = response.model_version or model
            if not response.candidates:
                continue
            candidates_seen = True
            candidate = response.candidates[0]
            finish = candidate.finish_reason or finish
            parts = candidate.content.parts if candidate.content else None
            for part in parts or []:
                if part.function_call is not None and part.function_call.name:
                    call_id = part.function_call.id or ""
                    if not call_id or call_id in self._parts:
                        # A server may number calls per reply; the kept parts serve every
                        # conversation on this provider, so a repeated id gets one of ours
                        # (the server's goes back from the kept part).
                        call_id = f"gemini-call-{next(_ids)}"
                    self._keep(call_id, part)
                    calls.append(
                        ToolCall(
                            call_id, part.function_call.name, dict(part.function_call.args or {})
                        )
                    )
                elif part.text and not part.thought:
                    texts.append(part.text)
        if not candidates_seen:
            blocked = ""
            for response in responses:
                feedback = response.prompt_feedback
                if feedback is not None and feedback.block_reason is not None:
                    blocked = f" (prompt blocked: {feedback.block_reason})"
            raise ProviderError(f"{self.spec}: malformed response: no candidates{blocked}")
        reason = _finish_name(finish)
        if not calls and (
            reason == "MALFORMED_FUNCTION_CALL"
            or (not "".join(texts).strip() and _stop_reason(finish, False) == "error")
        ):
            # No call, and no answer: a call that did not parse (whatever text came with it),
            # or nothing at all for a reason of Gemini's own (SAFETY, RECITATION,
            # UNEXPECTED_TOOL_CALL, ...). Asked again within the retries, then failed naming
            # it, rather than read as an empty answer a role misreads ("Expecting value",
            # "stopped without calling finish" ended an engineer's attempt).
            why = _NO_ANSWER.get(reason, f"the model gave no answer (finish reason {reason})")
            raise TransientProviderError(f"{self.spec}: {why}")
        meta = usage_meta or types.GenerateContentResponseUsageMetadata()
        cached = meta.cached_content_token_count or 0
        text = "".join(texts)
        usage = Usage(
            input_tokens=max(0, (meta.prompt_token_count or 0) - cached),
            output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
            cache_read_tokens=cached,
        )
        if not meta.prompt_token_count and not usage.output_tokens:
            # A gateway that strips usageMetadata: 0 tokens would hide the call from every
            # token budget, so they are estimated from the text.
            usage = estimated_usage(request, text, tuple(calls))
        return Completion(
            text=text,
            tool_calls=tuple(calls),
            usage=usage,
            stop_reason=_stop_reason(finish, bool(calls)),
            model=model,
            latency_s=latency_s,
        )


def split_api_version(base_url: str | None) -> tuple[str | None, str | None]:
    """A base URL that ends in the API version (``http://proxy:8080/v1beta``, as people paste
    it) split into the root and that version: the SDK appends its own version to the root
    (``/v1`` by default), so ``…/v1beta/v1/models/…`` would miss. Without a version in the
    URL the SDK's choice stands (``GOOGLE_GENAI_API_VERSION`` included)."""
    if base_url is None:
        return None, None
    match = _VERSION_SUFFIX.search(base_url)
    if match is None:
        return base_url, None
    return base_url[: match.start()] + "/", match.group(1)


def _retry_info_delay(details: object) -> float | None:
    """The wait an error body's ``google.rpc.RetryInfo`` asks for (``"retryDelay": "45.8s"``).
    Gemini sends a 429 without ``retry-after``: its only hint is this entry of the body."""
    error = details.get("error", details) if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith(".rpc.RetryInfo"):
            delay = entry.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                return parse_retry_after(delay[:-1])
    return None


def _texts(chunk: types.GenerateContentResponse) -> list[str]:
    if not chunk.candidates or chunk.candidates[0].content is None:
        return []
    return [p.text for p in chunk.candidates[0].content.parts or [] if p.text and not p.thought]
