"""Audit mode's snapshot of a user's checkout, with the user's own git set-up around it.

The audit commits a copy of the checkout in a scratch folder. That commit is the factory's,
not the user's: their global hooks (a pre-commit framework installed for every repository)
and their commit signing (``commit.gpgsign``, whose key may need a passphrase) must play no
part in it. A module that is a symlink to another file of the checkout is part of the code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from repo_helpers import git

from engine.audit import run_audit
from engine.audit_checkout import snapshot
from engine.audit_report import AuditReport
from engine.protocols import Gate
from gates.pytest_gate import PytestGate
from gates.python_tools import BanditGate, RuffGate, VultureGate
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate


async def audit(repo: Path, *gates: Callable[[ProcessSandbox], Gate]) -> AuditReport:
    """Audit ``repo``'s HEAD with the gates each factory makes on a plain (unjailed) sandbox."""
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        return await run_audit(
            run_id="r1",
            request="Audit",
            repo=repo,
            commit=git(repo, "rev-parse", "HEAD"),
            gates=[make(sandbox) for make in gates],
            reviewers=[],
            emit=lambda event: None,
        )
    finally:
        sandbox.close()


def pytest_gate_of(sandbox: ProcessSandbox) -> Gate:
    return PytestGate(sandbox, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout_s=60)


def committed(root: Path) -> Path:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "shared").mkdir(parents=True)
    (root / "app").mkdir()
    (root / "tests").mkdir()
    (root / "shared" / "settings.py").write_text("LIMIT = 3\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "settings.py").symlink_to(Path("..") / "shared" / "settings.py")
    (root / "tests" / "test_settings.py").write_text(
        "from app.settings import LIMIT\n\n\ndef test_limit() -> None:\n    assert LIMIT == 3\n"
    )
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['.']\n")
    (root / "outside.txt").symlink_to(tmp_path)  # leaves the checkout: not copied
    return committed(root)


@pytest.fixture
def signing_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user whose global git config signs every commit and runs a failing global hook."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'global hook ran' >&2\nexit 1\n")
    hook.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(
        "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /bin/false\n"
        f"[core]\n\thooksPath = {hooks}\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    return config


def test_the_snapshot_commit_ignores_the_users_hooks_and_signing(
    repo: Path, signing_user: Path, tmp_path: Path
) -> None:
    tree = snapshot(repo, tmp_path / "scratch")
    assert git(tree, "log", "--format=%an %s") == "shopfloor audit audit snapshot"
    assert not (tree / "outside.txt").exists() and not (tree / "outside.txt").is_symlink()


async def test_a_symlinked_module_is_audited_like_the_code_it_points_at(
    repo: Path, tmp_path: Path
) -> None:
    report = await audit(repo, pytest_gate_of)
    (tests,) = report.gates
    assert tests.passed, (tests.summary, [f.message for f in tests.findings])
    assert tests.summary.startswith("1 passed")


async def test_an_audit_leaves_out_the_gate_that_judges_a_commit(
    repo: Path, tmp_path: Path
) -> None:
    """Shrinkage judges what a commit deletes; the audit's one commit is its own copy of the
    checkout, so the report said 'PASS shrinkage: no base commit 'HEAD~1' to compare with'
    (shopfloor's own repository audited so): a verdict on nothing, counted as green."""
    report = await audit(repo, pytest_gate_of, ShrinkageGate)
    assert [g.name for g in report.gates] == ["tests"]
    assert "- gates: 1 green, 0 red" in report.to_markdown()


async def test_the_report_tells_failing_findings_from_advisory_ones_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """Bandit fails on medium issues and lists the low ones after them: the report listed all
    fifty as the gate's failures under '5 security issue(s) at or above medium' (shopfloor's
    own audit); a gate with more findings than the report lists said nothing of the rest; and
    'Untested modules' did not say it means 'no test file imports them'."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "risky.py").write_text(
        "import subprocess\n\n\ndef run(cmd: str) -> None:\n"
        "    assert cmd\n    subprocess.call(cmd, shell=True)\n"
    )
    (root / "imports.py").write_text("".join(f"import mod{n}\n" for n in range(60)))
    report = await audit(committed(root), BanditGate, RuffGate)
    text = report.to_markdown()
    security = text.split("### FAIL security")[1].split("###")[0]
    failing, advisory = security.split("- advisory (below the gate's bar")
    assert "B602" in failing and "B101" not in failing and "B404" not in failing
    assert "B101" in advisory and "B404" in advisory
    lint = text.split("### FAIL lint")[1].split("##")[0]
    assert lint.count("F401") == 50
    assert "- ... and 10 more, not listed" in lint
    untested = text.split("## Untested modules")[1]
    assert "No test file imports these" in untested  # what 'untested' is judged by
    assert "- imports.py" in untested and "- risky.py" in untested


async def test_dead_code_is_listed_once(tmp_path: Path) -> None:
    # click's audit.md listed its twenty unused items under the dead-code gate and again,
    # the same lines, under 'Dead code'.
    root = tmp_path / "repo"
    root.mkdir()
    (root / "lib.py").write_text("def f() -> int:\n    return 1\n    print('never')\n")
    report = await audit(committed(root), VultureGate)
    text = report.to_markdown()
    assert text.count("`lib.py:3` unreachable code after 'return'") == 1
    gate = text.split("### FAIL dead-code")[1].split("##")[0]
    assert "- listed under Dead code below" in gate
    assert "`lib.py:3` unreachable" in text.split("## Dead code")[1]
