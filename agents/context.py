"""Context selection: give each engineer attempt only what its task needs, within a budget.

An attempt's context is built from, in order of priority:

1. the run's learnings (traps and rules from earlier runs and retries);
2. the files the blueprint names for the task and for the tasks it depends on, in full;
3. a repo map — the classes, methods and functions of every Python file (from ``ast``),
   every other file by name;
4. the other files, ranked by BM25 relevance to the task's text, while the budget lasts
   (only those scoring at least a share of the best match).

Files that hold secrets (:func:`engine.secret_files.is_secret_file`: a ``.env``, a private
key, ``credentials.json``...) go to a third-party model only masked: the repo map names them
with no symbols, the ranking never picks one, and one the blueprint names is included with its
values masked and a note saying so. Every file included has its key-shaped values masked
(:func:`engine.secret_files.masked_for_model`).

The failure context of a retry is put in the prompt by the engineer role itself; its tokens
are reserved from the same budget here. BM25 is implemented below (Robertson/Sparck Jones
with the usual k1 = 1.5, b = 0.75 and the non-negative idf ``ln(1 + (N - df + .5)/(df + .5))``);
it needs no package. Tokens are estimated at four characters each, the budget's unit.
"""

from __future__ import annotations

import ast
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.file_digests import FileDigest, FileDigests
from engine.blob_ids import index_blob_ids
from engine.secret_files import MASK_NOTE, is_secret_file, masked_for_model

MAX_FILE_BYTES = 200_000
SKIP_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache"})
_WORD = re.compile(r"[A-Za-z][a-z0-9]*|[0-9]+")


def estimate_tokens(text: str) -> int:
    """Tokens in ``text``, estimated at four characters per token."""
    return math.ceil(len(text) / 4) if text else 0


def tokenize(text: str) -> list[str]:
    """Lower-case words; snake_case and CamelCase identifiers split into their parts."""
    return [w.lower() for w in _WORD.findall(text) if len(w) > 1]


def repo_files(root: Path) -> list[str]:
    """Text files under ``root`` (relative POSIX paths, sorted), skipping VCS and caches.

    The skipped folders are not walked at all (a ``node_modules`` is not read to be left out).
    Symlinks are no files here: one leading out of the worktree names a file of the machine
    (``~/.aws/credentials``, the ``../.env`` beside the checkout), whose text went into the
    prompt; one inside is a second name for a file listed under its own (and judged by it: a
    ``notes.txt`` linked to the ``.env`` was ranked in with its values shown).
    """
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if name not in SKIP_DIRS]
        rel = Path(folder).relative_to(root)
        for name in names:
            if name in SKIP_DIRS:
                continue
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES:
                found.append((rel / name).as_posix())
    return sorted(found)


def read_text(root: Path, rel: str) -> str | None:
    """A file's text, or None when it is missing or not UTF-8."""
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def python_symbols(source: str) -> list[str]:
    """Top-level classes (with their methods) and functions of a Python module."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ["(does not parse)"]
    symbols = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = [
                n.name
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                and (not n.name.startswith("_") or n.name == "__init__")
            ]
            symbols.append(f"class {node.name}" + (f"({', '.join(methods)})" if methods else ""))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            symbols.append(f"def {node.name}")
    return symbols


def digest(text: str | None, python: bool) -> FileDigest:
    """What selection uses of a file's ``text`` (None: unreadable): symbols and words."""
    if text is None:
        return FileDigest((), Counter())
    return FileDigest(tuple(python_symbols(text)) if python else (), Counter(tokenize(text)))


DIGESTS = FileDigests(digest)
"""The process's digests, by content: recon's map and every attempt's selection share them."""


def repo_map(
    root: Path,
    files: Sequence[str],
    digests: FileDigests = DIGESTS,
    blob_ids: Mapping[str, str] | None = None,
) -> str:
    """One line per file: Python files with their symbols, other files by name (``blob_ids``:
    see :meth:`FileDigests.of`)."""
    lines = []
    python = [rel for rel in files if rel.endswith(".py") and not is_secret_file(rel)]
    symbols = dict(zip(python, digests.of(root, python, blob_ids), strict=True))
    for rel in files:
        if is_secret_file(rel):
            lines.append(f"{rel} (holds secrets: values not shown)")
        elif rel in symbols and symbols[rel].symbols:
            lines.append(f"{rel}: {'; '.join(symbols[rel].symbols)}")
        else:
            lines.append(rel)
    return "\n".join(lines)


class BM25:
    """Okapi BM25 over a small corpus of documents (token lists)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.counts: Sequence[Mapping[str, int]] = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self._index()

    @classmethod
    def of_counts(
        cls,
        counts: Sequence[Mapping[str, int]],
        k1: float = 1.5,
        b: float = 0.75,
        *,
        lengths: Sequence[int] | None = None,
    ) -> BM25:
        """The index of documents given by their term counts (as ``Counter(doc)``). With
        their ``lengths`` (in terms) given, ``counts`` may hold only the terms ever asked for:
        the scores are the same."""
        index = cls.__new__(cls)
        index.k1, index.b = k1, b
        index.counts = counts
        index.lengths = [sum(c.values()) for c in counts] if lengths is None else list(lengths)
        index._index()
        return index

    def _index(self) -> None:
        n = len(self.counts)
        self.avg_length = (sum(self.lengths) / n) if n else 0.0
        df: Counter[str] = Counter()
        for counts in self.counts:
            if counts:  # most of a long text's lines hold no word of the query
                df.update(counts.keys())
        self.idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}

    def score(self, query: Iterable[str], index: int) -> float:
        """The BM25 score of document ``index`` for ``query``."""
        counts, length = self.counts[index], self.lengths[index]
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_length) if self.avg_length else 0
        total = 0.0
        for term in set(query):
            tf = counts.get(term, 0)
            if tf:
                total += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return total


def rank_files(
    root: Path,
    files: Sequence[str],
    query: str,
    digests: FileDigests = DIGESTS,
    blob_ids: Mapping[str, str] | None = None,
) -> list[tuple[str, float]]:
    """``files`` with a positive BM25 score for ``query`` (path and text), best first
    (``blob_ids``: see :meth:`FileDigests.of`)."""
    counts = []
    for rel, found in zip(files, digests.of(root, files, blob_ids), strict=True):
        words = found.terms.copy()
        words.update(tokenize(rel))
        counts.append(words)
    index = BM25.of_counts(counts)
    terms = tokenize(query)
    scored = [(rel, index.score(terms, i)) for i, rel in enumerate(files)]
    return sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))


@dataclass
class ContextPack:
    """The selected context of one attempt, as prompt text, and what went into it."""

    text: str
    tokens: int
    budget: int
    files: list[str] = field(default_factory=list)
    """Files included in full, in the order they appear."""
    ranked: list[str] = field(default_factory=list)
    """Files the ranking proposed, best first (included or not)."""
    repo_map: bool = False
    reserved: int = 0
    """Tokens reserved for the failure context the engineer role adds."""


def _section(title: str, body: str) -> str:
    return f"## {title}\n{body.rstrip()}\n"


def _file_block(rel: str, text: str) -> str:
    """A file as the prompt shows it: masked as a model may see it, with a note when it is."""
    shown = masked_for_model(rel, text)
    note = f"{MASK_NOTE}\n" if shown != text else ""
    return _section(f"File {rel}", f"{note}```\n{shown.rstrip()}\n```")


_EMPTY_BLOCK = len(_file_block("", ""))
"""The characters of a file's block beyond its path and text: the least one costs."""


def select_context(
    root: Path,
    task_text: str,
    *,
    named_files: Sequence[str] = (),
    failure: str = "",
    learnings: Sequence[str] = (),
    budget_tokens: int = 6000,
    exclude: Sequence[str] = (),
    min_relevance: float = 0.35,
    digests: FileDigests = DIGESTS,
) -> ContextPack:
    """Pick the context of one attempt in the worktree ``root`` within ``budget_tokens``.

    ``named_files`` are the blueprint's files for the task and its dependencies (missing
    ones are skipped); ``exclude`` are files never included (e.g. the task's own test files).
    A ranked file is included only when its score reaches ``min_relevance`` times the best
    score: a weak match costs tokens and distracts more than it helps. ``digests``: where
    each file's symbols and words are kept by content (:mod:`agents.file_digests`).
    """
    reserved = min(estimate_tokens(failure), budget_tokens // 2)
    left = budget_tokens - reserved
    parts: list[str] = []
    included: list[str] = []

    def take(block: str) -> bool:
        nonlocal left
        cost = estimate_tokens(block)
        if cost > left:
            return False
        parts.append(block)
        left -= cost
        return True

    if learnings:
        take(_section("Learnings from earlier runs", "\n".join(f"- {x}" for x in learnings)))
    files = repo_files(root)
    blob_ids = index_blob_ids(root)  # one reading for the map and the ranking: nothing writes
    present = set(files)
    skip = set(exclude)
    for rel in dict.fromkeys(named_files):
        if rel in present and rel not in skip:
            text = read_text(root, rel)
            if text is not None and take(_file_block(rel, text)):
                included.append(rel)
    has_map = bool(files) and take(
        _section("Repository map", repo_map(root, files, digests, blob_ids))
    )
    # A file holding secrets is shown only when the task names it (masked), never on a
    # match of words: its values are no help to the task and should not travel.
    candidates = [f for f in files if f not in included and f not in skip and not is_secret_file(f)]
    scored = rank_files(root, candidates, task_text, digests, blob_ids)
    floor = scored[0][1] * min_relevance if scored else 0.0
    ranked = [rel for rel, score in scored if score >= floor]
    # Once the budget left is short of a file's block, the file is neither read nor masked:
    # its size is known from an earlier selection of its content (a ranked file holds no
    # secrets, so its block depends on its content and path alone), or at least its header's.
    for rel in ranked:
        blob = blob_ids.get(rel)
        known = digests.shown_size(blob) if blob is not None else None
        if math.ceil((len(rel) + (_EMPTY_BLOCK if known is None else known)) / 4) > left:
            continue
        text = read_text(root, rel)
        if text is None:
            continue
        block = _file_block(rel, text)
        if blob is not None:
            digests.remember_shown_size(blob, len(block) - len(rel))
        if take(block):
            included.append(rel)
    text = "\n".join(parts)
    return ContextPack(
        text=text,
        tokens=estimate_tokens(text),
        budget=budget_tokens,
        files=included,
        ranked=ranked,
        repo_map=has_map,
        reserved=reserved,
    )
