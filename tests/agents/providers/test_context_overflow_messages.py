"""Each server's words for a request over the model's context window, as documented or
reported in its issues, read as an overflow with the sizes it gave; other refusals are not."""

from __future__ import annotations

import pytest

from agents.providers.context_overflow import Overflow, overflow_in

SAID = [
    (  # vLLM before 2025 (vllm-project/vllm#20409)
        "This model's maximum context length is 16384 tokens. However, you requested 122946 "
        "tokens (112946 in the messages, 10000 in the completion). Please reduce the length "
        "of the messages or completion.",
        {},
        Overflow(16384, 112946, 122946),
    ),
    (  # vLLM's renderer since 2025
        "This model's maximum context length is 32768 tokens. However, you requested 4096 "
        "output tokens and your prompt contains at least 28673 input tokens, for a total of "
        "at least 32769 tokens. Please reduce the length of the input prompt or the number "
        "of requested output tokens.",
        {},
        Overflow(32768, 28673, 32769),
    ),
    (  # vLLM, an answer too large for what the prompt leaves (compacting lowers it)
        "'max_tokens' or 'max_completion_tokens' is too large: 4096. This model's maximum "
        "context length is 4096 tokens and your request has 100 input tokens (4096 > 4096 - "
        "100).",
        {},
        Overflow(4096, 100, None),
    ),
    (  # vLLM's engine
        "The decoder prompt (length 40000) is longer than the maximum model length of 32768. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens.",
        {},
        Overflow(32768, 40000, None),
    ),
    (  # OpenAI
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130500 tokens. Please reduce the length of the messages.",
        {"type": "invalid_request_error", "code": "context_length_exceeded"},
        Overflow(128000, 130500, None),
    ),
    (  # llama.cpp's server (ggml-org/llama.cpp#15780)
        "the request exceeds the available context size. try increasing the context size or "
        "enable context shift",
        {"code": 500, "type": "exceed_context_size_error", "n_prompt_tokens": 1407, "n_ctx": 256},
        Overflow(256, 1407, None),
    ),
    (  # llama.cpp's server before it gave the counts
        "the request exceeds the available context size, try increasing it",
        {"code": 400, "type": "invalid_request_error"},
        Overflow(None, None, None),
    ),
    (  # Ollama with truncation off
        "the input length exceeds the context length",
        {},
        Overflow(None, None, None),
    ),
    (  # Anthropic
        "prompt is too long: 208656 tokens > 200000 maximum",
        {},
        Overflow(200000, 208656, None),
    ),
    (  # Anthropic, prompt and max_tokens together
        "input length and `max_tokens` exceed context limit: 197000 + 8192 > 200000, "
        "decrease input length or `max_tokens` and try again",
        {},
        Overflow(200000, 197000, None),
    ),
    (  # Gemini (google-gemini/gemini-cli#13006)
        "The input token count (1054016) exceeds the maximum number of tokens allowed (1048576).",
        {},
        Overflow(1048576, 1054016, None),
    ),
]


@pytest.mark.parametrize(("message", "fields", "overflow"), SAID)
def test_an_overflow_is_read_with_the_sizes_the_server_gave(message, fields, overflow):
    assert overflow_in(message, fields) == overflow


@pytest.mark.parametrize(
    "message",
    [
        "max_tokens: 10000 > 4096, which is the maximum allowed number of output tokens for "
        "claude-3-5-sonnet-20240620",  # the answer's own cap: not the conversation's size
        "loopback-coder does not support tools",
        "Overloaded",
        "API key not valid. Pass a valid API key.",
        "Rate limit reached for gpt-4 on tokens per min. Limit: 150000 / min.",
    ],
)
def test_other_refusals_are_not_overflows(message):
    assert overflow_in(message, {"type": "invalid_request_error"}) is None
