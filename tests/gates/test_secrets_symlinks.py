"""Symlinks and the secrets gate. git ships a link as the path it points at: a secret behind a
link inside the repository is found in the file it leads to, under that file's name; a
link the branch ships that leads out of the repository (``~/.aws/credentials``, the
``../.env`` beside the checkout) fails the gate, named by its path alone, its target never
read; and no link makes the scan read a file outside the workspace. Real git, real
detect-secrets."""

from __future__ import annotations

import os
from pathlib import Path

from repo_helpers import commit, git, make_repo

from engine.protocols import GateResult
from gates.changes import SKIPPED, ChangeScanGate, changed_text_files
from gates.sandbox import ProcessSandbox
from gates.secrets_gate import SecretsGate
from gates.secrets_memo import list_tree

KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"
"""An AWS access key's shape (detect-secrets' AWS plugin), split so no scanner flags this file."""
OUTSIDE_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLQ"


def located(result: GateResult) -> list[tuple[str | None, int | None]]:
    return sorted((f.file, f.line) for f in result.findings)


def outside_secrets(root: Path) -> tuple[Path, Path]:
    """A user's ``.aws/credentials`` and a checkout's neighbouring ``.env``, both holding a key."""
    credentials = root / "home" / ".aws" / "credentials"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(f"aws_access_key_id = {OUTSIDE_KEY}\n")
    env = root / ".env"
    env.write_text(f'AWS = "{OUTSIDE_KEY}"\n')
    return credentials, env


def gates(sandbox: ProcessSandbox) -> dict[str, ChangeScanGate]:
    """The whole-tree scan with and without its memo, and a task's scan of its changes."""
    whole = SecretsGate(sandbox)
    return {
        "plain": SecretsGate(sandbox, memo=None),
        "memo": whole,
        "changes": whole.on_changes("HEAD~1"),
    }


async def test_a_secret_behind_a_link_inside_is_found_in_the_file_it_leads_to(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    (repo / "settings").mkdir()
    (repo / "settings" / "prod.py").write_text(f'AWS = "{KEY}"\n')
    (repo / "config.py").symlink_to("settings/prod.py")
    (repo / "settings" / "current").symlink_to(".", target_is_directory=True)
    commit(repo, {}, "settings behind a link")
    assert git(repo, "ls-files", "-s", "config.py").startswith("120000")
    for name, gate in gates(process_sandbox).items():
        result = await gate.check(repo)
        assert located(result) == [("settings/prod.py", 1)], (name, result.failure_context())
        assert "links" not in result.counts


async def test_a_shipped_link_leading_out_fails_the_gate_and_its_target_is_never_read(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """Absolute, climbing above the root, dangling (the file on another machine), a folder:
    each is a leak path wherever the branch is checked out."""
    credentials, env = outside_secrets(tmp_path)
    repo = make_repo(tmp_path / "repo", {"app.py": "X = 1\n"})
    (repo / "deploy").mkdir()
    (repo / "deploy" / "aws").symlink_to(credentials)
    (repo / "deploy" / ".env").symlink_to(Path("..", "..", ".env"))
    (repo / "ssh_key").symlink_to("/nonexistent-home/.ssh/id_ed25519")
    (repo / "home").symlink_to(credentials.parent.parent, target_is_directory=True)
    commit(repo, {}, "links out")
    links = [("deploy/.env", None), ("deploy/aws", None), ("home", None), ("ssh_key", None)]
    for name, gate in gates(process_sandbox).items():
        result = await gate.check(repo)
        assert not result.passed, name
        assert located(result) == links, (name, result.failure_context())
        assert result.counts["links"] == 4 and result.counts["blocking"] == 4
        shown = result.failure_context() + result.output_tail
        assert str(tmp_path) not in shown and "nonexistent" not in shown and ".aws" not in shown
        assert "symlink leading outside the repository" in shown
    assert env.read_text() == f'AWS = "{OUTSIDE_KEY}"\n'


async def test_a_link_leading_out_that_ships_nowhere_passes(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """An ignored folder's link (a build's, a virtualenv's ``python``) is never committed;
    a task's scan judges only the links its revision adds."""
    credentials, _ = outside_secrets(tmp_path)
    repo = make_repo(tmp_path / "repo", {".gitignore": "build/\n", "app.py": "X = 1\n"})
    (repo / "build").mkdir()
    (repo / "build" / "aws").symlink_to(credentials)
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    for name, gate in gates(process_sandbox).items():
        if name != "changes":
            result = await gate.check(repo)
            assert result.passed and located(result) == [], (name, result.failure_context())
    unknown = await SecretsGate(process_sandbox).on_changes("no-such-revision").check(repo)
    assert unknown.passed, unknown.failure_context()  # the tree is judged: git still lists it

    (repo / "aws").symlink_to(credentials)
    commit(repo, {}, "a link out")
    commit(repo, {"app.py": "X = 2\n"}, "a later task")
    later = await gates(process_sandbox)["changes"].check(repo)
    assert later.passed, later.failure_context()


async def test_a_committed_link_out_fails_the_gate_in_a_folder_the_scan_skips(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """An ignored folder a task named is staged with ``--force`` (``node_modules/``, a
    ``.venv/``): its links are tracked and ship, though the scan skips those folders and
    the gate passed them."""
    credentials, _ = outside_secrets(tmp_path)
    ignores = "node_modules/\n.venv/\n"
    repo = make_repo(tmp_path / "repo", {".gitignore": ignores, "app.py": "X = 1\n"})
    (repo / "node_modules" / "pkg").mkdir(parents=True)
    (repo / "node_modules" / "pkg" / "creds").symlink_to(credentials)
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    git(repo, "add", "--force", "node_modules", ".venv")
    commit(repo, {}, "an ignored folder named by the task")
    links = [(".venv/bin/python", None), ("node_modules/pkg/creds", None)]
    for name, gate in gates(process_sandbox).items():
        result = await gate.check(repo)
        assert located(result) == links, (name, result.failure_context())
        assert not result.passed and result.counts["links"] == 2


async def test_no_link_makes_the_scan_read_a_file_outside_the_workspace(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """detect-secrets names a file by cutting the working folder's length off its real path:
    a link whose target is padded to that length (it need not exist) named any file of the
    machine, which the plain scan read and reported (``../home/.aws/credentials``). Here the
    link sits in an ignored folder, so only the read itself could fail the gate."""
    credentials, _ = outside_secrets(tmp_path)
    repo = make_repo(tmp_path / "repo", {".gitignore": "build/\n", "app.py": "X = 1\n"})
    padding = "/" + "x" * len(str(repo.resolve()))
    (repo / "build").mkdir()
    (repo / "build" / "creds").symlink_to(padding + str(credentials.resolve()))
    assert not (repo / "build" / "creds").exists()
    for name, gate in gates(process_sandbox).items():
        if name != "changes":
            result = await gate.check(repo)
            assert result.passed and located(result) == [], (name, result.failure_context())


def test_the_files_a_revision_changed_are_no_links(tmp_path: Path) -> None:
    """A link inside is a second name for a file the task's scan reads when it changed; one
    leading out is not the revision's file (its target was opened to tell text from binary)."""
    credentials, _ = outside_secrets(tmp_path)
    repo = make_repo(tmp_path / "repo", {"conf.py": f'AWS = "{KEY}"\n'})
    commit(repo, {"app.py": "X = 1\n"}, "base")
    (repo / "alias.py").symlink_to("conf.py")
    (repo / "aws").symlink_to(credentials)
    (repo / "tracked.py").symlink_to(os.path.relpath(credentials, repo))
    git(repo, "add", "tracked.py")
    (repo / "new.py").write_text("Y = 2\n")
    assert changed_text_files(repo, "HEAD") == ["new.py"]
    assert [item.path for item in list_tree(repo, SKIPPED)] == ["app.py", "conf.py", "new.py"]
