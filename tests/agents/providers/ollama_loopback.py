"""An Ollama on 127.0.0.1 that answers from what it is sent, for the tests of a prompt cut
without a word.

Ollama's OpenAI-compatible endpoint refuses no prompt over the model's context window
(``num_ctx``; 4096 by default on a small GPU, docs/context-length.mdx): it keeps the end of
it and answers from that. Since 0.32 it keeps ``num_ctx / 2 + 2`` tokens of it (ollama#17427,
ollama#17889: 2050 of a 4096 window), before that the window's worth (``truncating input
prompt limit=2048 ... new=2048`` in its log). The usage it reports counts what it kept. This
server renders the request to text, counts three characters a token (a code tokenizer),
cuts as Ollama does, and answers saying whether what it kept still held the system prompt.

With ``api`` it speaks Ollama's own API too, which says the window: ``GET /api/version``,
``GET /api/ps`` (the loaded models, each with the ``context_length`` it was allocated; the
model is loaded by its first chat request, or ``loaded`` from the start) and ``POST
/api/show`` (the Modelfile's ``parameters`` text, with a ``num_ctx`` line where
``modelfile_num_ctx`` is set, and ``model_info`` with the length the model was trained to,
which is not the window). Without it, it stands for an Ollama behind a proxy that passes only
``/v1``. With ``needs_user_turn``, a cut that drops every user turn is answered as a chat
template that wants one answers it: HTTP 500 "no user query found in messages"
(ollama#18107).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from provider_loopback import Reply, Seen

CHARS_PER_TOKEN = 3
SAW_IT = "I have read the task and will do it."
MISSED_IT = "Sure! What would you like me to do?"


def rendered(body: dict[str, Any]) -> str:
    """The request as a chat template makes it one text: tools first, then each turn."""
    parts = [json.dumps(body.get("tools") or [])]
    for message in body["messages"]:
        parts.append(f"<|{message['role']}|>{message.get('content') or ''}")
        parts.extend(json.dumps(call) for call in message.get("tool_calls") or [])
    return "".join(parts)


@dataclass
class OllamaLike:
    """``num_ctx``: the window it runs with; ``halves``: keep ``num_ctx / 2 + 2`` tokens of an
    over-long prompt (0.32 and later), else ``num_ctx``. ``marker``: what the system prompt
    holds, looked for in what was kept."""

    num_ctx: int
    marker: str
    halves: bool = True
    api: bool = False
    loaded: bool = False
    modelfile_num_ctx: int | None = None
    needs_user_turn: bool = False
    trained: int = 131_072
    """The ``<arch>.context_length`` in ``model_info``: what the model was trained to."""
    prompts: list[int] = field(default_factory=list)
    """Each chat request's prompt in this server's tokens, whole."""
    kept: list[int] = field(default_factory=list)
    """What it kept of each one."""

    def __call__(self, seen: Seen) -> Reply:
        if self.api and seen.path.startswith("/api/"):
            return self.native(seen)
        if seen.path != "/v1/chat/completions":
            return Reply(404, {"error": {"message": f"no route {seen.path}"}})
        self.loaded = True
        text = rendered(seen.body)
        tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
        kept = tokens
        if tokens > self.num_ctx:
            kept = self.num_ctx // 2 + 2 if self.halves else self.num_ctx
        self.prompts.append(tokens)
        self.kept.append(kept)
        tail = text[-kept * CHARS_PER_TOKEN :]
        if self.needs_user_turn and "<|user|>" not in tail:
            error = {"message": "no user query found in messages", "type": "api_error"}
            return Reply(500, {"error": error})
        content = SAW_IT if self.marker in tail else MISSED_IT
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }
        usage = {"prompt_tokens": kept, "completion_tokens": 12, "total_tokens": kept + 12}
        return Reply(json_body={"model": seen.body["model"], "choices": [choice], "usage": usage})

    def native(self, seen: Seen) -> Reply:
        """Ollama's own API: its version, the models loaded, a model's Modelfile."""
        if seen.path == "/api/version":
            return Reply(json_body={"version": "0.32.14"})
        if seen.path == "/api/ps":
            listed = {"name": "qwen:latest", "model": "qwen:latest", "context_length": self.num_ctx}
            return Reply(json_body={"models": [listed] if self.loaded else []})
        if seen.path == "/api/show" and seen.body.get("model") in ("qwen", "qwen:latest"):
            parameters = 'stop "<|im_end|>"\ntemperature 0.7'
            if self.modelfile_num_ctx is not None:
                parameters += f"\nnum_ctx {self.modelfile_num_ctx}"
            info = {"general.architecture": "qwen2", "qwen2.context_length": self.trained}
            return Reply(json_body={"parameters": parameters, "model_info": info})
        return Reply(404, {"error": f"no route {seen.path}"})
