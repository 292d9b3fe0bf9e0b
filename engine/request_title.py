"""A run's title and its shipped branch's slug, read from its request.

A request file often starts with a Markdown heading (``# Add unique_slugify``, then the longer
text). The heading, without its ``#``s, is the run's title (``runs``, ``status``, the started
line), and the shipped branch is named after it alone: before, the title read "# Add …" and the
slug ran heading and body together ("add-unique-slugify-add-unique-sl"). A request without a
heading is titled by its first line and slugged whole, as before.

The shipped branch's name is fixed when the run starts and recorded in its RunStarted
(:attr:`~engine.events.RunStarted.ship_branch`): a run started before it was recorded ships, when
resumed, as it was named then, after its whole request (:func:`engine.ship.ship`).
"""

from __future__ import annotations

import re

from engine.terminal_escapes import without_escapes

__all__ = ["branch_slug", "request_title", "slugify", "split_request"]

_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*")
"""``# Title``, ``## Title ##``: CommonMark's ATX heading (a ``#`` followed by a space)."""
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*")
"""The line under a setext heading (``Title`` then ``=====``)."""


def split_request(request: str) -> tuple[str, str, bool]:
    """``(title, rest, heading)``: the request's leading Markdown heading without its marks
    (``heading`` True), or else its first line; and the text after it."""
    lines = request.strip().splitlines()
    if not lines:
        return "", "", False
    first = lines[0]
    atx = _ATX.fullmatch(first)
    if atx is not None and (atx.group(1) or "").strip():
        return atx.group(1).strip(), "\n".join(lines[1:]).strip(), True
    if len(lines) > 1 and first.strip() and _SETEXT.fullmatch(lines[1]):
        return first.strip(), "\n".join(lines[2:]).strip(), True
    return first, "\n".join(lines[1:]).strip(), False


def request_title(request: str) -> str:
    """The run's title: the request's leading heading (``# Add X`` -> ``Add X``), or else its
    first line."""
    return split_request(request)[0]


def slugify(text: str, limit: int = 32) -> str:
    """A branch-name-safe slug of ``text``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug[:limit].rstrip("-")) or "run"


def branch_slug(request: str) -> str:
    """The shipped branch's slug: of the request's leading heading alone when it has one,
    else of the whole request. Escape sequences go first, whole: their printable bytes
    were left in the name (``add-kelvin-2j-0m-pwned`` from "Add kelvin \\x1b[2J\\x1b[0m
    pwned")."""
    request = without_escapes(request)
    title, _, heading = split_request(request)
    return slugify(title if heading else request)
