"""A role's one big prompt made to fit the model's context window.

The planner, the critic, the review panel, the task reviewer and QC each send one user message:
the request or the spec, and then what they are shown of the repository — its file list and
map, its sources, a diff. :mod:`agents.compaction` cannot shorten it (the task message stays
whole), so a local model with an 8k-32k window refused it. Here the prompt is built for the
window the model is known to have (``context_tokens`` configured, or learnt by
:class:`~agents.providers.context_fit.ContextFit` from a refusal): what the role must see whole
(the request, the spec, the acceptance criteria, the instructions) stays, and each variable
part (:class:`Part`) is cut to its share of what is left — its lines or blocks (a file's diff,
a file's sources) ranked by BM25 relevance to the role's question, the best kept in their
order, each run of what was cut replaced by a ``[… N lines left out …]`` marker so the model
knows. With no window known, the prompt is as it always was. One the fixed text alone does not
fit is sent all the same, and ContextFit fails it in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, compress, count, pairwise, repeat
from types import MappingProxyType

from agents.context import BM25, tokenize
from agents.provider import CHARS_PER_TOKEN, CompletionRequest, Provider
from agents.providers.context_fit import ContextFit
from agents.providers.fallback_chain import FallbackProvider
from agents.templates import render_prompt

MIN_PARTIAL_CHARS = 400
"""A block is cut to its head only when at least this much room is left for it."""
MAX_NAMED = 4
"""How many left-out blocks a marker names."""


def message_room(provider: Provider, request: CompletionRequest) -> int | None:
    """The estimated tokens ``request``'s messages may take on ``provider`` (None: no window
    known). A fallback chain's is its largest link's, and None while a link's is unknown: a
    link that cannot take a prompt passes it on, unsent, to one that can take it whole."""
    if isinstance(provider, ContextFit):
        return provider.message_room(request)
    if isinstance(provider, FallbackProvider):
        rooms = [message_room(p, request) for p in provider.providers]
        known = [r for r in rooms if r is not None]
        return max(known) if known and len(known) == len(rooms) else None
    inner = getattr(provider, "inner", None)
    return message_room(inner, request) if inner is not None else None


def left_out(lines: int, names: Sequence[str] = ()) -> str:
    """The marker standing for ``lines`` lines cut out (of the blocks ``names``)."""
    named = ""
    if names:
        more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
        named = ": " + ", ".join(names[:MAX_NAMED]) + more
    return f"[… {lines} lines left out{named} …]"


def lines_of(text: str) -> list[str]:
    """``text``'s lines, each with its newline, broken at ``\\n`` only: ``str.splitlines``
    also breaks at form feeds, ``\\x85`` and U+2028, which JSON and sources hold inside a
    line."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


@dataclass(frozen=True)
class Blocks:
    """How a part is cut: where its blocks start, and what names a left-out one."""

    starts: Callable[[str], bool] | None = None
    """A line that starts a new block (None: each line is a block)."""
    name: Callable[[str], str] | None = None
    """A block's name from its first line, for the marker (None: unnamed)."""
    pinned: int = 0
    """Leading lines always kept (a heading the blocks follow)."""


LINES = Blocks()


def _head_of(block: str, keep: int) -> str:
    """The whole lines of ``block`` that fit ``keep`` characters, and a marker for the rest."""
    lines = lines_of(block)
    keep -= len(left_out(len(lines))) + 1  # the marker's own room
    taken, size = [], 0
    for line in lines:
        if size + len(line) > keep:
            break
        taken.append(line)
        size += len(line)
    rest = len(lines) - len(taken)
    return "".join(taken) + (left_out(rest) + "\n" if rest else "")


_TOKENS_AND_NEWLINES = re.compile(r"[A-Za-z][a-z0-9]+|[0-9]{2,}|\n")
""":func:`agents.context.tokenize`'s words (the same matches, but for the one-character ones
it drops) and each newline, found in one pass over a text."""
_CHUNK = 1 << 16
"""About how many characters of a text are tokenized in one call."""
_NONE: Mapping[str, int] = MappingProxyType({})


def _block_words(
    body: str, firsts: Sequence[int], wanted: set[str]
) -> tuple[list[int], dict[int, dict[str, int]]]:
    """How many words (:func:`~agents.context.tokenize`'s) each block of ``body`` holds (its
    lines from one of ``firsts`` to the next), and how often each of the ``wanted`` words is
    in the blocks that hold one (by block)."""
    # The words (ASCII: lower-cased at once), each between two spaces of its own: a line
    # of n words holds 2n + 2 spaces, and " word " is counted in it as often as it is there.
    # Found a chunk of lines at a time: one call over megabytes would hold the GIL, and the
    # event loop with it, for all that time even in a thread.
    chunks, start = [], 0
    while start < len(body):
        end = body.find("\n", start + _CHUNK) + 1 or len(body)
        found = _TOKENS_AND_NEWLINES.findall(body, start, end)
        if found:
            chunks.append("  ".join(found).lower())
        start = end
    if not chunks:
        return [0] * (len(firsts) - 1), {}
    spaced = f"  {'  '.join(chunks)}  "
    before = list(accumulate(map(len, spaced.split("\n")), initial=0))
    bounds = [before[line] + line for line in firsts]  # where each block starts in spaced
    starts, ends = bounds[:-1], bounds[1:]
    spaces = map(spaced.count, repeat(" "), starts, ends)
    lengths = [(n - 2 * (b - a)) // 2 for n, (a, b) in zip(spaces, pairwise(firsts), strict=True)]
    if not wanted:
        return lengths, {}
    words = [f" {word} " for word in sorted(wanted)]
    holds = re.compile("|".join(map(re.escape, words))).search
    held: dict[int, dict[str, int]] = {}
    for block in compress(count(), map(holds, repeat(spaced), starts, ends)):
        start, end = bounds[block], bounds[block + 1]
        tf = {word[1:-1]: spaced.count(word, start, end) for word in words}
        held[block] = {word: n for word, n in tf.items() if n}
    return lengths, held


@dataclass(frozen=True)
class _Ranked:
    """A text split into its pinned head and its blocks, the blocks ranked against a query
    (BM25): done once for every aim of :func:`cut_to`, in time linear in the text."""

    text: str
    head: str
    starts: list[int]
    """Where each block starts in ``text``, and then its end."""
    sizes: list[int]
    """Each block's length in characters."""
    lines: list[int]
    """How many lines come before each block (after the head), and then all of them."""
    names: list[str]
    """Each block's name (empty when ``how`` names none)."""
    order: list[int]
    """The blocks, most relevant first (ties in their order)."""

    def block(self, i: int) -> str:
        return self.text[self.starts[i] : self.starts[i + 1]]

    @classmethod
    def of(cls, text: str, query: str, how: Blocks) -> _Ranked:
        lines = lines_of(text)
        ends = [0, *accumulate(map(len, lines))]
        pinned = min(how.pinned, len(lines))
        firsts = list(range(pinned, len(lines)))
        if how.starts is not None:
            starts = how.starts
            firsts = [n for n in firsts if n == pinned or starts(lines[n])]
        names = [how.name(lines[n].split("\n", 1)[0]) for n in firsts] if how.name else []
        firsts.append(len(lines))
        terms = tokenize(query)
        body = [n - pinned for n in firsts]
        lengths, found = _block_words(text[ends[pinned] :], body, set(terms))
        index = BM25.of_counts([found.get(i, _NONE) for i in range(len(lengths))], lengths=lengths)
        # A block with no word of the query scores 0, one with any more: those come first.
        scores = {i: -index.score(terms, i) for i in found}
        order = sorted(found, key=scores.__getitem__)
        order += [i for i in range(len(lengths)) if i not in scores]
        starts_at = [ends[n] for n in firsts]
        return cls(
            text,
            text[: ends[pinned]],
            starts_at,
            [b - a for a, b in pairwise(starts_at)],
            body,
            names,
            order,
        )


def _pick(ranked: _Ranked, keep: int, how: Blocks) -> str:
    room = keep - len(ranked.head)
    chosen: dict[int, str] = {}
    partial = False
    for i in ranked.order:
        size = ranked.sizes[i]
        if size <= room:
            chosen[i], room = ranked.block(i), room - size
        elif not partial and how.starts is not None and room >= MIN_PARTIAL_CHARS:
            chosen[i] = _head_of(ranked.block(i), room)
            room, partial = 0, True
    out = [ranked.head]
    after = 0  # the first block after the last one kept

    def gap(upto: int) -> None:
        if upto > after:
            names = ranked.names[after:upto]
            out.append(left_out(ranked.lines[upto] - ranked.lines[after], names) + "\n")

    for i in sorted(chosen):
        gap(i)
        out.append(chosen[i])
        after = i + 1
    gap(len(ranked.sizes))
    return "".join(out)


def cut_to(text: str, keep: int, query: str, how: Blocks = LINES) -> str:
    """``text`` within about ``keep`` characters: its most relevant blocks to ``query`` (BM25;
    in their order when none is), the runs of those left out each a marker; as it is when it
    fits. Time linear in ``text`` (but for sorting the blocks that hold a word of ``query``)."""
    if len(text) <= keep:
        return text
    ranked = _Ranked.of(text, query, how)
    aim = keep
    while True:  # the markers take room too: aim lower until the result fits
        cut = _pick(ranked, max(0, aim), how)
        if len(cut) <= keep or aim <= 0:
            return cut
        aim -= max(len(cut) - keep, 64)


@dataclass(frozen=True)
class Part:
    """A variable part of a prompt: its text, what it is ranked against, how it is cut."""

    text: str
    query: str
    how: Blocks = LINES
    empty: str = "(none)"
    """What the prompt shows when the text is empty."""
    cap: int | None = None
    """The most characters it ever takes, window or not (cut the same way)."""

    @cached_property
    def capped(self) -> str:
        """The text cut to ``cap``: once, for every prompt built for a window."""
        if self.cap is None:
            return self.text
        return cut_to(self.text, self.cap, self.query, self.how)


def shares(sizes: Mapping[str, int], room: int) -> dict[str, int]:
    """``room`` characters shared among parts of ``sizes``: a part smaller than an even share
    keeps its size, the others split what is left evenly."""
    given: dict[str, int] = {}
    left, names = max(0, room), sorted(sizes, key=lambda n: sizes[n])
    for number, name in enumerate(names):
        share = left // (len(names) - number)
        given[name] = min(sizes[name], share)
        left -= given[name]
    return given


def fit_prompt(
    template: str, fixed: Mapping[str, str], parts: Mapping[str, Part], budget: int | None
) -> str:
    """Template ``template`` filled with ``fixed`` whole and ``parts`` cut to share what
    ``budget`` (estimated tokens; None: no limit) leaves after the fixed text."""
    texts = {name: part.capped for name, part in parts.items()}
    whole = {name: texts[name] or part.empty for name, part in parts.items()}
    prompt = render_prompt(template, **fixed, **whole)
    if budget is None or len(prompt) <= budget * CHARS_PER_TOKEN:
        return prompt
    bare = render_prompt(template, **fixed, **dict.fromkeys(parts, ""))
    room = budget * CHARS_PER_TOKEN - len(bare)
    given = shares({name: len(text) for name, text in texts.items()}, room)
    cut = {
        name: cut_to(texts[name], given[name], part.query, part.how) if texts[name] else part.empty
        for name, part in parts.items()
    }
    return render_prompt(template, **fixed, **cut)


def diff_blocks() -> Blocks:
    """A unified diff cut file by file (``diff --git a/X b/X``), named by its path."""
    return Blocks(
        starts=lambda line: line.startswith("diff --git "),
        name=lambda line: line.rsplit(" b/", 1)[-1].strip(),
    )


def source_blocks() -> Blocks:
    """Numbered sources cut file by file (``### path``), named by their path."""
    return Blocks(starts=lambda line: line.startswith("### "), name=lambda line: line[4:].strip())
