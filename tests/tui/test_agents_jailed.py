"""Which runs leave the repository's refs, config and hooks to the user during an attempt:
those whose engineer's every command is jailed with the git directory read-only (the
built-in toolbelt under bubblewrap). An external coding agent keeps the guard."""

from __future__ import annotations

import pytest

from tui.crew_setup import agents_jailed


@pytest.mark.parametrize(
    ("kind", "spec", "jailed"),
    [
        ("bwrap", "sim:", True),
        ("bwrap", "anthropic:claude-sonnet-4-6", True),
        ("bwrap", "openai:qwen@http://127.0.0.1:8000/v1 | gemini:gemini-2.5-pro", True),
        ("bwrap", "cli:claude", False),
        ("bwrap", "openai:qwen@http://127.0.0.1:8000/v1 | cli:codex", False),
        ("process", "sim:", False),
        ("process", "anthropic:claude-sonnet-4-6", False),
    ],
)
def test_only_a_toolbelt_engineer_under_bubblewrap_is_jailed(
    kind: str, spec: str, jailed: bool
) -> None:
    assert agents_jailed(kind, spec) is jailed
