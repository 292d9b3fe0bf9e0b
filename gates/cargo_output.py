"""The one line a failed cargo command is headed by: the failing test, or the first error.

A custom gate's headline was the last line of its output. ``cargo test`` ends a failed run
with ``error: test failed, to rerun pass `--lib```, ``cargo fmt --check`` with the last line
of its diff (``}``): the retry's context and the console said nothing of what failed.
:func:`cargo_headline` names the failing tests, the panic under the first and libtest's
count; for a build that does not compile (rustc, clippy) the first error and where it is;
for rustfmt the files it would change.
"""

from __future__ import annotations

import re

from gates.node_output import HEADLINE_CHARS, PART_CHARS

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\(B")
_FAILED_TEST = re.compile(r"^(\S+) --- FAILED$|^test (\S+) \.\.\. FAILED$")
"""libtest naming a failing test: terse (``--quiet``) or one line per test."""
_PANIC = re.compile(r"^thread '[^']*'(?: \(\d+\))? panicked at (\S+?):?$")
_RESULT = re.compile(r"^test result: FAILED\. .*?(\d+ passed; \d+ failed)")
_ERROR = re.compile(r"^error(?:\[E\d+\])?: (?!test failed|could not compile|aborting)\S")
_AT = re.compile(r"^\s*--> (\S+)$")
_DIFF = re.compile(r"^Diff in (\S+?):(\d+):?$")


def _bounded(line: str, limit: int = PART_CHARS) -> str:
    text = " ".join(line.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _joined(parts: list[str]) -> str:
    headline = " — ".join(dict.fromkeys(_bounded(part) for part in parts))
    return headline if len(headline) <= HEADLINE_CHARS else headline[: HEADLINE_CHARS - 1] + "…"


def cargo_headline(output: str) -> str | None:
    """What a failed ``cargo test``, ``cargo build``/``clippy`` or ``cargo fmt --check``
    says failed, bounded; None when ``output`` is none of theirs."""
    lines = [line.rstrip() for line in _ANSI.sub("", output).splitlines()]
    failed = [m.group(1) or m.group(2) for line in lines if (m := _FAILED_TEST.match(line))]
    if failed:
        parts = [", ".join(dict.fromkeys(failed)) + " failed"]
        for index, line in enumerate(lines):
            if (panic := _PANIC.match(line)) is not None:
                said = next((text for text in lines[index + 1 :] if text.strip()), "")
                parts.append(f"panicked at {panic.group(1)}: {said}")
                break
        parts += [f"{m.group(1)}" for line in lines if (m := _RESULT.match(line))][:1]
        return _joined(parts)
    for index, line in enumerate(lines):
        if _ERROR.match(line):
            at = next(
                (m.group(1) for text in lines[index + 1 : index + 4] if (m := _AT.match(text))),
                None,
            )
            return _joined([line if at is None else f"{line} at {at}"])
    diffs = [f"{m.group(1)}:{m.group(2)}" for line in lines if (m := _DIFF.match(line))]
    if diffs:
        return _joined([f"rustfmt would reformat {len(diffs)} place(s): {', '.join(diffs[:3])}"])
    return None
