"""The real model providers behind agents.provider.Provider, and what wraps them.

anthropic (AsyncAnthropic), gemini (google-genai), openai (any OpenAI-compatible server over
httpx), cli (an external coding agent in the worktree; its definitions, stream parsers,
process runner, fence, secret files and failures in the cli_* modules beside it);
provider_errors (the kinds of failure), retrying (retries, timeouts), fallback_chain
(fallback chains) and limits (concurrency, tokens per minute).
agents/registry.py builds them from model specs.
"""
