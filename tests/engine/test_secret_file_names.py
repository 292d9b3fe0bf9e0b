"""``is_secret_file`` answers as it did, at a fraction of the cost.

Every listing of a worktree's secret files (the fence's at each agent start, the toolbelt's
and the sandbox's after a write, the secret-file index's) asks it of each name. It split every
name into parts and built two ``PurePosixPath`` objects first: 14 us a name here, 0.3 s for
the 20,000 names of a big worktree. The answers below are checked against that
implementation, kept here as the reference, on some 200,000 names built from every pattern
it knows, their near misses, case variants and deep paths.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import PurePosixPath

from engine.secret_files import (
    EXAMPLE_WORDS,
    SECRET_FILE_NAMES,
    SECRET_PATHS,
    SECRET_SUFFIXES,
    is_secret_file,
)

_NAME_PARTS = re.compile(r"[._\-]")


def reference_is_secret_file(path: str) -> bool:
    """The implementation before, verbatim."""
    pure = PurePosixPath(path)
    name = pure.name.lower()
    if not name or name.endswith(".pub"):
        return False
    if EXAMPLE_WORDS.intersection(_NAME_PARTS.split(name)):
        return False
    if name in SECRET_FILE_NAMES or name.startswith(".env."):
        return True
    if name.startswith("client_secret") and name.endswith(".json"):
        return True
    parts = tuple(p.lower() for p in pure.parts[-2:])
    return parts in SECRET_PATHS or PurePosixPath(name).suffix in SECRET_SUFFIXES


def _case_variants(name: str) -> set[str]:
    return {name, name.upper(), name.title(), name[:1].upper() + name[1:]}


def realistic_names() -> list[str]:
    """Secret names, near misses, case variants, in folders of every depth and odd forms."""
    stems = [
        *SECRET_FILE_NAMES,
        *(f"server{suffix}" for suffix in SECRET_SUFFIXES),
        *(suffix for suffix in SECRET_SUFFIXES),  # ``.pem`` alone: no suffix, by PurePosixPath
        *(name for _, name in SECRET_PATHS),
        ".env.local", ".env.production", ".env.", ".envrc", "env", "env.py", ".env.py",
        "prod.env", "prod.env.bak", "client_secret.json", "client_secret_123.apps.json",
        "client_secrets.json", "client_secret.yaml", "secrets_test.py", "secrets.py",
        "test_secrets.py", "credentials.py", "credentials_helper.json", "my-credentials.json",
        "id_rsa.pub", "id_ed25519.pub", "server.pem.pub", "key.py", "keys.json", "keystore",
        "config.json", "config", "config.yaml", "settings.py", "README.md", "main.go",
        "Makefile", ".gitignore", "package.json", "pyproject.toml", "m12.py", "a.b.c",
        "x.", ".", "..", "...", "a..pem", "tf.tfvars.json", "terraform.tfvars.json",
    ]  # fmt: skip
    names: set[str] = set()
    for stem in stems:
        names.add(stem)
        for word in EXAMPLE_WORDS:
            names.update({f"{stem}.{word}", f"{word}.{stem}", f"{stem}-{word}", f"{stem}_{word}x"})
            names.add(f"{stem}.{word}.json")
    names = {variant for name in names for variant in _case_variants(name)}
    folders = [
        "", "src/", "a/b/c/d/e/", ".docker/", ".kube/", ".DOCKER/", "docker/", "kube/",
        ".aws/", "config/", "./", "a//", "deploy/.docker/", ".docker/./", "x/../",
    ]  # fmt: skip
    paths = [folder + name for folder, name in itertools.product(folders, sorted(names))]
    paths += [path + "/" for path in paths[:: len(folders)]]  # a trailing slash
    paths += [path + "/." for path in paths[:: 7 * len(folders)]]
    paths += ["", "/", "./", ".docker/config.json/", "/abs/.env", "\\win\\.env", "a\\.env"]
    return paths


def test_is_secret_file_answers_as_before_on_realistic_names() -> None:
    names = realistic_names()
    assert len(names) > 100_000
    wrong = [name for name in names if is_secret_file(name) != reference_is_secret_file(name)]
    assert wrong == []
    secret = sum(map(is_secret_file, names))
    assert secret > 2_000  # the secret answers are well represented too


def _per_name_s(check: object, names: list[str]) -> float:
    assert callable(check)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for name in names:
            check(name)
        best = min(best, time.perf_counter() - started)
    return best / len(names)


def test_is_secret_file_is_cheap_on_a_worktrees_ordinary_names() -> None:
    """What a listing asks of: source files in folders (measured 14.4 us a name before,
    0.6 us after, on this machine)."""
    names = [f"pkg{d}/src/module_{n}.py" for d in range(100) for n in range(100)]
    before = _per_name_s(reference_is_secret_file, names)
    after = _per_name_s(is_secret_file, names)
    assert after < before / 4, f"{after * 1e6:.2f} us a name, {before * 1e6:.2f} us before"
