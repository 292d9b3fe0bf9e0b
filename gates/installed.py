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
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
                found.setdefault(folder, None)
    return list(found)


def environment_fingerprint(python: str) -> str:
    """A hash of what is installed for ``python``: each site folder's distribution metadata
    and ``.pth`` files by name and modification time, and the interpreter itself (where its
    links lead, and that file's size and time: a Python upgraded in place)."""
    digest = hashlib.sha256(python.encode())
    try:
        real = os.path.realpath(python)
        stat = os.stat(real)
        digest.update(f"\0{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    except OSError:
        digest.update(b"\0<missing>")
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
    return digest.hexdigest()
