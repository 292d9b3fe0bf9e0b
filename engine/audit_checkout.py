"""The audit's read-only look at a checkout: its files, a committed scratch copy of them, the
modules no test imports, and the sources as a code reviewer reads them.

Nothing here writes to the repository or its refs: the checkout is listed with ``git
ls-files`` and copied, uncommitted edits included, into a scratch folder that the caller
removes (:func:`engine.audit.run_audit`).
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import git

from engine.factory_git import SessionRepo
from engine.generated_files import copy_generated_files
from engine.secret_files import judged_name, masked_for_model

SKIP = frozenset(
    {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", "venv"}
)


def checkout_files(repo: Path) -> list[str]:
    """The files of the checkout as it is: tracked (minus deleted) and untracked but not
    ignored — what ``git status`` would call the project. Read-only."""
    handle = SessionRepo(repo)
    try:
        out = handle.git.ls_files("-z", "--cached", "--others", "--exclude-standard")
    finally:
        handle.close()
    names = [n for n in dict.fromkeys(str(out).split("\0")) if n]
    return [n for n in names if not any(p in SKIP for p in PurePosixPath(n).parts)]


_SNAPSHOT_GIT = (
    "-c",
    "commit.gpgsign=false",  # the user's signing key (and its passphrase prompt) stays out
    "-c",
    "core.hooksPath=/dev/null",  # so do the user's global hooks: none runs on the copy
)


_SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "shopfloor audit",
    "GIT_AUTHOR_EMAIL": "audit@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "shopfloor audit",
    "GIT_COMMITTER_EMAIL": "audit@shopfloor.invalid",
}


def _copy_link(repo: Path, source: Path, target: Path) -> None:
    """Copy a symlink that stays inside the checkout as a link relative to its own folder
    (so it points at the copy); one that leaves the checkout or dangles is left out."""
    root = repo.resolve()
    try:
        real = source.resolve(strict=True)
    except (OSError, RuntimeError):
        return
    if real != root and not real.is_relative_to(root):
        return
    link_dir = source.parent.resolve()
    target.symlink_to(os.path.relpath(real, link_dir))


def snapshot(repo: Path, scratch: Path) -> Path:
    """Copy the checkout's files (uncommitted edits included; ignored files, .git and caches
    left out) to ``scratch/tree`` and commit them there, so gates see a plain git checkout.
    Symlinks inside the checkout are kept as links; the version file the build wrote into the
    package is copied though git ignores it (:mod:`engine.generated_files`); the user's git
    hooks and commit signing play no part in the copy's commit."""
    tree = scratch / "tree"
    tree.mkdir(parents=True)
    for rel in checkout_files(repo):
        source = repo / rel
        target = tree / rel
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_link(repo, source, target)
            continue
        if not source.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git.Repo.init(tree).close()
    # the version module the build wrote (hatch-vcs, setuptools-scm) is ignored, so not
    # listed above; without it the package does not import and types and tests fail
    copy_generated_files(repo, tree)
    copy = git.Repo(tree)
    try:
        copy.git.execute(["git", *_SNAPSHOT_GIT, "add", "-A"])
        copy.git.execute(
            [
                "git",
                *_SNAPSHOT_GIT,
                "commit",
                "-q",
                "--no-verify",
                "--allow-empty",
                "-m",
                "audit snapshot",
            ],
            env=_SNAPSHOT_IDENTITY,
        )
    finally:
        copy.close()
    return tree


def scratch_folder() -> Path:
    """A fresh temporary folder for a snapshot (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="shopfloor-audit-"))


def _is_test(rel: str) -> bool:
    path = PurePosixPath(rel)
    return (
        path.name.startswith("test_")
        or path.name.endswith("_test.py")
        or path.name == "conftest.py"
        or any(p in ("tests", "test") for p in path.parts[:-1])
    )


TOOLING = frozenset({"setup.py", "noxfile.py"})
"""Files at the top that a tool runs (packaging, nox), not modules of the code."""


def _is_tooling(rel: str) -> bool:
    """A build or task runner's file, or a Sphinx ``conf.py`` under docs/ (click's and
    sampleproject's audits listed docs/conf.py and noxfile.py as untested modules)."""
    path = PurePosixPath(rel)
    if len(path.parts) == 1 and path.name in TOOLING:
        return True
    return path.name == "conf.py" and any(p in ("doc", "docs") for p in path.parts[:-1])


def _imported_by_call(node: ast.AST) -> str | None:
    """The module a call imports by a literal name: ``importlib.import_module("pkg.mod")``,
    ``import_module("pkg.mod")`` or ``__import__("pkg.mod")`` (a relative name: None)."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func, name = node.func, node.args[0]
    by_name = (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    if not by_name or not isinstance(name, ast.Constant) or not isinstance(name.value, str):
        return None
    return name.value if name.value and not name.value.startswith(".") else None


def _imports(source: str, package: Mapping[str, str] | None = None) -> set[str]:
    """The dotted names a test file imports, and the attributes it reads off them:
    ``import humanize`` then ``humanize.naturalsize(...)`` gives ``humanize.naturalsize``;
    ``legacy = importlib.import_module("slugify._legacy")`` imports ``slugify._legacy``
    (python-slugify's tests reach two of its modules so; its audit listed one untested).
    ``package`` is what the test folder's ``__init__`` binds (:func:`_bindings`), which
    ``from . import X`` takes: tomli's tests ``__init__`` has ``import tomli as tomllib``
    and each test ``from . import tomllib`` then ``tomllib.loads``."""
    return _read_imports(source, package or {})[0]


def _bindings(source: str) -> dict[str, str]:
    """The names a module binds to what it imports (``import tomli as tomllib``: tomllib)."""
    return _read_imports(source, {})[1]


def _read_imports(source: str, package: Mapping[str, str]) -> tuple[set[str], dict[str, str]]:
    """:func:`_imports`'s names and the bindings that give them."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), {}
    found: set[str] = set()
    bound: dict[str, str] = {}  # a name the file binds -> the dotted name it stands for
    reads: list[tuple[str, str]] = []  # name.attr
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name):
                reads.append((node.value.id, node.attr))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
                top = alias.name.partition(".")[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
        elif (module := _imported_by_call(node)) is not None:
            found.add(module)
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and not node.module:
            for alias in node.names:  # from . import tomllib: what the __init__ bound
                if (dotted := package.get(alias.name)) is not None:
                    found.add(dotted)
                    bound[alias.asname or alias.name] = dotted
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}")
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, module = node.targets[0], _imported_by_call(node.value)
            if isinstance(target, ast.Name) and module is not None:
                bound[target.id] = module
    found.update(f"{bound[name]}.{attr}" for name, attr in reads if name in bound)
    return found, bound


def _re_exports(package: str, source: str) -> list[tuple[str, str]]:
    """``(name, module)`` for each name a package's ``__init__`` (dotted ``package``) takes
    from another module: ``from .filesize import naturalsize`` gives
    ``("naturalsize", "<package>.filesize")``, ``from . import lists`` gives
    ``("lists", "<package>.lists")``; a star import gives ``("*", module)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    parts = package.split(".") if package else []
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            if node.level - 1 > len(parts):
                continue
            kept = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*kept, node.module] if node.module else kept)
            if node.module is None:  # from . import lists: the names may be modules
                found += [(a.asname or a.name, f"{base}.{a.name}") for a in node.names]
                continue
        elif node.module:
            base = node.module
        else:
            continue
        found += [(a.asname or a.name, base) for a in node.names]
    return found


def _suffixes(name: str) -> list[str]:
    """``name`` and each dotted tail of it (``src/pkg/mod.py`` is imported as ``pkg.mod``)."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def untested_modules(root: Path, files: Sequence[str]) -> list[str]:
    """Python modules (not tests, not ``__init__``) that no test file imports (by their
    dotted path or any dotted suffix of it, so ``src/pkg/mod.py`` is ``pkg.mod``), directly
    or as a name its package's ``__init__`` re-exports (``import humanize`` then
    ``humanize.naturalsize``, where ``__init__`` has ``from .filesize import naturalsize``,
    tests ``humanize/filesize.py``)."""
    imported: set[str] = set()
    modules: dict[str, str] = {}
    exports: dict[str, list[tuple[str, str]]] = {}
    sources = {}
    for rel in files:
        if not rel.endswith(".py"):
            continue
        try:
            sources[rel] = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    test_packages = {  # a test folder -> what its __init__ binds
        PurePosixPath(rel).parent: _bindings(source)
        for rel, source in sources.items()
        if _is_test(rel) and PurePosixPath(rel).name == "__init__.py"
    }
    for rel, source in sources.items():
        if _is_test(rel):
            imported |= _imports(source, test_packages.get(PurePosixPath(rel).parent))
            continue
        if rel.endswith("__init__.py"):
            package = ".".join(PurePosixPath(rel).parent.parts)
            if "from" in source:
                exports[package] = _re_exports(package, source)
            continue
        if _is_tooling(rel):
            continue
        modules[rel.removesuffix(".py").replace("/", ".")] = rel

    def used(name: str) -> bool:  # by any dotted suffix: src/ layouts, nested projects
        return any(tail in imported for tail in _suffixes(name))

    grown = True
    while grown:  # a package re-exporting a subpackage's names: follow it down
        grown = False
        for package, names in exports.items():
            tails = tuple(f"{tail}." for tail in _suffixes(package))
            for name, module in names:
                if name != "*":
                    reached = {module} if used(f"{package}.{name}") else set()
                else:  # package.X stands for module.X (one name deep: no cycle)
                    reached = {
                        f"{module}.{n.removeprefix(t)}"
                        for n in imported
                        for t in tails
                        if n.startswith(t) and n[len(t) :].isidentifier()
                    }
                    reached |= {module} if used(package) else set()
                if not reached <= imported:
                    imported |= reached
                    grown = True
    return sorted(rel for name, rel in modules.items() if not used(name))


OTHER_LANGUAGE_MANIFESTS = frozenset(
    {"package.json", "go.mod", "Cargo.toml", "pom.xml", "build.gradle", "Gemfile", "composer.json"}
)
"""Files that make their folder a package of another language (a ``web/`` front end)."""


def not_python_parts(files: Sequence[str]) -> list[str]:
    """What of the checkout the Python-only checks (dead code, untested modules) cannot
    read: ``["."]`` when no file is a Python module, else each outermost folder holding
    another language's package (:data:`OTHER_LANGUAGE_MANIFESTS`) and no Python module."""
    python = [rel for rel in files if rel.endswith(".py")]
    if not python:
        return ["."]
    parts: list[str] = []
    for rel in sorted(files):
        path = PurePosixPath(rel)
        folder = path.parent.as_posix()
        if (
            path.name not in OTHER_LANGUAGE_MANIFESTS
            or folder == "."
            or "node_modules" in path.parts
            or any(folder.startswith(f"{outer}/") for outer in parts)
            or any(module.startswith(f"{folder}/") for module in python)
        ):
            continue
        parts.append(folder)
    return parts


def numbered_sources(root: Path, files: Sequence[str], limit: int = 40000) -> str:
    """The Python sources with line numbers (what a code reviewer cites), bounded."""
    parts: list[str] = []
    used = 0
    for rel in files:
        if not rel.endswith(".py"):
            continue
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        text = masked_for_model(judged_name(root, rel), text)  # reviewers: third-party models
        body = "\n".join(f"{n:4d} {line}" for n, line in enumerate(text.splitlines(), 1))
        block = f"### {rel}\n{body}\n"
        if used + len(block) > limit:
            parts.append(f"### {rel}\n(omitted: the sources exceed the review budget)\n")
            continue
        parts.append(block)
        used += len(block)
    return "\n".join(parts)
