"""A repository the factory cannot work on is refused before anything else is said: one
line on stderr, exit code 2, nothing on stdout (the warnings about the models came first,
and a telemetry port was taken, before the refusal)."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from tui.cli import main

PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "units" / "playbook.yaml"


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
