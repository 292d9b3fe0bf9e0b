"""The types gate reads the mypy configuration mypy itself reads: ``mypy.ini``, then
``.mypy.ini``, then ``pyproject.toml``'s ``[tool.mypy]``, then ``setup.cfg``'s ``[mypy]``.

The gate read ``pyproject.toml`` first. A repository with both a ``mypy.ini`` (what mypy
runs with) and a ``[tool.mypy]`` table (left over, or for another tool's sake) was run as
the table said: ``mypy .`` where ``mypy.ini`` names its packages (a script beside them
stopped mypy on a duplicate module name), and the project's interpreter version passed over
the ``python_version`` mypy.ini sets, or left out where only the table set it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.config import GatesConfig
from gates.mypy_config import mypy_pins_version, mypy_setup
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


PYPROJECT_WITH_MYPY = '[project]\nname = "app"\n\n[tool.mypy]\npython_version = "3.9"\n'


@pytest.mark.parametrize("ini", ["mypy.ini", ".mypy.ini"])
def test_mypy_ini_wins_over_pyproject(tmp_path: Path, ini: str) -> None:
    repo = write(tmp_path, {"pyproject.toml": PYPROJECT_WITH_MYPY, ini: "[mypy]\npackages = app\n"})
    assert mypy_setup(repo) == (True, True)  # mypy.ini names what to check
    assert not mypy_pins_version(repo)  # the table's python_version is not what mypy reads


def test_pyproject_wins_over_setup_cfg(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "setup.cfg": "[mypy]\npython_version = 3.9\nfiles = app\n",
            "pyproject.toml": "[tool.mypy]\nstrict = true\n",
        },
    )
    assert mypy_setup(repo) == (True, False)
    assert not mypy_pins_version(repo)


def test_mypy_ini_without_a_mypy_section_is_still_the_one_mypy_reads(tmp_path: Path) -> None:
    """mypy takes ``mypy.ini`` whenever it is there (and says it has no ``[mypy]`` section):
    the ``[tool.mypy]`` table is not read."""
    repo = write(tmp_path, {"mypy.ini": "[mypy-app.*]\nignore_errors = true\n"})
    write(repo, {"pyproject.toml": PYPROJECT_WITH_MYPY})
    assert mypy_setup(repo) == (False, False)
    assert not mypy_pins_version(repo)


def test_the_version_mypy_ini_pins_is_left_to_it(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "pyproject.toml": "[tool.mypy]\nstrict = true\n",
            "mypy.ini": "[mypy]\npython_version = 3.10\n",
        },
    )
    assert mypy_pins_version(repo)


async def test_types_gate_runs_mypy_as_mypy_ini_says_with_a_pyproject_table_beside_it(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    repo = write(
        tmp_path / "repo",
        {
            "pyproject.toml": '[project]\nname = "app"\n\n[tool.mypy]\nstrict = true\n',
            "mypy.ini": "[mypy]\npackages = app\n",
            "app/__init__.py": "",
            "app/calc.py": "def double(x: int) -> int:\n    return str(x)\n",
            "bench/app.py": "print('a benchmark script, not checked by mypy')\n",
        },
    )
    gate_set = build_gates(repo, GatesConfig(), process_sandbox)
    (types,) = [g for g in gate_set.task if g.name == "types"]
    result = await types.check(repo)
    assert [(f.file, f.line) for f in result.findings] == [("app/calc.py", 2)], result.summary
    assert "Duplicate module" not in result.summary
