"""A worktree file's bytes as text for the engineer's tools, and back to bytes unchanged.

Files are the user's, so an edit changes only what it says: a file with Windows line endings
keeps them (the model reads and writes ``\n``), bytes that are not UTF-8 survive an edit
untouched, and a binary file is named as such instead of decoded (:mod:`agents.toolbelt`).
"""

from __future__ import annotations

from dataclasses import dataclass


class ToolError(ValueError):
    """A tool call the toolbelt refuses; the message goes back to the model."""


BINARY_SNIFF_BYTES = 8192
"""A NUL byte in a file's first bytes makes it binary (git's own test)."""


@dataclass(frozen=True)
class FileText:
    """A file's text as the model sees it (``\n`` line ends), and how to write it back."""

    text: str
    crlf: bool
    utf8: bool

    def encode(self, text: str) -> bytes:
        """``text`` in the file's own line endings; bytes that were not UTF-8 kept as such."""
        if self.crlf:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        return text.encode("utf-8", "surrogateescape")


def load_text(raw: bytes, name: str) -> FileText:
    """A text file's bytes as they are; ToolError for a binary one."""
    if b"\0" in raw[:BINARY_SNIFF_BYTES]:
        raise ToolError(f"{name} is a binary file ({len(raw)} bytes); it cannot be edited")
    try:
        text, utf8 = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, utf8 = raw.decode("utf-8", "surrogateescape"), False
    lines = text.count("\n")
    crlf = lines > 0 and text.count("\r\n") == lines
    return FileText(text.replace("\r\n", "\n") if crlf else text, crlf, utf8)


def shown_text(loaded: FileText) -> str:
    """What read_file answers: undecodable bytes as U+FFFD, with a note saying so."""
    if loaded.utf8:
        return loaded.text
    shown = loaded.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    note = (
        "[note: this file is not valid UTF-8; the bytes shown as \ufffd are kept as they are "
        "by edit_file, so edit around them rather than rewriting the file]\n"
    )
    return note + shown
