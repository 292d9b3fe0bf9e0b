"""The gate cache: an unchanged tree never re-runs a gate.

The key is (gate name, the gate's configuration fingerprint, the gates' own code, the versions
of the tools the gates run and of the Python they run on, the workspace's content). The
gates' code is a hash of their source files (:func:`gate_code`), not shopfloor's version: an
editable install (a developer's, a user's git checkout) keeps its version while its gates
change, and a verdict reached by the old code was reused. The content is the tree
hash of HEAD (``git rev-parse HEAD^{tree}``) plus, when the checkout is dirty, a hash of
``git status`` and the bytes of every modified, untracked or ignored file (tool caches
excluded): a file the repository's ignore rules match is still one the gates see. A
hit returns the stored GateResult with ``cached=True`` and zero duration, so the engine's
GateFinished says where the result came from. Results that depend on luck (a time-out, a
crashed gate, a tool's output that could not be read) are not stored. A gate that declares
``cacheable = False`` is passed through untouched.

In a Python project with a Node package below it, a profile gate's content is only the
files its language's gates read (``gates.parts.part_tree_key``: the front end's verdict is
kept while only Python changes, and the other way round); a dirty checkout is keyed whole.

A gate that runs on the project's interpreter (the tests and types gates) names it as
``runs_on``: a fingerprint of what is installed there (``gates.installed``) joins its key, so
a dependency installed, upgraded or removed is a miss, not the verdict from before.

A gate whose run is worth more than its verdict says so with ``wants_run(workspace)``: a
stored verdict is then not enough and the gate runs (the types gate of the merge step when it
has no warm cache yet to publish, ``gates.mypy_seed``: its verdict was most often the
attempt's, on the same tree, and no seed was ever made).

A gate whose verdict depends on more than the tree (the shrinkage gate judges what a commit
deletes from its base) names that too: its ``cache_context(workspace)`` returns what else
decides the verdict (the base's tree, the paths the commit declares removed), which joins the
key; ``None`` there means it cannot be told, and the gate runs uncached. So the merge of a
task onto an integration branch that did not move since the task's worktree was cut, which
holds the task's tree on the task's base, reuses the verdict the task gates reached, and a
revision on another base never does.

Entries live in memory and, when a directory is given, as JSON files there — so a re-run of
the same tree in a later process is a hit too. A verdict is stored with the workspace's path
taken out of it and given back with the path of the workspace that asks: pytest quotes a
test module by its absolute path, and a hit quoted another run's worktree, long deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path

import engine
from engine.attempt_commit import JUNK_PATHSPECS
from engine.files import replace_file
from engine.gate_runner import CURRENT_RUN
from engine.protocols import Gate, GateResult, Rerun
from engine.repo_guard import HOOKLESS, without_secrets
from gates.cache_upkeep import CacheLimits, Pruned, cache_folders, prune, read_entry
from gates.installed import environment_fingerprint
from gates.parts import Part, part_tree_key
from gates.tool_gate import fingerprint_of

GIT_TIMEOUT_S = 30.0
TOOL_DISTRIBUTIONS = ("ruff", "mypy", "bandit", "vulture", "detect-secrets", "pytest")
"""Whose versions are part of every key: an upgraded ruff may judge the same tree otherwise."""
_ENGINE_IMPORT = re.compile(rb"^\s*(?:from|import)\s+engine\.(\w+)", re.MULTILINE)


def source_digest(gates_dir: Path, engine_dir: Path) -> str:
    """A hash of the gates' code: every module of the gates package and each engine module
    one of them imports (the helpers a verdict is made with), by name and bytes."""
    files = {f"gates/{p.relative_to(gates_dir).as_posix()}": p for p in gates_dir.rglob("*.py")}
    for path in list(files.values()):
        for name in _ENGINE_IMPORT.findall(path.read_bytes()):
            module = name.decode()
            for candidate in (engine_dir / f"{module}.py", engine_dir / module / "__init__.py"):
                if candidate.is_file():
                    files[f"engine/{candidate.relative_to(engine_dir).as_posix()}"] = candidate
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def gate_code() -> str:
    """:func:`source_digest` of the running gates, read once per process."""
    return source_digest(Path(__file__).resolve().parent, Path(engine.__file__).resolve().parent)


@functools.cache
def tool_versions() -> str:
    """The installed versions of the tools the gates run."""
    found = []
    for name in TOOL_DISTRIBUTIONS:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}:absent")
    return ";".join(found)


def interpreter() -> str:
    """The Python the gates run on (the tests and types gates judge a tree with it)."""
    return f"{sys.implementation.name} {sys.version}"


_UNSTABLE = ("timed out", "did not finish within", "gate crashed", "could not start", "cannot read")
"""Summaries of a gate that gave no verdict on the tree (``cannot read``: a tool's output
that could not be parsed, cut short or garbled)."""


def gate_fingerprint(gate: Gate) -> str:
    """The gate's own ``fingerprint()`` when it has one, else a hash of its plain settings.

    Taken when the gate is wrapped: a gate's configuration is what it was constructed with.
    """
    own = getattr(gate, "fingerprint", None)
    if callable(own):
        return str(own())
    plain = {
        key: value
        for key, value in sorted(vars(gate).items())
        if isinstance(value, str | int | float | bool | tuple | list | dict) and key != "name"
    }
    return fingerprint_of(type(gate).__name__, gate.name, plain)


def _git(workspace: Path, *args: str) -> bytes | None:
    # In an agent's worktree: none of the hooks, fsmonitor command or secrets an agent could
    # have a ``git status`` run with (the factory's git calls' rules, engine.repo_guard).
    options = [part for option in HOOKLESS for part in ("-c", option)]
    try:
        done = subprocess.run(
            ["git", *options, *args],
            cwd=workspace,
            env={**os.environ, **without_secrets()},
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            start_new_session=True,  # a terminal's Ctrl-C or hang-up is the run's to handle
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def tree_key(workspace: Path) -> str | None:
    """A hash of the workspace's content as git sees it; None when it is not a git checkout."""
    tree = _git(workspace, "rev-parse", "HEAD^{tree}")
    if tree is None:
        return None
    status = _git(
        workspace,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored",  # each file the ignore rules match (tool caches still excluded)
        "--",
        ".",
        *JUNK_PATHSPECS,
    )
    if status is None:
        return None
    digest = hashlib.sha256(tree.strip())
    if status:
        digest.update(b"\0dirty\0" + status)
        entries = status.split(b"\0")
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            code, rel = entry[:2], entry[3:]
            if code[:1] in (b"R", b"C"):
                i += 1  # the rename's source path follows
            path = workspace / rel.decode("utf-8", "surrogateescape")
            digest.update(b"\0" + rel + b"\0")
            try:
                if path.is_file() and not path.is_symlink():
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
                elif path.is_symlink():
                    digest.update(str(path.readlink()).encode())
                else:
                    digest.update(b"<absent>")
            except OSError:
                digest.update(b"<unreadable>")
    return digest.hexdigest()


WORKSPACE = "<shopfloor:workspace>"
"""What stands for the checked workspace's path in a stored verdict."""


def _path_pattern(workspace: Path) -> re.Pattern[str]:
    """The workspace's path as JSON spells it (given and resolved), not as the start of a
    longer name (``…/baseline`` in ``…/baseline2``)."""
    spellings = {str(workspace), str(workspace.resolve())}
    escaped = sorted((json.dumps(s)[1:-1] for s in spellings), key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, escaped)) + r")(?![\w-]|\.\w)")


def _unplaced(raw: str, workspace: Path) -> str:
    return _path_pattern(workspace).sub(lambda _: WORKSPACE, raw)


def _placed(raw: str, workspace: Path) -> str:
    return raw.replace(WORKSPACE, json.dumps(str(workspace))[1:-1])


class _Readings:
    """The tree readings one gate list made (``engine.gate_runner.GateRun.kept``): per
    workspace, how many batches had run gates when it started, and what it read."""

    def __init__(self) -> None:
        self.trees: dict[Path, tuple[int, str | None]] = {}

    def keep(self, workspace: Path, ran: int, done: asyncio.Future[str | None]) -> None:
        if not done.cancelled() and done.exception() is None:
            self.trees[workspace] = (ran, done.result())


class GateCache:
    """Stores GateResults by (gate, configuration, tree); counts hits and misses."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        max_entries: int = 4096,
        limits: CacheLimits | None = None,
    ) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.limits = limits or CacheLimits()
        """How long an unused entry stays in ``directory``, and how much it may hold."""
        self._pruned = False
        self.hits = 0
        self.misses = 0
        self.bypassed = 0
        """Checks that could not be keyed (not a git checkout) or were not worth storing."""
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._keying: dict[Path, asyncio.Future[str | None]] = {}
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def hit_rate(self) -> float:
        """Hits over keyed lookups (0.0 before the first)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def stats(self) -> dict[str, float]:
        """Counters for a status line or a metric."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypassed": self.bypassed,
            "hit_rate": round(self.hit_rate, 4),
        }

    def wrap(self, gate: Gate, part: Part | None = None) -> Gate:
        """``gate`` behind this cache (a non-cacheable gate is returned as it is); with
        ``part``, its verdicts are keyed on that part's files (``gates.parts``)."""
        if not getattr(gate, "cacheable", True) or isinstance(gate, CachedGate):
            return gate
        return CachedGate(gate, self, part)

    def wrap_all(self, gates: Sequence[Gate]) -> list[Gate]:
        """Every gate of a list behind this cache."""
        return [self.wrap(g) for g in gates]

    async def tree(self, workspace: Path) -> str | None:
        """:func:`tree_key` of ``workspace``; gates that ask while it is being read (the
        read-only gates ``engine.gate_runner`` starts together) share that one reading, and
        the later gates of the same list take it while none of the gates before them ran
        (all hits: two git commands per batch of gates saved)."""
        run = CURRENT_RUN.get()
        kept = None if run is None else run.kept.setdefault(self, _Readings())
        if run is not None and isinstance(kept, _Readings):
            found = kept.trees.get(workspace)
            if found is not None and found[0] == run.ran:
                return found[1]
        pending = self._keying.get(workspace)
        if pending is None or pending.done():  # a finished reading may be out of date
            pending = asyncio.ensure_future(asyncio.to_thread(tree_key, workspace))
            self._keying[workspace] = pending
            pending.add_done_callback(functools.partial(self._keyed, workspace))
            if run is not None and isinstance(kept, _Readings):  # started by this list, now
                pending.add_done_callback(functools.partial(kept.keep, workspace, run.ran))
        return await asyncio.shield(pending)

    def _keyed(self, place: Path, done: asyncio.Future[str | None]) -> None:
        if self._keying.get(place) is done:
            del self._keying[place]

    def key(self, name: str, fingerprint: str, tree: str) -> str:
        """The cache key of one gate (name and configuration) on one tree, with this code of
        the gates and these tools, on this Python."""
        text = json.dumps([name, fingerprint, tree, gate_code(), tool_versions(), interpreter()])
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str, workspace: Path | None = None) -> GateResult | None:
        """The stored result for ``key``, if any (quoting ``workspace`` where the stored
        one quoted the path of the workspace it was reached in)."""
        raw = self._memory.get(key)
        if raw is None and self.directory is not None:
            raw = read_entry(self.directory / f"{key}.json")  # a hit marks it used
        if raw is None:
            return None
        if workspace is not None:
            raw = _placed(raw, workspace)
        try:
            return GateResult.model_validate_json(raw)
        except ValueError:
            return None

    def put(self, key: str, result: GateResult, workspace: Path | None = None) -> None:
        """Store ``result`` under ``key``, without ``workspace``'s path."""
        raw = result.model_dump_json()
        if workspace is not None:
            raw = _unplaced(raw, workspace)
        self._memory[key] = raw
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
        if self.directory is not None:
            # A scratch name of its own: two runs (or test workers) sharing the folder may
            # store the same entry at once, and one writer's rename must not take the other's
            # half file. An entry that cannot be stored is only a miss next time.
            with contextlib.suppress(OSError):
                replace_file(self.directory / f"{key}.json", raw)

    def prune(self) -> Pruned | None:
        """Bound the folder and the ones in it (``gates.cache_upkeep``) by :attr:`limits`,
        the first time only: None when there is no folder or it was pruned already. Blocking
        (a folder of many files): run it in a thread."""
        if self.directory is None or self._pruned:
            return None
        self._pruned = True
        return prune(cache_folders(self.directory), self.limits)


class CachedGate:
    """A gate behind a :class:`GateCache`. Implements ``engine.protocols.Gate``."""

    def __init__(self, gate: Gate, cache: GateCache, part: Part | None = None) -> None:
        self.inner = gate
        self.cache = cache
        self.part = part
        """The share of a two-language repository the gate reads: its key (``gates.parts``)."""
        self.name = gate.name
        self.fingerprint = gate_fingerprint(gate)  # configuration is fixed at construction
        self.rerun: Rerun | None = getattr(gate, "rerun", None)
        """The inner gate's, uncached: it asks whether a failure comes back."""
        self.reads_only: bool = bool(getattr(gate, "reads_only", False))
        """The inner gate's: whether it may run beside others (``engine.gate_runner``)."""
        self.judges_revision: bool = bool(getattr(gate, "judges_revision", False))
        """The inner gate's: a gate about a commit is left out of baselines and audits."""
        self._context: Callable[[Path], Awaitable[str | None]] | None = getattr(
            gate, "cache_context", None
        )
        self.runs_on: str | None = getattr(gate, "runs_on", None)
        """The interpreter whose installed packages the inner gate's verdict depends on."""
        self._wants_run: Callable[[Path], bool] | None = getattr(gate, "wants_run", None)

    async def check(self, workspace: Path) -> GateResult:
        """The stored result for this tree, or the gate's fresh one (then stored)."""
        tree = None
        if self.part is not None:
            tree = await asyncio.to_thread(part_tree_key, workspace, self.part)
        if tree is None:
            tree = await self.cache.tree(workspace)
        if tree is not None and self._context is not None:
            context = await self._context(workspace)
            tree = None if context is None else f"{tree}\0{context}"
        if tree is not None and self.runs_on:
            installed = await asyncio.to_thread(environment_fingerprint, self.runs_on)
            tree = f"{tree}\0{installed}"
        if tree is None:
            self.cache.bypassed += 1
            return await self.inner.check(workspace)
        key = self.cache.key(self.name, self.fingerprint, tree)
        stored = self.cache.get(key, workspace)
        if stored is not None and not (
            self._wants_run is not None and await asyncio.to_thread(self._wants_run, workspace)
        ):
            self.cache.hits += 1
            return stored.model_copy(update={"cached": True, "duration_s": 0.0})
        self.cache.misses += 1
        result = await self.inner.check(workspace)
        if result.passed or not any(word in result.summary for word in _UNSTABLE):
            self.cache.put(key, result.model_copy(update={"cached": False}), workspace)
        return result
