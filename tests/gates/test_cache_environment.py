"""A tests or types verdict is about the tree *and* what the project's interpreter has
installed: the gate cache's key holds a fingerprint of that environment (``gates.installed``).

The key held the tree, the gates' code and shopfloor's tools only: a project whose missing
dependency was then installed stayed red from the cache (and one whose dependency was removed
stayed green), run after run, until its tree changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gates.cache import GateCache
from gates.config import GatesConfig
from gates.installed import environment_fingerprint
from gates.profiles import build_gates
from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox
from tests.gates.test_repo_shapes import GIT_ENV

APP = "import tinydep\n\n\ndef double(x: int) -> int:\n    return tinydep.times(x, 2)\n"
TINYDEP = "def times(x: int, k: int) -> int:\n    return x * k\n"


def git_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True)
    return root


def tinydep_wheel(where: Path) -> Path:
    """A wheel of a one-module typed package, written by hand (no build backend, offline)."""
    files = {
        "tinydep/__init__.py": TINYDEP.encode(),
        "tinydep/py.typed": b"",
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        sha = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={sha},{len(data)}")
    record.append("tinydep-1.0.dist-info/RECORD,,")
    wheel = where / "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("tinydep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def make_venv(venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv


def pip(venv_python: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv_python), "-q", *args],
        check=True,
        capture_output=True,
    )


async def test_types_verdict_follows_installs_and_removals_in_the_projects_venv(
    tmp_path: Path,
) -> None:
    repo = git_repo(
        tmp_path / "repo",
        {"pyproject.toml": "[tool.mypy]\nstrict = true\n", "app.py": APP},
    )
    venv = make_venv(tmp_path / "venv")
    python = venv / "bin" / "python"
    sandbox = ProcessSandbox(use_bwrap=False, extra_readable=[venv])
    cache = GateCache(tmp_path / "gate-cache")
    try:
        gate_set = build_gates(repo, GatesConfig(), sandbox, cache=cache, python=str(python))
        (types,) = [g for g in gate_set.task if g.name == "types"]

        missing = await types.check(repo)
        assert not missing.passed and "tinydep" in missing.findings[0].message

        pip(python, "install", "--no-index", "--no-deps", str(tinydep_wheel(tmp_path)))
        installed = await types.check(repo)
        assert not installed.cached, "the verdict from before the install was reused"
        assert installed.passed, installed.summary

        pip(python, "uninstall", "-y", "tinydep")
        removed = await types.check(repo)
        assert not removed.passed, "the verdict from before the removal was reused"
        # The environment is as it was at first: so is the key, and the first verdict is reused.
        assert removed.cached
        assert (cache.hits, cache.misses) == (1, 2)
    finally:
        sandbox.close()


def test_fingerprint_reads_the_venvs_site_folder_without_running_it(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv")
    python = str(venv / "bin" / "python")
    before = environment_fingerprint(python)
    assert environment_fingerprint(python) == before
    (site,) = venv.glob("lib/python*/site-packages")
    pth = site / "extra.pth"
    pth.write_text(str(tmp_path) + "\n", encoding="utf-8")
    with_pth = environment_fingerprint(python)
    assert with_pth != before
    pth.unlink()
    assert environment_fingerprint(python) == before


async def test_tests_gate_cache_misses_when_a_pth_file_is_added(tmp_path: Path) -> None:
    """A ``.pth`` file (an editable install, a path added by hand) changes what the tests
    import: a stored verdict of the tests gate is not reused."""
    repo = git_repo(
        tmp_path / "repo",
        {
            "test_app.py": (
                "import tinydep\n\n\ndef test_times() -> None:\n"
                "    assert tinydep.times(2, 3) == 6\n"
            )
        },
    )
    venv = make_venv(tmp_path / "venv")
    (site,) = venv.glob("lib/python*/site-packages")
    # pytest and its plugins from shopfloor's own environment, as a project's dev install
    own = [p for p in sys.path if p.endswith("site-packages")]
    (site / "shared.pth").write_text("\n".join(own) + "\n", encoding="utf-8")
    lib = tmp_path / "lib"
    (lib / "tinydep").mkdir(parents=True)
    (lib / "tinydep" / "__init__.py").write_text(TINYDEP, encoding="utf-8")
    sandbox = ProcessSandbox(use_bwrap=False, extra_readable=[venv, lib, *map(Path, own)])
    cache = GateCache(tmp_path / "gate-cache")
    try:
        gate = cache.wrap(
            PytestGate(
                sandbox,
                python=str(venv / "bin" / "python"),
                env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                timeout_s=120,
            )
        )
        before = await gate.check(repo)
        assert not before.passed and "tinydep" in before.summary, before.summary
        (site / "tinydep.pth").write_text(f"{lib}\n", encoding="utf-8")
        after = await gate.check(repo)
        assert not after.cached
        assert after.passed, after.summary
    finally:
        sandbox.close()


def editable_install(site: Path, lib: Path, form: str) -> None:
    """``sib`` (its source in ``lib``) installed in editable mode, written as the installers
    write it: ``pth`` a path line (flit, hatchling, setuptools' lenient mode), ``finder`` an
    import line whose finder holds the path and ``direct_url.json`` saying ``editable``
    (setuptools' strict mode), ``egg-link`` the old ``setup.py develop``."""
    if form == "pth":
        (site / "_sib.pth").write_text(f"{lib}\n", encoding="utf-8")
    elif form == "egg-link":
        (site / "sib.egg-link").write_text(f"{lib}\n.\n", encoding="utf-8")
        (site / "easy-install.pth").write_text(f"{lib}\n", encoding="utf-8")
    else:
        (site / "__editable___sib_finder.py").write_text(
            f"import sys\n\n\ndef install():\n    sys.path.append({str(lib)!r})\n",
            encoding="utf-8",
        )
        (site / "__editable__.sib-0.1.pth").write_text(
            "import __editable___sib_finder; __editable___sib_finder.install()\n",
            encoding="utf-8",
        )
    info = site / "sib-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sib\nVersion: 0.1\n")
    url = {"url": lib.as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url), encoding="utf-8")


@pytest.mark.parametrize("form", ["pth", "finder", "egg-link"])
def test_fingerprint_sees_an_editable_installs_sources_change(tmp_path: Path, form: str) -> None:
    """A package installed in editable mode is imported from its source folder: an edit
    there, a file added or removed, changes what the tests and mypy see, so the fingerprint."""
    venv = make_venv(tmp_path / "venv")
    python = str(venv / "bin" / "python")
    (site,) = venv.glob("lib/python*/site-packages")
    lib = tmp_path / "sib"
    (lib / "sib").mkdir(parents=True)
    module = lib / "sib" / "__init__.py"
    module.write_text("X = 1\n", encoding="utf-8")
    editable_install(site, lib, form)
    first = environment_fingerprint(python)
    module.write_text("X = 2\n", encoding="utf-8")
    os.utime(module, ns=(module.stat().st_mtime_ns + 10**6,) * 2)  # a coarse clock's tick
    edited = environment_fingerprint(python)
    assert edited != first, "an edit of the editable package's source kept the fingerprint"
    (lib / "sib" / "extra.py").write_text("Y = 1\n", encoding="utf-8")
    added = environment_fingerprint(python)
    assert added not in (first, edited)
    # Bytecode, tool caches and hidden folders are not sources.
    (lib / "sib" / "__pycache__").mkdir()
    (lib / "sib" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    (lib / ".mypy_cache").mkdir()
    (lib / ".mypy_cache" / "x.json").write_text("{}", encoding="utf-8")
    assert environment_fingerprint(python) == added


async def test_tests_gate_cache_misses_when_an_editable_sibling_changes(tmp_path: Path) -> None:
    """A monorepo's sibling package installed editable (setuptools' finder: no path in the
    ``.pth``) broke its contract: the tests importing it are run again, not reused green."""
    repo = git_repo(
        tmp_path / "repo",
        {"test_app.py": "import sib\n\n\ndef test_x() -> None:\n    assert sib.X == 1\n"},
    )
    venv = make_venv(tmp_path / "venv")
    (site,) = venv.glob("lib/python*/site-packages")
    own = [p for p in sys.path if p.endswith("site-packages")]
    (site / "shared.pth").write_text("\n".join(own) + "\n", encoding="utf-8")
    lib = tmp_path / "sib"
    (lib / "sib").mkdir(parents=True)
    module = lib / "sib" / "__init__.py"
    module.write_text("X = 1\n", encoding="utf-8")
    editable_install(site, lib, "finder")
    sandbox = ProcessSandbox(use_bwrap=False, extra_readable=[venv, lib, *map(Path, own)])
    cache = GateCache(tmp_path / "gate-cache")
    try:
        gate = cache.wrap(
            PytestGate(
                sandbox,
                python=str(venv / "bin" / "python"),
                env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                timeout_s=120,
            )
        )
        before = await gate.check(repo)
        assert before.passed, before.summary
        assert (await gate.check(repo)).cached  # nothing changed: the verdict is reused
        module.write_text("X = 2\n", encoding="utf-8")
        os.utime(module, ns=(module.stat().st_mtime_ns + 10**6,) * 2)
        after = await gate.check(repo)
        assert not after.cached, "the green verdict from before the sibling's edit was reused"
        assert not after.passed, after.summary
    finally:
        sandbox.close()
