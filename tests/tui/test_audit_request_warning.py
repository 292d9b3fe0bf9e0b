"""A request worded "Audit X", as the README's first lines put it, on a run that is not an
audit is said at its start: the mode comes from --mode, the playbook or the repository, never
from the request's words, so such a run planned changes and shipped them without a word.

Each run is the inventory playbook (a build): its twin escalates, and ``--escalations
reject`` kills the run there, a few seconds in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import make_repo

from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "examples" / "inventory" / "playbook.yaml"
EXIT_KILLED = 3
SAID = (
    'warning: the request starts with "Audit", but this run is no audit (create mode): it '
    "plans changes and ships them on a branch; `--mode audit` reports and changes nothing"
)


def run_on(repo: Path, db: Path, request: str, *extra: str) -> int:
    return main(
        [
            *("run", request, "--repo", str(repo), "--playbook", str(PLAYBOOK)),
            *("--escalations", "reject", "--speed", "1000", "--db", str(db), *extra),
        ]
    )


@pytest.mark.parametrize(
    "request_text",
    ["Audit the stock room code", "# Audit the stock room code\n\nEvery module, please.\n"],
)
def test_an_audit_worded_request_on_a_build_is_said_and_kept(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], request_text: str
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db = tmp_path / "runs.db"
    assert run_on(repo, db, request_text) == EXIT_KILLED
    assert SAID in capsys.readouterr().out.splitlines()
    assert main(["runs", "--json", "--db", str(db)]) == 0
    run = json.loads(capsys.readouterr().out)[0]
    assert main(["status", run["run_id"], "--json", "--db", str(db)]) == 0
    assert SAID.removeprefix("warning: ") in json.loads(capsys.readouterr().out)["warnings"]


@pytest.mark.parametrize(
    ("request_text", "extra"),
    [
        ("Add an audit log to the stock room", ()),
        ("Audit logging for every stock move", ()),
        ("Audit the stock room code", ("--mode", "create")),  # asked for, knowingly
    ],
)
def test_no_warning_when_the_request_is_no_audit_or_the_mode_was_asked_for(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request_text: str,
    extra: tuple[str, ...],
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    assert run_on(repo, tmp_path / "runs.db", request_text, *extra) == EXIT_KILLED
    assert 'starts with "Audit"' not in capsys.readouterr().out
