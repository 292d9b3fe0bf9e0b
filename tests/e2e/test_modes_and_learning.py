"""Update and audit mode and the learning flywheel, end to end through the CLI with the SIM:
real git, real gates, real SQLite in a private SHOPFLOOR_HOME.

- ``demo --example units`` (update mode) plans a delta on an existing code base; a first
  attempt that breaks a test green at baseline is told so and retried; the retry is learned.
- A later run's relevant task gets that learning in the prompt its model receives; an
  unrelated task does not.
- ``run --mode audit`` on a small repository with a planted lint error, a failing test and a
  secret reports each with file and line, and leaves the repository byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import tui.crew_setup
from agents.provider import CompletionRequest
from engine.events import Outcome
from engine.state import RunState
from storage.paths import default_db_url
from storage.store import SqlEventStore
from tui.cli import build_parser
from tui.memory import load_lessons

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(folder))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return folder


async def cli(*argv: str) -> tuple[int, str]:
    """One shopfloor command in the test's event loop; (exit code, what it printed)."""
    args = build_parser().parse_args(argv)
    out = Console(record=True, width=200, file=io.StringIO(), no_color=True)
    code = await args.handler(args, out)
    return code, out.export_text()


async def audit_example(repo: Path, out: Path) -> tuple[int, str]:
    """The bundled audit example (its request, SIM playbook and config) run on ``repo``,
    its report written to ``out``."""
    audit = EXAMPLES / "audit"
    return await cli(
        "run",
        (audit / "request.md").read_text(),
        "--repo",
        str(repo),
        "--mode",
        "audit",
        "--playbook",
        str(audit / "playbook.yaml"),
        "--config",
        str(audit / "shopfloor.toml"),
        "--out",
        str(out),
        "--speed",
        "200",
    )


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def fingerprint(repo: Path) -> dict[str, str]:
    """Every byte of the checkout and of its .git folder (refs, objects, index, config)."""
    found = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Recording:
    """A provider wrapper that keeps every request its model receives."""

    def __init__(self, inner: Any, log: list[CompletionRequest]) -> None:
        self.inner = inner
        self.log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def complete(self, request: CompletionRequest, on_text: Any = None) -> Any:
        self.log.append(request)
        return await self.inner.complete(request, on_text)


def recording(log: list[CompletionRequest]) -> Callable[..., Any]:
    real = tui.crew_setup.make_provider

    def make(spec: str, **kwargs: Any) -> Any:
        return Recording(real(spec, **kwargs), log)

    return make


def first_prompt(log: list[CompletionRequest], **labels: str) -> str:
    for request in log:
        if all(request.labels.get(k) == v for k, v in labels.items()):
            return request.messages[0].content
    raise AssertionError(f"no request labelled {labels}")


async def test_update_mode_guards_the_baseline_and_a_later_run_uses_what_it_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = await cli(
        "demo", "--example", "units", "--out", str(tmp_path / "one"), "--speed", "200", "-v"
    )
    assert code == 0, out
    assert "(update)" in out and "recon:" in out
    assert "you broke tests, which was green before this run" in out
    run_id = out.split("run ", 1)[1].split()[0]
    store = await SqlEventStore.open(default_db_url())
    try:
        state = RunState.fold(await store.read(run_id))
    finally:
        await store.close()
    assert state.mode == "update" and state.outcome is Outcome.SHIPPED
    branch = state.branch or ""
    subjects = git(tmp_path / "one", "log", "--format=%s", f"main..{branch}").splitlines()
    assert subjects == ["Command line: python -m units", "Kelvin conversions and convert()"]
    shipped = git(tmp_path / "one", "show", f"{branch}:units/convert.py")
    assert "(value - 32) * 5 / 9" in shipped  # the function that was broken is intact

    code, listing = await cli("learnings", "list", "--json")
    learned = {x["source"]: x for x in json.loads(listing)}
    lesson = learned["retry:kelvin"]
    assert "which was green before" in lesson["text"] and lesson["run_id"] == run_id

    log: list[CompletionRequest] = []
    monkeypatch.setattr(tui.crew_setup, "make_provider", recording(log))
    code, out = await cli(
        "demo", "--example", "units", "--out", str(tmp_path / "two"), "--speed", "200", "-v"
    )
    assert code == 0, out
    relevant = first_prompt(log, role="engineer", task="kelvin", attempt="1")
    unrelated = first_prompt(log, role="engineer", task="cli", attempt="1")
    assert lesson["learning_id"] in relevant and lesson["text"][:60] in relevant
    assert lesson["learning_id"] not in unrelated and "needed 2 attempts" not in unrelated
    assert lesson["learning_id"] in first_prompt(log, role="planner")
    assert f"learnings used: {lesson['learning_id']}" in out  # what the TUI's agent log shows

    code, shown = await cli("learnings", "show", lesson["learning_id"])
    assert code == 0 and "retry:kelvin" in shown
    code, _ = await cli("learnings", "prune", lesson["learning_id"])
    store = await SqlEventStore.open(default_db_url())
    try:
        remaining = {x.learning_id for x in await load_lessons(store)}
    finally:
        await store.close()
    assert code == 0 and lesson["learning_id"] not in remaining


async def test_an_audit_names_each_planted_problem_and_changes_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "billing"
    shutil.copytree(EXAMPLES / "audit" / "seed", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "billing")
    with (repo / "README.md").open("a") as readme:
        readme.write("\nA local edit, not committed.\n")
    (repo / "scratch.txt").write_text("untracked\n")
    before = fingerprint(repo)
    refs = git(repo, "for-each-ref")

    out_dir = tmp_path / "report"
    code, out = await audit_example(repo, out_dir)
    assert code == 0, out
    assert ": reported" in out  # an audit ships nothing: it ends with its report
    assert f"audit report: {out_dir / 'audit.md'}" in out
    assert fingerprint(repo) == before and git(repo, "for-each-ref") == refs

    markdown = (out_dir / "audit.md").read_text()
    assert "`billing/invoice.py:3` F401 `os` imported but unused" in markdown
    assert "`tests/test_invoice.py:12` tests/test_invoice.py::test_invoice_total_adds_tax" in (
        markdown
    )
    assert "`billing/gateway.py:5` possible secret" in markdown
    report = json.loads((out_dir / "audit.json").read_text())
    red = {g["name"]: g for g in report["gates"] if not g["passed"]}
    assert {"lint", "tests", "secrets", "dead-code"} <= set(red)
    located = {(f["file"], f["line"]) for g in red.values() for f in g["findings"]}
    assert {("billing/invoice.py", 3), ("tests/test_invoice.py", 12)} <= located
    assert ("billing/gateway.py", 5) in located
    assert report["untested_modules"] == ["billing/gateway.py"]
    assert report["dead_code"][0]["file"] == "billing/invoice.py"
    review = report["reviews"][0]
    assert review["score"] == 58 and review["findings"][0]["file"] == "billing/gateway.py"

    code, listing = await cli("learnings", "list", "--json")
    sources = {x["source"] for x in json.loads(listing)}
    assert {"audit:lint", "audit:tests", "audit:secrets"} <= sources


async def test_the_audit_example_demo_writes_its_report(tmp_path: Path, home: Path) -> None:
    code, out = await cli(
        "demo", "--example", "audit", "--out", str(tmp_path / "demo"), "--speed", "200"
    )
    assert code == 0, out
    reports = list((home / "reports").glob("*/audit.md"))
    assert len(reports) == 1 and str(reports[0]) in out.replace("\n", "")
    assert "F401" in reports[0].read_text()


async def test_an_update_on_a_repository_already_red_says_so_in_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gates already red on the base commit are the user's, not the run's: the run
    builds on them (they block only what is new), and its status says which were red and
    how (it said nothing of them: a shipped run over a red lint gate read as all green)."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "units" / "seed", repo)
    (repo / "units" / "legacy.py").write_text("import os\n\n\ndef old() -> int:\n    return 1\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed with an unused import")
    code, out = await cli(
        "run",
        (EXAMPLES / "units" / "request.md").read_text(),
        "--repo",
        str(repo),
        "--playbook",
        str(EXAMPLES / "units" / "playbook.yaml"),
        "--config",
        str(EXAMPLES / "units" / "shopfloor.toml"),
        "--speed",
        "200",
    )
    assert code == 0, out
    run_id = out.split("run ", 1)[1].split()[0]
    code, status = await cli("status", run_id)
    assert code == 0
    said = [line for line in status.splitlines() if line.startswith("already red")]
    assert len(said) == 1, status
    assert "lint (1 lint problem(s) (ruff's classic rules" in said[0] and "dead-code" in said[0]
    # The seed has no virtualenv: the run said, and status says, whose Python the tests used;
    # it declares no dependencies, so shopfloor's own is no cause for a warning.
    assert f"python for the tests and mypy: {sys.executable} (" in status, status
    assert "warning: no virtualenv in" not in out, out
    assert "tests" not in said[0]  # green at baseline
    capsys.readouterr()
    code, _ = await cli("status", run_id, "--json")
    red = json.loads(capsys.readouterr().out)["baseline_red"]
    assert sorted(red) == ["dead-code", "lint"]


async def test_an_audits_types_run_seeds_the_next_runs_mypy_cache(
    tmp_path: Path, home: Path
) -> None:
    """The baseline and audit run the merge step's gates where a step has its own: the types
    gate there publishes its mypy cache (``gates.mypy_seed``) for later checks to start warm;
    the task step's, which runs in agents' worktrees, never does."""
    repo = tmp_path / "billing"
    shutil.copytree(EXAMPLES / "audit" / "seed", repo)
    with (repo / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.mypy]\nfiles = ['billing']\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "billing")
    code, out = await audit_example(repo, tmp_path / "report")
    assert code == 0, out
    report = json.loads((tmp_path / "report" / "audit.json").read_text())
    assert "types" in {g["name"] for g in report["gates"]}
    seeds = sorted((home / "mypy-seeds").glob("*/*/current"))
    assert len(seeds) == 1, "the audit's types run published no seed"
