"""The gates read a workspace's configuration in the factory process (tox, make, nox, mypy,
pre-commit, ruff, pyproject, package.json, the secrets baseline, a module vulture named),
where an agent may have put a symlink to a file of the host. Each is read part by part
(``engine.beneath``): through a link leading out it reads as no file, so nothing of the
host's file reaches a command line, a summary or a verdict; a link inside still reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox

from gates.command_gate import NodeScriptGate
from gates.makefile_commands import makefile_commands
from gates.mypy_config import mypy_config, pre_commit_mypy_excludes
from gates.mypy_runners import runs_mypy
from gates.project_scripts import project_commands
from gates.ruff_format import formats_with_ruff
from gates.ruff_pin import pinned_ruff
from gates.secrets_gate import read_baseline
from gates.tox_config import tox_commands
from gates.vulture_noise import NoiseFilter

CANARY = "canary_7f3e_outside"
HOOK = "repos:\n- repo: x\n  hooks:\n  - id: mypy\n    exclude: CANARY\n"
BASELINE = '{"version": "1", "plugins_used": [], "results": {"CANARY": []}}\n'
Probe = Callable[[Path], object]

CASES: list[tuple[str, str, Probe]] = [
    ("tox.ini", "[testenv]\ncommands = mypy CANARY\n", lambda w: tox_commands(w)),
    ("tox.toml", '[env_run_base]\ncommands = [["mypy", "CANARY"]]\n', lambda w: tox_commands(w)),
    ("Makefile", "check:\n\tmypy CANARY\n", makefile_commands),
    ("noxfile.py", 'session.run("mypy", "CANARY")\n', lambda w: runs_mypy(w) and CANARY),
    ("mypy.ini", "[mypy]\nplugins = CANARY\n", mypy_config),
    ("pyproject.toml", '[tool.mypy]\nplugins = "CANARY"\n', mypy_config),
    (".pre-commit-config.yaml", HOOK, pre_commit_mypy_excludes),
    (
        ".pre-commit-config.yaml",
        "repos:\n- repo: astral-sh/ruff-pre-commit\n  rev: v9.9.9\n",
        lambda w: pinned_ruff(w) == "9.9.9" and CANARY,
    ),
    ("pyproject.toml", "[tool.ruff.format]\n", lambda w: formats_with_ruff(w) and CANARY),
    ("pyproject.toml", '[project.scripts]\nCANARY = "a:b"\n', project_commands),
    ("setup.cfg", "[options.entry_points]\nconsole_scripts =\n  CANARY = a:b\n", project_commands),
    (".secrets.baseline", BASELINE, read_baseline),
    (
        "mod.py",
        "def hook(CANARY):\n    pass\n",
        lambda w: NoiseFilter(w).is_noise("mod.py", 1, f"unused variable '{CANARY}'") and CANARY,
    ),
]
IDS = [f"{name}-{index}" for index, (name, _, _) in enumerate(CASES)]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "config").mkdir(parents=True)
    return root


def shows_canary(found: object) -> bool:
    return CANARY in repr(found)


@pytest.mark.parametrize(("name", "text", "probe"), CASES, ids=IDS)
@pytest.mark.parametrize("how", ["absolute", "climbing", "folder"])
def test_a_configuration_linked_out_of_the_workspace_is_not_read(
    workspace: Path, name: str, text: str, probe: Probe, how: str
) -> None:
    outside = workspace.parent / "home" / "me"
    outside.mkdir(parents=True)
    (outside / name).write_text(text.replace("CANARY", CANARY))
    if how == "absolute":
        (workspace / name).symlink_to(outside / name)
    elif how == "climbing":
        (workspace / name).symlink_to(Path("..", "home", "me", name))
    else:  # a folder on the way: config -> the outside folder
        (workspace / "config").rmdir()
        (workspace / "config").symlink_to(outside, target_is_directory=True)
        (workspace / name).symlink_to(Path("config", name))
    assert not shows_canary(probe(workspace))


@pytest.mark.parametrize(("name", "text", "probe"), CASES, ids=IDS)
def test_a_configuration_linked_inside_is_read(
    workspace: Path, name: str, text: str, probe: Probe
) -> None:
    (workspace / "config" / name).write_text(text.replace("CANARY", CANARY))
    (workspace / name).symlink_to(Path("config", name))
    assert shows_canary(probe(workspace))


@pytest.mark.parametrize("linked", ["package.json", "web"])
async def test_a_node_package_linked_out_runs_no_script(workspace: Path, linked: str) -> None:
    """A package.json (or package folder) linked to the host's: the Node gate read its
    scripts, ran one, and named the package manager it calls."""
    outside = workspace.parent / "home" / "me"
    outside.mkdir(parents=True)
    (outside / "package.json").write_text('{"scripts": {"lint": "yarn eslint"}}\n')
    if linked == "web":
        (workspace / "web").symlink_to(outside, target_is_directory=True)
    else:
        (workspace / "web").mkdir()
        (workspace / "web" / "package.json").symlink_to(outside / "package.json")
    sandbox = RecordingSandbox(output="sh: 1: yarn: not found\n", returncode=127)
    gate = NodeScriptGate(sandbox, script="lint", packages=("web",))
    result = await gate.check(workspace)
    assert sandbox.argvs == [] and "yarn" not in result.summary, result.summary
    assert result.summary == "no 'lint' script in any package.json; nothing to run"
