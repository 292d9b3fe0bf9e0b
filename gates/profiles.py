"""Which gates a repository gets, detected from what it holds, and at which step each runs.

A Python repo (pyproject.toml, setup.py, setup.cfg, pytest.ini, tox.ini or ``.py`` files)
gets lint (ruff), types (mypy — only when the repo configures mypy, because imposing a type
checker on untyped code fails everything), tests (pytest), security (bandit), secrets
(detect-secrets), dead code (vulture) and the shrinkage safety gate. A Node package gets its
``test`` and ``lint`` scripts, in each package a few folders down (a ``web/`` front end
beside a Python project gets both profiles). Any repo gets the custom command gates of its
``[gates]`` config.

Three steps run gates: **task** gates on an attempt's own tree (everything: cheap feedback for
the engineer), **merge** gates on the merged tree before the integration branch moves (what a
merge can break: lint, types, tests, shrinkage, the package's tests), and **verify** gates on
the final result (tests and the whole-tree scans: security, secrets). The task's secrets
and security scans read only the files the revision changed (``gates.changes``).

What a repository holds is read by ``gates.repo_shape`` and ``gates.mypy_config``; the
``[gates]`` section that adds, drops and defines gates is ``gates.config``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.protocols import Gate, GateResult, Sandbox
from gates.cache import GateCache
from gates.changes import ChangeScanGate
from gates.command_gate import CommandGate, NodeScriptGate, package_scripts
from gates.config import BUILTIN_SCOPES, GatesConfig, Scope
from gates.mypy_config import mypy_pins_version, mypy_projects
from gates.mypy_gate import MypyGate
from gates.mypy_runners import runs_mypy
from gates.mypy_seed import MypySeeds
from gates.node_packages import node_packages
from gates.parts import ScopedGate, part_of, parts_for
from gates.pytest_gate import PytestGate
from gates.python_tools import BanditGate, RuffGate, VultureGate
from gates.repo_shape import holds_no_code, is_python_repo, python_projects, wants_pytest
from gates.secrets_gate import SecretsGate
from gates.secrets_memo import FileFindings
from gates.shrinkage import ShrinkageGate
from gates.tool_gate import fingerprint_of


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
        runs = "types" in wanted or bool(runs_mypy(tree))
        places = mypy_projects(tree) or ({".": False} if runs else {})
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
    packages = node_packages(tree)
    if packages:
        profiles.append("node")
        scripts = {name for folder in packages for name in package_scripts(tree, folder)}
        for script in ("test", "lint"):
            if script in scripts or f"node-{script}" in wanted:
                gate = NodeScriptGate(
                    sandbox,
                    script=script,
                    timeout_s=config.test_timeout_s,
                    packages=packages,
                    checkout=tree,
                )
                chosen[gate.name] = gate
        if not python:
            chosen["secrets"] = SecretsGate(sandbox)
    return chosen, profiles


SECRETS_MEMO = "secrets-files"
"""The gate cache's folder for the secrets gate's answers by file (``gates.secrets_memo``)."""

READ_ONLY_PROFILE_GATES = frozenset({"lint", "types", "security", "secrets", "dead-code"})
"""The profile gates that only read the tree (linters and scanners); the tests and the
package's scripts may write files, so they run alone."""

SCOPED_GATES = frozenset({"lint", "types", "tests", "dead-code", "node-test", "node-lint"})
"""The profile gates that read one language's files (``gates.parts``); secrets and
security at a task already read only the changed files, shrinkage judges the commit."""

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
        mypy_seeds: MypySeeds | None = None,
    ) -> None:
        self.name = name
        self._config = config
        self._sandbox = sandbox
        self._test_env = test_env
        self._python = python
        self.seeds = mypy_seeds if name == "types" else None
        """The warm caches the types gate it picks starts from (``gates.mypy_seed``)."""
        self.publishes = False
        """Whether that gate publishes its finished runs' caches (:meth:`publisher`)."""
        self.reads_only = name in READ_ONLY_PROFILE_GATES
        """Whether the gate it picks may run beside others (``engine.gate_runner``)."""
        self.runs_on = python if name in ("tests", "types") else None
        """Whose installed packages the gate it picks reads (``gates.cache`` keys on them)."""

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

    def publisher(self) -> TreeDetectedGate:
        """This gate, its types gate publishing seeds: for the merge step (the factory's own
        checkouts), as :meth:`MypyGate.publisher`. Its verdicts are this gate's."""
        twin = copy.copy(self)
        twin.publishes = True
        return twin

    def _picked(self, workspace: Path) -> Gate | None:
        chosen, _ = detected_gates(
            workspace,
            self._config,
            self._sandbox,
            test_env=self._test_env,
            interpreter=self._python,
            mypy_seeds=self.seeds,
        )
        gate = chosen.get(self.name)
        if self.publishes and isinstance(gate, MypyGate):
            return gate.publisher()
        return gate

    def wants_run(self, workspace: Path) -> bool:
        """The picked types gate's :meth:`MypyGate.wants_run` (``gates.cache``)."""
        if not self.publishes:
            return False
        gate = self._picked(workspace)
        return isinstance(gate, MypyGate) and gate.wants_run(workspace)

    async def check(self, workspace: Path) -> GateResult:
        gate = self._picked(workspace)
        if gate is None:
            return GateResult(
                gate=self.name, passed=True, summary=f"not run: {self._why(workspace)}"
            )
        return await gate.check(workspace)

    def _why(self, tree: Path) -> str:
        """Why this tree calls for no gate of this name, in the words of its detection."""
        if self.name.startswith("node-"):
            if not node_packages(tree):
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
            chosen[name] = TreeDetectedGate(
                name, config, sandbox, test_env=test_env, python=python, mypy_seeds=mypy_seeds
            )
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
    secrets = chosen.get("secrets")
    if use_cache and cache is not None and cache.directory and isinstance(secrets, SecretsGate):
        # Each file's answer outlives the run: the next run's baseline reads only what changed.
        secrets.memo = FileFindings(cache.directory / SECRETS_MEMO)
    gate_set = GateSet(profiles=profiles or ["generic"])
    parts = parts_for(profiles, node_packages(repo))
    for name, gate in chosen.items():
        # A Python project with a Node front end: a gate reads its language's files, runs
        # at a task only when those changed, and is cached on them (gates.parts). The
        # scans of what a revision changed, shrinkage and custom gates read everything.
        part = parts[part_of(name)] if parts is not None and name in SCOPED_GATES else None
        wrapped = cache.wrap(gate, part) if use_cache and cache is not None else gate
        on_changes: Gate | None = None
        publisher: Gate | None = None
        for step in scopes[name]:
            if (
                step == "merge"
                and isinstance(gate, MypyGate | TreeDetectedGate)
                and gate.seeds is not None
            ):
                # The merge candidates' trees are the factory's own: their caches seed the
                # attempts' (gates.mypy_seed). The verdicts are shared through the cache.
                if publisher is None:
                    own = gate.publisher()
                    publisher = cache.wrap(own, part) if use_cache and cache is not None else own
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
            if step == "task" and part is not None:
                gate_set.task.append(ScopedGate(wrapped, part))
                continue
            getattr(gate_set, step).append(wrapped)
    return gate_set
