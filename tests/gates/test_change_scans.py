"""The secrets and security gates at a task read what the task changed; the repository's own
``.secrets.baseline`` settings and ``# pragma: allowlist secret`` are honoured. Real git, real
detect-secrets and bandit."""

from __future__ import annotations

from pathlib import Path

from repo_helpers import commit, git, make_repo

from engine.audit import tree_gates
from engine.protocols import Gate
from gates.cache import GateCache
from gates.changes import changed_text_files
from gates.config import GatesConfig
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from gates.secrets_gate import SecretsGate

KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"
"""An AWS access key's shape (detect-secrets' AWS plugin), split so no scanner flags this file."""
OTHER_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLQ"


def secrets_of(gates: list[Gate]) -> Gate:
    (gate,) = [g for g in gates if g.name == "secrets"]
    return gate


async def test_a_tasks_secrets_gate_reads_only_what_the_task_changed(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The task gate scanned the whole tree: slow on a real repository, and a secret the
    repository already held (a test fixture) failed every task that never touched it."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "pyproject.toml": "[project]\nname = 'p'\nversion = '0'\n",
            "pkg/__init__.py": "",
            "pkg/core.py": "X = 1\n",
            "tests/fixtures/creds.py": f'AWS = "{KEY}"\n',
        },
    )
    gate_set = build_gates(repo, GatesConfig(), process_sandbox, cache=GateCache())
    task, verify = secrets_of(gate_set.task), secrets_of(gate_set.verify)
    assert getattr(task, "judges_revision", False)
    assert not getattr(verify, "judges_revision", False)

    commit(repo, {"pkg/core.py": "X = 2\n", "pkg/new.py": "Y = 3\n"}, "task")
    (repo / "pkg" / "blob.bin").write_bytes(b"\0\1" + KEY.encode())  # binary: not read
    (repo / "pkg" / "draft.py").write_text("Z = 4\n")  # untracked: read
    clean = await task.check(repo)
    assert clean.passed, clean.failure_context()
    assert clean.counts["scanned"] == 3
    assert changed_text_files(repo, "HEAD~1") == ["pkg/core.py", "pkg/draft.py", "pkg/new.py"]
    whole = await verify.check(repo)
    assert [f.file for f in whole.findings] == ["tests/fixtures/creds.py"]

    commit(repo, {"pkg/core.py": f'X = "{OTHER_KEY}"\n'}, "a key pasted in")
    caught = await task.check(repo)
    assert not caught.passed
    assert [(f.file, f.line) for f in caught.findings] == [("pkg/core.py", 1)]

    # Audits and the baseline of an update run take the whole-tree scan of the same name.
    chosen = secrets_of(tree_gates(gate_set.task, gate_set.merge, gate_set.verify))
    assert chosen is verify


async def test_the_repositorys_baseline_settings_and_allowlist_pragmas_are_honoured(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """A project documents its fixtures as detect-secrets asks: ``detect-secrets scan
    --exclude-files 'tests/fixtures/.*' > .secrets.baseline``. The gate read only the secrets
    the baseline lists, not its settings, so the fixtures failed every scan."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "tests/fixtures/creds.py": f'AWS = "{KEY}"\n',
            "src/conf.py": f'AWS = "{OTHER_KEY}"  # pragma: allowlist secret\n',
            "src/app.py": "X = 1\n",
        },
    )
    made = await process_sandbox.run(
        ["detect-secrets", "scan", "--exclude-files", "tests/fixtures/.*"], repo
    )
    (repo / ".secrets.baseline").write_text(made.output)
    commit(repo, {}, "baseline")
    before = (repo / ".secrets.baseline").read_bytes()
    gate = SecretsGate(process_sandbox)
    result = await gate.check(repo)
    assert result.passed, result.failure_context()
    assert (repo / ".secrets.baseline").read_bytes() == before  # read, never rewritten
    assert git(repo, "status", "--porcelain") == ""

    commit(repo, {"src/app.py": f'X = "{OTHER_KEY}"\n'}, "a key pasted in")
    for scan in (gate, gate.on_changes()):
        caught = await scan.check(repo)
        assert [(f.file, f.line) for f in caught.findings] == [("src/app.py", 1)]


RISKY = "import subprocess\n\n\ndef run(cmd: str) -> None:\n    subprocess.call(cmd, shell=True)\n"


async def test_a_tasks_security_gate_reads_only_the_python_it_changed(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """Bandit ran over the whole tree at every task (7-10 s on shopfloor's own, 392 files);
    an issue the repository already had failed every task that never touched it."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "pyproject.toml": "[project]\nname = 'p'\nversion = '0'\n",
            "pkg/__init__.py": "",
            "pkg/legacy.py": RISKY,
            "pkg/core.py": "X = 1\n",
        },
    )
    gate_set = build_gates(repo, GatesConfig(), process_sandbox, cache=GateCache())
    task, verify = (
        next(g for g in s if g.name == "security") for s in (gate_set.task, gate_set.verify)
    )
    commit(
        repo,
        {
            "pkg/core.py": "X = 2\n",
            "README.md": "not python: bandit would fail to parse it\n",
            "tests/test_core.py": RISKY,  # bandit's excluded tests folder, named or not
        },
        "task",
    )
    clean = await task.check(repo)
    assert clean.passed, clean.failure_context()
    assert clean.counts["scanned"] == 2 and clean.findings == []
    assert {f.file for f in (await verify.check(repo)).findings} == {"pkg/legacy.py"}

    commit(repo, {"pkg/core.py": RISKY}, "a shell call")
    caught = await task.check(repo)
    assert not caught.passed
    assert [(f.file, f.line) for f in caught.findings[:1]] == [("pkg/core.py", 5)]
