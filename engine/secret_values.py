"""The literal values a repository's secret files hold, so output quoting them is masked.

:mod:`engine.secret_files` masks a ``.env`` or a ``credentials.json`` where a model reads the
file. The same values still came back through what commands print: ``cat .env``, ``grep -r
PASSWORD .``, a test printing its settings, a gate's failure quoting a config. Only key
*shapes* were masked there, and ``DB_PASSWORD=hunter2-prod`` has none. So the values the
masking hides are collected (:func:`file_secret_values`) from the secret files a repository
tracks (:func:`tracked_secret_files`, :func:`committed_secret_values`) and replaced, as
literals, in the output that goes to a model or into the run's log
(:class:`WorktreeSecrets` for one worktree's tool output; the run's event bus for the rest).

Not every masked value is taken: a value shorter than :data:`MIN_VALUE_LENGTH`, a trivial one
(a number, a boolean, a ``${VAR}``), and, under a key whose name is no secret's
(``DB_HOST``, ``REGION``), a plain word or a URL or path without a password (``localhost``,
``postgres``, ``https://api.example.com``): replaced in every line a test prints, those would
blind the model to ordinary output. Under a secret-named key (``DB_PASSWORD``) any value is
taken, and so is each line of a private key's body.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from engine.repo_guard import HOOKLESS, without_secrets
from engine.secret_files import BEGIN_ANY, END, is_secret_file, masked_line
from engine.secret_index import SKIPPED_DIRS, SecretFileIndex, ignored_folders
from engine.secrets import REDACTED, is_secret_name

MIN_VALUE_LENGTH = 6
"""Shorter values (``admin``, ``5432``) would mask ordinary words in every output."""
MAX_FILE_BYTES = 1_000_000
"""A secret file larger than this (a ``.tfstate`` of a big estate) is read up to here."""
BINARY_SNIFF_BYTES = 8192
_PLAIN = re.compile(
    r"[A-Za-z]+(?:[-_. ][A-Za-z]+)*|[a-z][a-z0-9+.\-]*://[^\s@:/]+(?:[/?#]\S*)?|/\S*"
)
"""A value that is no secret by its look: words without a digit, a URL without a user part,
an absolute path."""
_URL_PASSWORD = re.compile(r"://[^\s/@:'\"]*:([^\s/@'\"]+)@")
_KEY_END = re.compile(r"[\w.\-/:]+$")


def _key_before(text: str) -> str:
    """The name a value stands under, from the text before it (``DB_PASSWORD=``,
    ``  "client_secret": "``, ``login``): its last word."""
    found = _KEY_END.search(text.rstrip(" \t=:\"'"))
    return found[0].rstrip(":") if found else ""


def _line_values(line: str, masked: str) -> list[tuple[str, str]]:
    """``(key, value)`` for each value of ``line`` its ``masked`` form replaces."""
    parts = masked.split(REDACTED)
    if len(parts) < 2:
        return []
    pattern = "^" + "(.*?)".join(re.escape(part) for part in parts) + "$"
    found = re.match(pattern, line, re.DOTALL)
    if found is None:
        return []
    pairs: list[tuple[str, str]] = []
    pos = 0
    for index in range(1, len(parts)):
        start = found.start(index)
        pairs.append((_key_before(line[pos:start]), found[index]))
        pos = found.end(index)
    return pairs


def _taken(key: str, value: str) -> bool:
    value = value.strip()
    if len(value) < MIN_VALUE_LENGTH or REDACTED in value:
        return False
    return not key or is_secret_name(key) or not _PLAIN.fullmatch(value)


def file_secret_values(text: str) -> list[str]:
    """The values of a secret file's ``text`` that output quoting them must not show: what
    :func:`~engine.secret_files.mask_secret_text` masks, less what the module docstring
    leaves out."""
    values: dict[str, None] = {}
    in_block = False
    for line in text.splitlines():
        if in_block:
            if END.search(line):
                in_block = False
            elif len(line.strip()) >= MIN_VALUE_LENGTH:
                values[line.strip()] = None  # a private key's body, line by line
            continue
        begins = BEGIN_ANY.search(line)
        if begins and not END.search(line, begins.end()):
            in_block = True
            continue
        for key, value in _line_values(line, masked_line(line)):
            if _taken(key, value):
                values[value.strip()] = None
            password = _URL_PASSWORD.search(value)
            if password and len(password[1]) >= MIN_VALUE_LENGTH:
                values[password[1]] = None  # printed alone too (a client's connect log)
    return list(values)


def _is_text(raw: bytes) -> bool:
    return b"\0" not in raw[:BINARY_SNIFF_BYTES]


def _read_regular(path: Path) -> bytes | None:
    """The first :data:`MAX_FILE_BYTES` of the regular file at ``path``; None for anything
    else: a named pipe an agent made (``mkfifo .env``) would hold a plain open for good,
    waiting for a writer, and a device would never end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            return handle.read(MAX_FILE_BYTES)
        except OSError:
            return None


def _git(root: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *(part for option in HOOKLESS for part in ("-c", option)), *args],
            cwd=root,
            env={**os.environ, **without_secrets()},
            capture_output=True,
            check=False,
            start_new_session=True,
        )
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def tracked_secret_files(root: Path) -> list[str]:
    """The secret files of the worktree at ``root`` (relative POSIX paths): those git
    tracks there, or, outside a git worktree, those found walking it."""
    if (root / ".git").exists():
        listed = _git(root, "ls-files", "-z", "--cached")
        if listed is not None:
            names = listed.decode("utf-8", "surrogateescape").split("\0")
            return [name for name in names if name and is_secret_file(name)]
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        rel = Path(folder).relative_to(root)
        found += [
            (rel / name).as_posix() for name in files if is_secret_file((rel / name).as_posix())
        ]
    return sorted(found)


def present_secret_files(root: Path) -> list[str]:
    """The secret files in the worktree at ``root`` now: those git tracks, and those written
    since that git does not (a new ``.env``, ignored or not; none inside an ignored folder
    such as ``node_modules/``); outside a git worktree, those found walking it."""
    if not (root / ".git").exists():
        return tracked_secret_files(root)
    found = set(tracked_secret_files(root))
    for listing in (
        ("--others", "--exclude-standard"),
        ("--others", "--ignored", "--exclude-standard", "--directory"),
    ):
        listed = _git(root, "ls-files", "-z", *listing)
        if listed is not None:
            names = listed.decode("utf-8", "surrogateescape").split("\0")
            found.update(n for n in names if n and not n.endswith("/") and is_secret_file(n))
    return sorted(found)


MAX_CHECKOUT_FILES = 100
"""At most this many of the checkout's secret files are masked (the shallowest first): each
is a bind of the fence and a file read at every agent start."""


def checkout_secret_files(checkout: Path) -> list[str]:
    """The secret files of the user's checkout (relative to it), which a worktree's agent or
    command can read by their absolute path where nothing hides the checkout (it finds the
    checkout with ``git rev-parse --git-common-dir``). Its untracked ``.env``, ignored
    as it should be and so in no worktree, is the common one; those git tracks, and those it
    does not (none inside a folder git ignores, such as ``node_modules/``), count too. The
    shallowest :data:`MAX_CHECKOUT_FILES`."""
    found = sorted(present_secret_files(checkout), key=lambda rel: (rel.count("/"), rel))
    return found[:MAX_CHECKOUT_FILES]


def committed_secret_values(repo: Path, commit: str) -> list[str]:
    """The secret values (:func:`file_secret_values`) of the secret files ``commit`` of the
    repository at ``repo`` holds; none when git cannot say."""
    listed = _git(repo, "ls-tree", "-r", "-z", "--name-only", commit)
    if listed is None:
        return []
    names = [n for n in listed.decode("utf-8", "surrogateescape").split("\0") if n]
    values: dict[str, None] = {}
    for name in (n for n in names if is_secret_file(n)):
        raw = _git(repo, "cat-file", "blob", f"{commit}:{name}")
        if raw and _is_text(raw):
            text = raw[:MAX_FILE_BYTES].decode("utf-8", "replace")
            values.update(dict.fromkeys(file_secret_values(text)))
    return list(values)


def quoted_forms(values: Iterable[str]) -> list[str]:
    """``values`` and each as it is written inside a JSON string (a quote or a backslash
    escaped, a non-ASCII character as ``\\uXXXX`` too), longest first."""
    forms: set[str] = set()
    for value in values:
        forms.add(value)
        forms.update(json.dumps(value, ensure_ascii=ascii)[1:-1] for ascii in (True, False))
    return sorted(forms, key=len, reverse=True)


def replace_values(text: str, forms: Iterable[str]) -> str:
    """``text`` with each of ``forms`` (longest first) as :data:`~engine.secrets.REDACTED`.

    One ``in`` test per value, a C scan each: for the few dozen values a repository's secret
    files hold this is faster than one alternation of them all, which ``re`` tries branch by
    branch at every character (measured in the commit that added this module)."""
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


class WorktreeSecrets:
    """The secret values of one worktree's secret files, and their masking.

    The files are found by a :class:`~engine.secret_index.SecretFileIndex` of the worktree's
    folders (leaving out those git ignores): the whole tree at the first look (give
    :meth:`values` a thread), then at each look only the folders whose time moved (a stat
    of each folder: a few milliseconds for thousands), so a ``.env`` an agent writes at any
    depth is masked in the output of the commands after. Each look checks the files'
    modification times (a ``stat`` each) and reads again only a file that changed. A value
    once seen stays masked: an agent that edits ``.env`` does not unmask the value it
    replaced. Looks from several threads (the sandbox's commands in one worktree) take turns.
    """

    def __init__(
        self,
        root: Path,
        files: Iterable[str] | None = None,
        *,
        every_s: float = 0.0,
        look_s: float = math.inf,
    ) -> None:
        """``files``: the secret files of ``root`` when known (then never listed again).
        ``every_s``: :meth:`mask` looks at the files at most this often (a stream of lines,
        each masked). ``look_s``: the most time a look after the first spends finding
        files (:meth:`~engine.secret_index.SecretFileIndex.files`); a look in a thread
        looks at every folder."""
        self.root = root
        self._every_s = every_s
        self._look_s = look_s
        self._looked = -math.inf
        self._files: list[str] | None = None if files is None else list(files)
        self._index: SecretFileIndex | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, int]] = {}
        self._values: dict[str, None] = {}
        self._forms: list[str] = []
        self._issued: weakref.WeakSet[Cleaned] = weakref.WeakSet()

    @property
    def forms(self) -> list[str]:
        """The values known at the last look, each also as a JSON string holds it, longest
        first (:func:`quoted_forms`)."""
        return self._forms

    def values(self) -> list[str]:
        """The values known now (the files read again where they changed)."""
        with self._lock:
            return self._look()

    def _look(self, look_s: float | None = None) -> list[str]:
        files = self._files
        if files is None:
            if self._index is None:
                self._index = SecretFileIndex(self.root, ignored_folders(self.root))
            files = self._index.files(self._look_s if look_s is None else look_s)
        changed = False
        for rel in files:
            path = self.root / rel
            try:
                info = path.stat()
            except OSError:
                continue
            stamp = (info.st_mtime_ns, info.st_size)
            if self._seen.get(rel) == stamp:
                continue
            self._seen[rel] = stamp
            raw = _read_regular(path)
            if raw is not None and _is_text(raw):
                for value in file_secret_values(raw.decode("utf-8", "replace")):
                    if value not in self._values:
                        self._values[value] = None
                        changed = True
        if changed:
            self._forms = quoted_forms(self._values)
        return list(self._values)

    def clean(self, output: str | Callable[[list[str]], str]) -> Cleaned:
        """Look at the files (give it a thread), then ``output`` with every value known as
        :data:`~engine.secrets.REDACTED`, and a receipt saying so. ``output`` may be a
        function of the forms known (:attr:`forms`) that makes the text after the look: a
        sandbox that cleans before it cuts (:mod:`gates.sandbox_output`). Called once the
        command has ended, the look sees every secret file it wrote."""
        with self._lock:
            looked_at = time.monotonic()
            self._look(math.inf)  # every folder, whatever ``look_s`` says
            forms = self._forms
            text = output(forms) if callable(output) else output
        receipt = Cleaned(self, replace_values(text, forms), looked_at)
        self._issued.add(receipt)
        return receipt

    def issued(self, receipt: Cleaned) -> bool:
        """Whether ``receipt`` is one :meth:`clean` of this index gave (not one made by
        hand, nor another index's)."""
        return receipt in self._issued

    def mask(self, text: str, *, cut: bool = False) -> str:
        """``text`` with every secret value of the worktree's secret files as
        :data:`~engine.secrets.REDACTED`. ``cut``: ``text`` is the start of a longer one (a
        line cut to its first bytes), and a value the cut went through goes too."""
        now = time.monotonic()
        if now - self._looked >= self._every_s:
            self._looked = now
            self.values()
        text = replace_values(text, self._forms)
        return cut_value_start(text, self._forms) if cut else text


@dataclass(frozen=True, eq=False)
class Cleaned:
    """A receipt: ``text`` holds none of the secret values ``index`` knew after a look that
    started at ``looked_at`` (``time.monotonic()``).

    Only :meth:`WorktreeSecrets.clean` gives one (:meth:`WorktreeSecrets.issued` tells it
    from one made by hand), so whoever holds a command's output and its receipt can check,
    without trusting whoever ran the command, that the output was cleaned with an index of
    its worktree (``index.root``), after the call began (``looked_at``), and is the text that
    was cleaned (``text``): ``engine.protocols.CommandResult.cleaned``."""

    index: WorktreeSecrets
    text: str
    looked_at: float

    def covers(self, output: str, root: Path, since: float) -> bool:
        """Whether this receipt shows that ``output``, made by a call that began at
        ``since``, was cleaned of the values of the secret files of the worktree ``root``."""
        return (
            self.index.root == root
            and self.looked_at >= since
            and self.text == output
            and self.index.issued(self)
        )


def cut_value_start(text: str, forms: Iterable[str]) -> str:
    """``text``, the start of a longer text, with its end as :data:`~engine.secrets.REDACTED`
    where it is the start of one of ``forms``: a cut through a value left its first
    characters, which no whole value matches. A character the cut split (decoded as U+FFFD)
    is looked through."""
    body = text.removesuffix("\ufffd")
    start = len(body)
    for form in forms:
        window = max(0, len(body) - len(form) + 1)
        at = body.find(form[:1], window)
        while 0 <= at < start:
            if form.startswith(body[at:]):
                start = at
                break
            at = body.find(form[:1], at + 1)
    return text if start == len(body) else body[:start] + REDACTED
