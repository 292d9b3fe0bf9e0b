"""Which gates a repository gets, detected from what it holds, and at which step each runs.

A Python repo (pyproject.toml, setup.py, setup.cfg, pytest.ini, tox.ini or ``.py`` files)
gets lint (ruff), types (mypy — only when the repo configures mypy, because imposing a type
checker on untyped code fails everything), tests (pytest), security (bandit), secrets
(detect-secrets), dead code (vulture) and the shrinkage safety gate. A Node package gets its
``test`` and ``lint`` scripts. Any repo gets the custom command gates of its ``[gates]`` config.

Three steps run gates: **task** gates on an attempt's own tree (everything: cheap feedback for
the engineer), **merge** gates on the merged tree before the integration branch moves (what a
merge can break: lint, types, tests, shrinkage, the package's tests), and **verify** gates on
the final result (tests and the whole-tree scans: security, secrets). The task's secrets
and security scans read only the files the revision changed (``gates.changes``).
"""

from __future__ import annotations

import configparser
import os
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from engine.protocols import Gate, GateResult, Sandbox
from gates.cache import GateCache
from gates.changes import ChangeScanGate
from gates.command_gate import CommandGate, NodeScriptGate, package_scripts
from gates.mypy_gate import MypyGate
from gates.mypy_seed import MypySeeds
from gates.pytest_gate import PytestGate
from gates.python_tools import SKIPPED_DIRS, BanditGate, RuffGate, VultureGate
from gates.secrets_gate import SecretsGate
from gates.shrinkage import ShrinkageGate
from gates.tool_gate import fingerprint_of

Scope = Literal["task", "merge", "verify"]
SCOPES: tuple[Scope, ...] = ("task", "merge", "verify")

BUILTIN_SCOPES: dict[str, tuple[Scope, ...]] = {
    "lint": ("task", "merge"),
    "types": ("task", "merge"),
    "tests": ("task", "merge", "verify"),
    "security": ("task", "verify"),
    "secrets": ("task", "verify"),
    "dead-code": ("task",),
    "shrinkage": ("task", "merge"),
    "node-test": ("task", "merge", "verify"),
    "node-lint": ("task", "merge"),
}
"""Every built-in gate's name and the steps it runs at."""

GATES_KEYS = frozenset(
    {
        "test_timeout_s",
        "pytest_autoload_plugins",
        "enable",
        "disable",
        "cache",
        "shrinkage_max_share",
        "shrinkage_min_deleted",
        "custom",
        "python",
    }
)
"""The keys of ``[gates]``."""
CUSTOM_GATE_KEYS = frozenset({"name", "argv", "timeout_s", "scopes"})
"""The keys of a ``[[gates.custom]]`` entry."""


@dataclass(frozen=True)
class CustomGateSpec:
    """One ``[[gates.custom]]`` entry: a command that passes when it exits 0."""

    name: str
    argv: tuple[str, ...]
    timeout_s: float = 600.0
    scopes: tuple[Scope, ...] = ("task", "merge")


@dataclass(frozen=True)
class GatesConfig:
    """The ``[gates]`` section of shopfloor.toml."""

    enable: tuple[str, ...] = ()
    """Built-in gates to run even when the profile would not pick them (e.g. ``types``)."""
    disable: tuple[str, ...] = ()
    """Gates (built-in or custom) never to run."""
    cache: bool = True
    shrinkage_max_share: float = 0.5
    shrinkage_min_deleted: int = 20
    test_timeout_s: float = 600.0
    pytest_autoload_plugins: bool = True
    custom: tuple[CustomGateSpec, ...] = ()
    python: str | None = None
    """The interpreter the tests, the agents' run_tests and mypy use (absolute, or relative to
    the repository); ``None``: the repository's own virtualenv (``gates.interpreter``)."""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> GatesConfig:
        """Read the section; raise ValueError naming the key when something is wrong."""
        unknown = sorted(set(raw) - GATES_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; known: {sorted(GATES_KEYS)}")
        names = {*BUILTIN_SCOPES}
        enable = _names(raw, "enable")
        disable = _names(raw, "disable")
        for name in enable:
            if name not in names:
                raise ValueError(f"enable: unknown gate {name!r}; built-in: {sorted(names)}")
        custom = tuple(_custom(i, item) for i, item in enumerate(_list(raw, "custom")))
        seen: set[str] = set()
        for spec in custom:
            if spec.name in names or spec.name in seen:
                raise ValueError(f"custom: gate name {spec.name!r} is already taken")
            seen.add(spec.name)
        for name in disable:  # a misspelt name would leave its gate running, unsaid
            if name not in names and name not in seen:
                raise ValueError(
                    f"disable: unknown gate {name!r}; built-in: {sorted(names)}"
                    + (f", custom: {sorted(seen)}" if seen else "")
                )
        return cls(
            enable=enable,
            disable=disable,
            cache=_typed(raw, "cache", bool, True),
            shrinkage_max_share=_number(raw, "shrinkage_max_share", 0.5),
            shrinkage_min_deleted=_typed(raw, "shrinkage_min_deleted", int, 20),
            test_timeout_s=_number(raw, "test_timeout_s", 600.0),
            pytest_autoload_plugins=_typed(raw, "pytest_autoload_plugins", bool, True),
            custom=custom,
            python=_python(raw),
        )


def _typed(raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} must be {kind.__name__}, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{key} must be a positive number, got {value!r}")
    return float(value)


def _python(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("python")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"python must be the path of an interpreter, got {value!r}")
    return value.strip()


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list, got {value!r}")
    return value


def _names(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = _list(raw, key)
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a list of gate names, got {value!r}")
    return tuple(value)


def _custom(index: int, item: Any) -> CustomGateSpec:
    where = f"custom[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be a table with name and argv")
    unknown = sorted(set(item) - CUSTOM_GATE_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: name must be a non-empty string")
    argv = item.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise ValueError(f"{where} ({name}): argv must be a non-empty list of strings")
    scopes = item.get("scopes", ["task", "merge"])
    if not isinstance(scopes, list) or not scopes or any(s not in SCOPES for s in scopes):
        raise ValueError(f"{where} ({name}): scopes must list some of {list(SCOPES)}")
    timeout = _number(item, "timeout_s", 600.0)
    return CustomGateSpec(name, tuple(argv), timeout, tuple(scopes))


# -- detection ------------------------------------------------------------------------------


PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", ".pytest.ini", "tox.ini")
"""What makes a folder a Python project (a Django-style ``backend/`` may have no packaging,
only the pytest.ini or tox.ini its tests are run by)."""
SEARCH_DEPTH = 4
"""How deep detection looks for Python (``services/api/app/main.py`` is at depth 4)."""


def _is_test_file(name: str) -> bool:
    return name == "conftest.py" or (
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
    )


def _python_folders(repo: Path) -> Iterator[tuple[str, bool, bool, bool]]:
    """``(folder, is_project, has_py, has_tests)`` for each folder down to
    :data:`SEARCH_DEPTH`, top first, skipping hidden folders, virtualenvs and vendored trees."""
    for folder, dirs, files in os.walk(repo):
        rel = os.path.relpath(folder, repo)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < SEARCH_DEPTH and not d.startswith(".") and d not in SKIPPED_DIRS
        )
        project = any(name in files for name in PROJECT_FILES)
        has_py = any(name.endswith(".py") for name in files)
        yield rel, project, has_py, has_py and any(_is_test_file(n) for n in files)


TEXT_SUFFIXES = frozenset({"", ".md", ".markdown", ".rst", ".txt", ".adoc", ".org"})
"""What a repository holds before it holds code: a README, a LICENSE, notes."""


def holds_no_code(repo: Path) -> bool:
    """True for a repository that holds nothing but text (a README, a LICENSE, dotfiles such
    as ``.gitignore``): a greenfield one, whose project the run will lay down."""
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() not in TEXT_SUFFIXES:
                return False
        if folder.count(os.sep) - str(repo).count(os.sep) >= SEARCH_DEPTH:
            dirs[:] = []
    return True


def is_python_repo(repo: Path) -> bool:
    """True when the repo holds a Python project or Python files (a few folders deep: a
    monorepo's ``services/api``, a ``src/`` layout)."""
    return any(project or has_py for _, project, has_py, _ in islice(_python_folders(repo), 5000))


def wants_pytest(repo: Path) -> bool:
    """False for a Node package whose Python is a few scripts: no Python project and no
    test file anywhere, so pytest would only say "no tests collected" about a JS suite."""
    if not (repo / "package.json").is_file():
        return True
    return any(project or tests for _, project, _, tests in islice(_python_folders(repo), 5000))


def python_projects(repo: Path) -> tuple[str, ...]:
    """Where the tests gate runs pytest: ``(".",)`` for a repo whose top is a Python
    project (or holds Python files), else each Python project below it — a monorepo's
    ``services/api`` keeps its own ``[tool.pytest.ini_options]`` and import paths, which
    pytest run at the top would not read — and ``"."`` first when test files lie outside
    every project (a monorepo's top-level ``tests/``), which pytest runs there without them."""
    found: list[str] = []
    loose = False
    for rel, project, has_py, has_tests in islice(_python_folders(repo), 5000):
        if rel == ".":
            if project or has_py:
                return (".",)
            continue
        inside = any(Path(rel).is_relative_to(outer) for outer in found)
        if project and not inside:
            found.append(rel.replace(os.sep, "/"))
        elif has_tests and not inside:
            loose = True
    return (".", *found) if loose or not found else tuple(found)


MYPY_TARGET_KEYS = ("files", "packages", "modules")
"""The configuration keys that name what mypy checks when run with no targets."""
MYPY_CONFIG_FILES = ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg")
"""Where mypy reads its configuration, in its own order (``mypy.defaults.CONFIG_NAMES``,
then ``SHARED_CONFIG_NAMES``)."""


def mypy_config(folder: Path) -> Mapping[str, Any] | None:
    """The ``[mypy]`` settings mypy itself reads in ``folder``, None when it reads none.

    mypy takes the first of :data:`MYPY_CONFIG_FILES` that it can parse, ``mypy.ini`` and
    ``.mypy.ini`` whenever they exist (one without a ``[mypy]`` section configures nothing,
    and the files after it are not read), ``pyproject.toml`` only with a ``[tool.mypy]``
    table and ``setup.cfg`` only with a ``[mypy]`` section. Read in another order, a
    repository with both a mypy.ini and a ``[tool.mypy]`` table was checked as the table said.
    """
    for name in MYPY_CONFIG_FILES:
        path = folder / name
        if name == "pyproject.toml":
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            tool = data.get("tool")
            section = tool.get("mypy") if isinstance(tool, dict) else None
            if isinstance(section, dict):
                return section
            continue
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()  # as mypy reads it: no interpolation
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # mypy says so and goes on to the next file
        if parser.has_section("mypy"):
            return dict(parser.items("mypy"))
        if name != "setup.cfg":
            return None
    return None


def mypy_setup(repo: Path) -> tuple[bool, bool]:
    """``(configured, names_its_targets)``: whether the repo configures mypy, and whether
    that configuration names what to check (``files``, ``packages`` or ``modules``: mypy is
    then run as the maintainers run it, with no targets; ``.`` would check every script
    beside the packages and can stop at once on a duplicate module name)."""
    section = mypy_config(repo)
    if section is None:
        return False, False
    named = (section.get(key) for key in MYPY_TARGET_KEYS)
    return True, any(value.strip() if isinstance(value, str) else value for value in named)


def mypy_pins_version(folder: Path) -> bool:
    """Whether ``folder``'s mypy configuration sets ``python_version`` (the types gate then
    leaves the version to it rather than to the project's interpreter)."""
    section = mypy_config(folder)
    return section is not None and "python_version" in section


def mypy_projects(repo: Path) -> dict[str, bool]:
    """Where the types gate runs mypy: ``{folder: its configuration names its targets}``.

    The top alone when it configures mypy; else each outermost folder below that does — a
    monorepo's projects, each with its own strictness, which mypy run at the top would not
    read. Empty when nothing configures mypy.
    """
    configured, own_files = mypy_setup(repo)
    if configured:
        return {".": own_files}
    found: dict[str, bool] = {}
    for rel, _, _, _ in islice(_python_folders(repo), 5000):
        if rel == "." or any(Path(rel).is_relative_to(outer) for outer in found):
            continue
        folder = repo / rel
        if not any((folder / name).is_file() for name in MYPY_CONFIG_FILES):
            continue
        configured, own_files = mypy_setup(folder)
        if configured:
            found[rel.replace(os.sep, "/")] = own_files
    return found


@dataclass
class GateSet:
    """The gates of each step, and the profile that chose them."""

    task: list[Gate] = field(default_factory=list)
    merge: list[Gate] = field(default_factory=list)
    verify: list[Gate] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def names(self) -> dict[str, list[str]]:
        """Gate names per step (for doctor and the run header)."""
        return {
            "task": [g.name for g in self.task],
            "merge": [g.name for g in self.merge],
            "verify": [g.name for g in self.verify],
        }


def detected_gates(
    tree: Path,
    config: GatesConfig,
    sandbox: Sandbox,
    *,
    test_env: Mapping[str, str] | None = None,
    interpreter: str = sys.executable,
    mypy_seeds: MypySeeds | None = None,
) -> tuple[dict[str, Gate], list[str]]:
    """The gates what ``tree`` holds calls for (a Python project, a Node package), by name,
    and the profiles that chose them; none for a tree that holds neither. ``interpreter``:
    the project's Python (``gates.interpreter``), which pytest and mypy's imports run on;
    ``mypy_seeds``: where the types gate keeps warm caches (``gates.mypy_seed``)."""
    chosen: dict[str, Gate] = {}
    profiles: list[str] = []
    wanted = set(config.enable)
    python = is_python_repo(tree)
    if python:
        profiles.append("python")
        chosen["lint"] = RuffGate(sandbox)
        places = mypy_projects(tree) or ({".": False} if "types" in wanted else {})
        if places:
            targets = {folder: () if own else (".",) for folder, own in places.items()}
            own = interpreter == sys.executable
            chosen["types"] = MypyGate(
                sandbox,
                projects=targets,
                python_executable=None if own else interpreter,
                pinned=[folder for folder in places if mypy_pins_version(tree / folder)],
                seeds=mypy_seeds,
            )
        if wants_pytest(tree) or "tests" in wanted:
            chosen["tests"] = PytestGate(
                sandbox,
                timeout_s=config.test_timeout_s,
                env=test_env,
                projects=python_projects(tree),
                python=interpreter,
            )
        chosen["security"] = BanditGate(sandbox)
        chosen["secrets"] = SecretsGate(sandbox)
        chosen["dead-code"] = VultureGate(sandbox)
    scripts = package_scripts(tree)
    if (tree / "package.json").is_file():
        profiles.append("node")
        for script in ("test", "lint"):
            if script in scripts or f"node-{script}" in wanted:
                gate = NodeScriptGate(sandbox, script=script, timeout_s=config.test_timeout_s)
                chosen[gate.name] = gate
        if not python:
            chosen["secrets"] = SecretsGate(sandbox)
    return chosen, profiles


READ_ONLY_PROFILE_GATES = frozenset({"lint", "types", "security", "secrets", "dead-code"})
"""The profile gates that only read the tree (linters and scanners); the tests and the
package's scripts may write files, so they run alone."""

TREE_DETECTED = tuple(name for name in BUILTIN_SCOPES if name != "shrinkage")
"""The gates a profile brings, which a repository with no project yet gets as
:class:`TreeDetectedGate`: chosen again on each tree they check."""


class TreeDetectedGate:
    """A profile's gate for a repository that held no project when the run started.

    Detected once on the empty start, a greenfield run ("Build X" on a new repository) had
    the shrinkage gate alone: its tasks' code merged unlinted and untested. This gate looks
    at the tree it checks — the attempt's worktree, the merged candidate, the final result —
    and runs the profile's gate of its name there (the Python project the first task laid
    down, its mypy configuration, its test folders), or passes, saying why, on a tree that
    still holds no such project.
    """

    def __init__(
        self,
        name: str,
        config: GatesConfig,
        sandbox: Sandbox,
        *,
        test_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.name = name
        self._config = config
        self._sandbox = sandbox
        self._test_env = test_env
        self._python = python
        self.reads_only = name in READ_ONLY_PROFILE_GATES
        self.runs_on = python if name in ("tests", "types") else None
        """Whose installed packages the gate it picks reads (``gates.cache`` keys on them)."""
        """Whether the gate it picks may run beside others (``engine.gate_runner``)."""

    def fingerprint(self) -> str:
        """The configuration that chooses and runs the gate (the tree is the cache's part)."""
        return fingerprint_of(
            type(self).__name__,
            self.name,
            sorted(self._config.enable),
            self._config.test_timeout_s,
            sorted(self._test_env or {}),
            self._python,
        )

    async def check(self, workspace: Path) -> GateResult:
        chosen, _ = detected_gates(
            workspace,
            self._config,
            self._sandbox,
            test_env=self._test_env,
            interpreter=self._python,
        )
        gate = chosen.get(self.name)
        if gate is None:
            return GateResult(
                gate=self.name, passed=True, summary=f"not run: {self._why(workspace)}"
            )
        return await gate.check(workspace)

    def _why(self, tree: Path) -> str:
        """Why this tree calls for no gate of this name, in the words of its detection."""
        if self.name.startswith("node-"):
            if not (tree / "package.json").is_file():
                return "no Node package in this tree"
            return f"package.json has no {self.name.removeprefix('node-')} script"
        if not is_python_repo(tree):
            return "no Python project in this tree"
        if self.name == "types":
            return "nothing in this tree configures mypy"
        return "no Python tests in this tree"


def build_gates(
    repo: Path,
    config: GatesConfig,
    sandbox: Sandbox,
    *,
    test_env: Mapping[str, str] | None = None,
    cache: GateCache | None = None,
    python: str = sys.executable,
    mypy_seeds: MypySeeds | None = None,
) -> GateSet:
    """The gates for ``repo``: detected profiles, then config's enable/disable/custom.

    A repository that holds no code yet (a new one, a README: :func:`holds_no_code`) gets
    every profile's gate as a :class:`TreeDetectedGate`, chosen on each tree it checks.
    When ``cache`` is given (and ``config.cache`` is on), every cacheable gate runs behind it.
    ``python`` is the project's interpreter (``gates.interpreter.find_project_python``).
    With ``mypy_seeds``, the types gate starts from a warm cache, which only its merge
    step's runs (the factory's own checkouts) publish.
    """
    scopes: dict[str, Sequence[Scope]] = {}
    wanted = set(config.enable)
    chosen, profiles = detected_gates(
        repo, config, sandbox, test_env=test_env, interpreter=python, mypy_seeds=mypy_seeds
    )
    if not profiles and holds_no_code(repo):
        profiles.append("detected per tree")
        for name in TREE_DETECTED:
            chosen[name] = TreeDetectedGate(name, config, sandbox, test_env=test_env, python=python)
    scopes.update((name, BUILTIN_SCOPES[name]) for name in chosen)

    def add(gate: Gate, steps: Sequence[Scope] | None = None) -> None:
        chosen[gate.name] = gate
        scopes[gate.name] = steps or BUILTIN_SCOPES[gate.name]

    if "secrets" in wanted and "secrets" not in chosen:
        add(SecretsGate(sandbox))
    add(
        ShrinkageGate(
            sandbox,
            max_share=config.shrinkage_max_share,
            min_deleted=config.shrinkage_min_deleted,
        )
    )
    for spec in config.custom:
        add(
            CommandGate(sandbox, name=spec.name, argv=spec.argv, timeout_s=spec.timeout_s),
            spec.scopes,
        )
    if config.custom:
        profiles.append("custom")
    for name in config.disable:
        chosen.pop(name, None)

    use_cache = cache is not None and config.cache
    gate_set = GateSet(profiles=profiles or ["generic"])
    for name, gate in chosen.items():
        wrapped = cache.wrap(gate) if use_cache and cache is not None else gate
        on_changes: Gate | None = None
        publisher: Gate | None = None
        for step in scopes[name]:
            if step == "merge" and isinstance(gate, MypyGate) and gate.seeds is not None:
                # The merge candidates' trees are the factory's own: their caches seed the
                # attempts' (gates.mypy_seed). The verdicts are shared through the cache.
                if publisher is None:
                    own = gate.publisher()
                    publisher = cache.wrap(own) if use_cache and cache is not None else own
                gate_set.merge.append(publisher)
                continue
            if step != "verify" and isinstance(gate, ChangeScanGate):
                # A task's or merge's scan of files one at a time (secrets, security) reads
                # what the revision changed: only that can bring a finding in (verify, the
                # baseline and audits scan the whole tree; gates.changes).
                if on_changes is None:
                    changes = gate.on_changes()
                    on_changes = cache.wrap(changes) if use_cache and cache is not None else changes
                getattr(gate_set, step).append(on_changes)
                continue
            getattr(gate_set, step).append(wrapped)
    return gate_set
