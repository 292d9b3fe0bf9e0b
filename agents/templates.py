"""Role prompts live as files in agents/prompts/, versioned with the code."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def load_prompt(name: str) -> Template:
    """The prompt template ``agents/prompts/<name>.md`` (``$placeholders``)."""
    text = resources.files("agents").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    return Template(text)


def render_prompt(name: str, **values: str) -> str:
    """Fill a prompt template; every placeholder must be given."""
    return load_prompt(name).substitute(values)
