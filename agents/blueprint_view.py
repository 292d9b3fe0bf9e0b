"""A blueprint as the review panel and the twin are shown it: whole, or cut to the window.

The reviewers and the twin read the whole blueprint: its JSON with indent 2, the text a
reviewer's SEARCH/REPLACE patches apply to (:func:`engine.stages.apply_patches`). A plan of
many tasks with a long spec was over a small model's window, and the role failed in one line.
Cut to the window as the other one-message roles' prompts are (:mod:`agents.prompt_fit`), it
keeps whole what a reviewer judges the plan by and its patches name: the acceptance criteria,
every task's id, title and ``depends_on``, and the JSON's brackets. What may be cut is the
spec, the tasks' descriptions, test plans and file lists: the spec's head is given a third of
the room first, then the lines most relevant to the request (BM25) are kept whole in their
order, one more is cut to its head, and each run of lines left out is a marker naming them.

A patch must apply only to text its reviewer was shown: a search text found once in the whole
blueprint may lie in a part it never saw (a guessed ``"test_plan": ""``), and replacing it
there would change what nobody reviewed. :meth:`BlueprintView.unseen` tells, and the reviewer
refuses such a patch and asks again, as it does a search text not found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agents.context import BM25, tokenize
from agents.prompt_fit import left_out, lines_of
from agents.provider import CHARS_PER_TOKEN
from agents.templates import render_prompt
from engine.blueprint import Blueprint

KEPT = frozenset({"acceptance_criteria", "tasks", "id", "title", "depends_on"})
"""The fields always shown whole: what the plan is judged by, and the DAG patches must keep."""
SPEC_SHARE = 3
"""The spec is given up to 1/SPEC_SHARE of the room left for what may be cut, first."""
MIN_HEAD = 160
"""The fewest characters a line cut to its head keeps (else it is left out whole)."""
NOTE = (
    "[Parts of this blueprint were left out to fit the model's context window, each marked "
    "[… left out …]. Copy a patch's search text only from what is shown.]\n"
)

_KEY = re.compile(r'^( *)"(\w+)": ')


@dataclass(frozen=True)
class BlueprintView:
    """What a role was shown of a blueprint's JSON (``full``): ``text``, whose verbatim
    pieces are the ``spans`` (start, end) of ``full``."""

    full: str
    text: str
    spans: tuple[tuple[int, int], ...]

    @property
    def whole(self) -> bool:
        return self.text == self.full

    def unseen(self, search: str) -> bool:
        """Whether ``search``, where it first occurs in the whole blueprint, is (even in part)
        outside what was shown. Not found at all is not unseen: that is another refusal."""
        at = self.full.find(search) if search else -1
        if at == -1:
            return False
        end = at + len(search)
        return not any(start <= at and end <= stop for start, stop in self.spans)


def whole_view(full: str) -> BlueprintView:
    return BlueprintView(full, full, ((0, len(full)),))


def _fields(lines: list[str]) -> list[str | None]:
    """Each line's field (``spec``, ``description``, a list's items and closing bracket as
    its field), or None for the JSON's own brackets."""
    fields: list[str | None] = []
    current: str | None = None
    for line in lines:
        key = _KEY.match(line)
        if key is not None:
            fields.append(key[2])
            opens = line.rstrip().endswith("[") and key[2] != "tasks"
            current = key[2] if opens else None
        elif current is not None:
            fields.append(current)
            if line.strip() in ("]", "],"):
                current = None
        else:
            fields.append(None)
    return fields


def _choose(lines: list[str], fields: list[str | None], room: int, query: str) -> dict[int, int]:
    """The characters kept of each line that may be cut (its length: whole), within
    ``room``."""
    units = [i for i, field in enumerate(fields) if field is not None and field not in KEPT]
    kept: dict[int, int] = {}
    spec = [i for i in units if fields[i] == "spec"]
    if spec:
        share = min(len(lines[spec[0]]), max(0, room) // SPEC_SHARE)
        if share == len(lines[spec[0]]) or share >= MIN_HEAD:
            kept[spec[0]], room = share, room - share
    index = BM25([tokenize(lines[i]) for i in units])
    terms = tokenize(query)
    order = sorted(range(len(units)), key=lambda n: (-index.score(terms, n), n))
    over: list[int] = []
    for n in order:
        i = units[n]
        if i in kept:
            continue
        if len(lines[i]) <= room:
            kept[i], room = len(lines[i]), room - len(lines[i])
        else:
            over.append(i)
    if over and room >= MIN_HEAD:
        kept[over[0]] = room
    return kept


def _render(
    full: str, lines: list[str], fields: list[str | None], kept: Mapping[int, int]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    out: list[str] = [NOTE]
    spans: list[tuple[int, int]] = []
    gap: list[int] = []

    def show(start: int, stop: int) -> None:
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], stop)
        else:
            spans.append((start, stop))

    def flush() -> None:
        if gap:
            indent = len(lines[gap[0]]) - len(lines[gap[0]].lstrip(" "))
            said = list(dict.fromkeys(str(fields[i]) for i in gap))  # its task's: above
            out.append(" " * indent + left_out(len(gap), said) + "\n")
            gap.clear()

    at = 0
    for i, line in enumerate(lines):
        keep = len(line) if fields[i] is None or fields[i] in KEPT else kept.get(i, 0)
        if keep >= len(line):
            flush()
            out.append(line)
            show(at, at + len(line))
        elif keep > 0:
            flush()
            out.append(f"{line[:keep]}[… {len(line) - keep} characters left out …]\n")
            show(at, at + keep)
        else:
            gap.append(i)
        at += len(line)
    flush()
    assert at == len(full)
    return "".join(out), tuple(spans)


def view_blueprint(full: str, keep: int, query: str) -> BlueprintView:
    """``full`` (a blueprint's JSON, indent 2) within about ``keep`` characters: whole when
    it fits; else what may be cut is cut (the module's docstring says how). What is always
    shown is shown even when it alone is over ``keep``."""
    if len(full) <= keep:
        return whole_view(full)
    lines = lines_of(full)  # not splitlines: JSON leaves U+2028 and \x85 in a string
    fields = _fields(lines)
    fixed = sum(len(line) for line, f in zip(lines, fields, strict=True) if f is None or f in KEPT)
    aim = keep - fixed - len(NOTE)
    while True:  # the markers take room too: aim lower until the result fits
        text, spans = _render(full, lines, fields, _choose(lines, fields, aim, query))
        if len(text) <= keep or aim <= 0:
            return BlueprintView(full, text, spans)
        aim -= max(len(text) - keep, 64)


def blueprint_prompt(
    template: str,
    fixed: Mapping[str, str],
    blueprint: Blueprint,
    query: str,
    budget: int | None,
) -> tuple[str, BlueprintView]:
    """Template ``template`` filled with ``fixed`` and the blueprint (``$blueprint``) cut to
    what ``budget`` (estimated tokens; None: no limit) leaves, and the view it shows."""
    full = blueprint.model_dump_json(indent=2)
    prompt = render_prompt(template, **fixed, blueprint=full)
    if budget is None or len(prompt) <= budget * CHARS_PER_TOKEN:
        return prompt, whole_view(full)
    bare = render_prompt(template, **fixed, blueprint="")
    view = view_blueprint(full, budget * CHARS_PER_TOKEN - len(bare), query)
    return render_prompt(template, **fixed, blueprint=view.text), view
