"""A repository the factory cannot work on is refused before anything else is said: one
line on stderr, exit code 2, nothing on stdout (the warnings about the models came first,
and a telemetry port was taken, before the refusal). The storage writer's process, spawned
before the set-up so that it starts meanwhile, is gone with the refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from tui.cli import main

PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "units" / "playbook.yaml"


def _writer_processes() -> list[int]:
    """This process's children that are storage writers (zombies included: none is reaped)."""
    pids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile (CI: a pool's worker)
            continue
    return [pid for pid in pids if _writer_or_zombie(pid)]


def _writer_or_zombie(pid: int) -> bool:
    try:
        if b"storage.writer_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return True
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:  # it ended (and was reaped) meanwhile
        return False


def _bare(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "src", {"a.py": "x = 1\n"})
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(tmp_path / "bare.git"))
    return tmp_path / "bare.git"


CASES = [
    ("inside", lambda t: make_repo(t / "repo", {"pkg/a.py": ""}) / "pkg", "is a folder inside"),
    ("bare", _bare, "bare repositories are not supported"),
    (
        "git-folder",  # the gates' profile was read off .git: no tests, no lint
        lambda t: make_repo(t / "repo", {"pyproject.toml": "[project]\nname='a'\n"}) / ".git",
        "is the git folder of the repository",
    ),
    ("plain", lambda t: (t / "plain").mkdir() or t / "plain", "not a git repository"),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("mode", ["update", "audit"])
def test_a_repository_that_cannot_be_used_is_the_only_line(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], make, expected: str, mode: str
) -> None:
    repo = make(tmp_path)
    before = _writer_processes()
    code = main(
        [
            *("run", "Add Kelvin", "--repo", str(repo), "--playbook", str(PLAYBOOK)),
            *("--mode", mode, "--db", str(tmp_path / "runs.db"), "--metrics-port", "0"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    assert expected in err
    assert _writer_processes() == before
