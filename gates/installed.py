"""What is installed in an interpreter's environment, as a cheap fingerprint for the gate cache.

The tests and types gates judge a tree with the project's interpreter (``gates.interpreter``):
pytest imports its packages, mypy reads their types. A verdict reached before a dependency was
installed, upgraded or removed is not the verdict after, on the same tree — yet the cache key
held the tree and shopfloor's own tools, and a project whose ``pip install`` fixed its red
tests stayed red from the cache. :func:`environment_fingerprint` says what is installed
without running the interpreter: the names of the distributions' metadata folders (their
version is in the name), the ``.pth`` files (editable installs, added paths) and the
modification times of both, in each site folder of the interpreter's prefix — a few hundred
``stat`` calls, well under a millisecond for a typical virtualenv.

A package installed in editable mode is imported from its source folder, which none of that
sees: a monorepo's sibling package whose code changed left the fingerprint as it was, and a
verdict about the old code was reused. So the fingerprint also walks each editable install's
source folder (named by a ``direct_url.json`` that says ``editable``, a ``.egg-link`` or a
path line of a ``.pth`` file), by each file's path, size and modification time, skipping
bytecode, hidden folders, virtualenvs and build output, and stopping after
:data:`MAX_EDITABLE_ENTRIES` entries (an edit past them is not seen). Measured on shopfloor's
own ``.venv``, where shopfloor is editable (508 entries walked): 3.3 to 4.3 ms a fingerprint,
1.1 ms before; each entry costs about 6 us, so the bound is about 60 ms.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from gates.repo_shape import SKIPPED_DIRS

SITE_GLOBS = (
    "lib*/python*/site-packages",
    "lib/python3/dist-packages",  # Debian's system Python
    "lib*/python*/dist-packages",
    "local/lib*/python*/dist-packages",
)
"""Where an installation under a prefix keeps its packages (virtualenv, conda, pyenv, uv and
system layouts)."""
MARKERS = (".dist-info", ".egg-info", ".egg-link", ".pth")
"""The entries of a site folder that say what is installed there."""
MAX_EDITABLE_ENTRIES = 10_000
"""How many files and folders of editable installs' sources one fingerprint looks at, at most
(a ``.pth`` line may name a large folder)."""
NOT_SOURCES = frozenset({*SKIPPED_DIRS, "__pycache__"})
"""Folders of an editable install's source folder that hold no code it imports (hidden
folders are skipped as well: tool caches, ``.git``)."""


def site_dirs(python: str) -> list[Path]:
    """The site folders of the environment ``python`` belongs to (its prefix: the folder above
    ``bin/``, not where a virtualenv's link leads), and of the base installation when the
    virtualenv includes the system site packages."""
    prefix = Path(python).parent.parent
    prefixes = [prefix]
    try:
        cfg = (prefix / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        cfg = ""
    settings = {
        key.strip().lower(): value.strip()
        for key, sep, value in (line.partition("=") for line in cfg.splitlines())
        if sep
    }
    if settings.get("include-system-site-packages", "").lower() == "true" and settings.get("home"):
        prefixes.append(Path(settings["home"]).parent)
    found: dict[Path, None] = {}
    for place in prefixes:
        for pattern in SITE_GLOBS:
            for folder in sorted(place.glob(pattern)):
                found.setdefault(Path(os.path.realpath(folder)), None)  # lib64 -> lib: once
    return list(found)


def environment_fingerprint(python: str) -> str:
    """A hash of what is installed for ``python``: each site folder's distribution metadata
    and ``.pth`` files by name and modification time, the sources of its editable installs,
    and the interpreter itself (where its links lead, and that file's size and time: a
    Python upgraded in place)."""
    digest = hashlib.sha256(python.encode())
    try:
        real = os.path.realpath(python)
        stat = os.stat(real)
        digest.update(f"\0{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    except OSError:
        digest.update(b"\0<missing>")
    sources: list[Path] = []
    for folder in site_dirs(python):
        digest.update(b"\0\0" + str(folder).encode())
        try:
            with os.scandir(folder) as entries:
                listed = sorted(
                    (entry.name, entry.stat(follow_symlinks=False).st_mtime_ns)
                    for entry in entries
                    if entry.name.endswith(MARKERS)
                )
        except OSError:
            continue
        for name, mtime in listed:
            digest.update(f"\0{name}\0{mtime}".encode())
        sources += editable_sources(folder, tuple(listed))
    budget = [MAX_EDITABLE_ENTRIES]
    for root in _outermost(sources):
        digest.update(b"\0\0editable\0" + str(root).encode())
        _walk_sources(root, digest, budget)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def editable_sources(folder: Path, listed: tuple[tuple[str, int], ...]) -> tuple[Path, ...]:
    """The source folders of the editable installs in the site folder ``folder`` (whose
    marker entries are ``listed``, by name and mtime: the cache's key, so they are read again
    only when an install changed): each ``direct_url.json`` that says ``editable``, each
    ``.egg-link``'s first line, each path line of a ``.pth`` file (not one inside a site
    folder: that is installed code, fingerprinted as such)."""
    found: list[Path] = []
    for name, _ in listed:
        path = folder / name
        if name.endswith(".dist-info"):
            try:
                url = json.loads((path / "direct_url.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            info = url.get("dir_info") if isinstance(url, dict) else None
            if isinstance(info, dict) and info.get("editable") is True:
                where = urlparse(str(url.get("url", "")))
                if where.scheme == "file":
                    found.append(Path(unquote(where.path)))
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        if name.endswith(".egg-link"):
            lines = lines[:1]
        elif not name.endswith(".pth"):
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                found.append(folder / line)  # a relative line is relative to the site folder
    roots = []
    for place in found:
        real = Path(os.path.realpath(place))
        if real.is_dir() and not any(part in _SITE_NAMES for part in real.parts):
            roots.append(real)
    return tuple(roots)


_SITE_NAMES = frozenset({"site-packages", "dist-packages"})


def _outermost(roots: list[Path]) -> list[Path]:
    """``roots`` once each, without those inside another of them, in a stable order."""
    unique = sorted(set(roots))
    return [r for r in unique if not any(r != o and r.is_relative_to(o) for o in unique)]


def _walk_sources(root: Path, digest: hashlib._Hash, budget: list[int]) -> None:
    """Hash the files under ``root`` by path, size and mtime (folders by path), in a sorted
    walk, while ``budget[0]`` (entries left, shared by the roots) lasts."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in NOT_SOURCES:
                continue
            if budget[0] <= 0:
                digest.update(b"\0<cut>")
                return
            budget[0] -= 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    # By name only: a folder's mtime moves when a run writes __pycache__ there.
                    stack.append(Path(entry.path))
                    digest.update(f"\0{entry.path}/".encode())
                elif not entry.name.endswith((".pyc", ".pyo")):
                    stat = entry.stat(follow_symlinks=False)
                    digest.update(f"\0{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
            except OSError:
                continue
