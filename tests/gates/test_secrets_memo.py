"""The whole-tree secrets scan (the baseline's, verify's, an audit's) reads again only the files
whose content it has not judged yet: a big repository's first scan took 7 to 12 minutes of
detect-secrets (7,373 files) and every later one as long again. Its verdicts are the plain
scan's: a secret the tree holds is red wherever it sits, one the repository's
``.secrets.baseline`` accepts or a pragma allows is not. Real git, real detect-secrets."""

from __future__ import annotations

import json
from pathlib import Path

from repo_helpers import commit, git, make_repo

from engine.protocols import Gate, GateResult
from gates.cache import GateCache
from gates.changes import SKIPPED
from gates.config import GatesConfig
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from gates.secrets_gate import SecretsGate
from gates.secrets_memo import FileFindings, list_tree

KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"
"""An AWS access key's shape (detect-secrets' AWS plugin), split so no scanner flags this file."""
OTHER_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLQ"
THIRD_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLZ"


def located(result: GateResult) -> list[tuple[str | None, int | None]]:
    return sorted((f.file, f.line) for f in result.findings)


def varied_repo(root: Path) -> Path:
    """Secrets committed, ignored, untracked, behind a symlink, in a virtualenv, allowed."""
    repo = make_repo(
        root,
        {
            ".gitignore": "build/\n",
            "pkg/__init__.py": "",
            "pkg/core.py": "X = 1\n",
            "pkg/conf.py": f'AWS = "{KEY}"\n',
            "pkg/allowed.py": f'AWS = "{OTHER_KEY}"  # pragma: allowlist secret\n',
            "docs/notes.md": "nothing here\n",
        },
    )
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text(f'AWS = "{OTHER_KEY}"\n')  # ignored: still read
    (repo / "draft.py").write_text(f'AWS = "{THIRD_KEY}"\n')  # untracked: read
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "lib" / "vendored.py").write_text(f'AWS = "{THIRD_KEY}"\n')  # skipped
    (repo / "blob.bin").write_bytes(b"\0\1\2" + KEY.encode() + b"\xff\xfe")
    (repo / "link.py").symlink_to("pkg/conf.py")  # found in pkg/conf.py, under its name
    return repo


async def test_a_memoized_scan_judges_as_the_plain_scan_does(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = varied_repo(tmp_path / "repo")
    plain = SecretsGate(any_sandbox, memo=None)
    memoized = SecretsGate(any_sandbox)
    expected = [("build/out.py", 1), ("draft.py", 1), ("pkg/conf.py", 1)]
    first = await plain.check(repo)
    assert located(first) == expected, first.failure_context()
    for _ in range(2):  # cold, then every answer from the memo
        again = await memoized.check(repo)
        assert located(again) == expected, again.failure_context()
        assert not again.passed

    commit(repo, {"pkg/core.py": f'X = "{THIRD_KEY}"\n', "pkg/conf.py": None}, "moved a key")
    expected = [("build/out.py", 1), ("draft.py", 1), ("pkg/core.py", 1)]
    assert located(await plain.check(repo)) == expected
    assert located(await memoized.check(repo)) == expected


async def test_a_second_whole_tree_scan_reads_only_the_files_that_changed(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = varied_repo(tmp_path / "repo")
    gate = SecretsGate(process_sandbox, memo=FileFindings(tmp_path / "memo"))
    cold = await gate.check(repo)
    assert cold.counts["scanned"] >= 8
    warm = await gate.check(repo)
    assert warm.counts["scanned"] == 0  # the link too: it was read again at every check
    assert located(warm) == located(cold)

    commit(repo, {"pkg/core.py": f'X = "{THIRD_KEY}"\n', "pkg/more.py": "Y = 2\n"}, "task")
    # A later run (a new gate, the same memo folder) reads only the two files it has not seen.
    later = SecretsGate(process_sandbox, memo=FileFindings(tmp_path / "memo"))
    changed = await later.check(repo)
    assert changed.counts["scanned"] == 2
    assert ("pkg/core.py", 1) in located(changed)
    assert located(changed) == located(await SecretsGate(process_sandbox, memo=None).check(repo))


async def test_the_repositorys_baseline_settings_change_every_files_verdict(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """A ``.secrets.baseline`` that starts excluding the fixtures: answers kept from before
    it would still name them."""
    repo = make_repo(
        tmp_path / "repo",
        {"tests/fixtures/creds.py": f'AWS = "{KEY}"\n', "src/app.py": "X = 1\n"},
    )
    gate = SecretsGate(process_sandbox)
    assert located(await gate.check(repo)) == [("tests/fixtures/creds.py", 1)]
    made = await process_sandbox.run(
        ["detect-secrets", "scan", "--exclude-files", "tests/fixtures/.*"], repo
    )
    assert json.loads(made.output)["results"] == {}
    commit(repo, {".secrets.baseline": made.output, "src/app.py": f'X = "{OTHER_KEY}"\n'})
    result = await gate.check(repo)
    assert located(result) == [("src/app.py", 1)], result.failure_context()
    assert result.counts["baseline"] == 0


async def test_a_later_runs_gates_reuse_the_answers_kept_beside_the_gate_cache(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = varied_repo(tmp_path / "repo")

    def whole_tree_secrets() -> Gate:
        gates = build_gates(repo, GatesConfig(), process_sandbox, cache=GateCache(tmp_path / "c"))
        (gate,) = [g for g in gates.verify if g.name == "secrets"]
        return gate

    first = await whole_tree_secrets().check(repo)
    assert first.counts["scanned"] >= 8
    commit(repo, {"pkg/core.py": f'X = "{THIRD_KEY}"\n'}, "task")
    later = await whole_tree_secrets().check(repo)
    assert not later.cached
    assert later.counts["scanned"] == 1
    assert ("pkg/core.py", 1) in located(later)


def test_the_listing_names_each_file_by_gits_blob_id_as_checked_out_or_edited(
    tmp_path: Path,
) -> None:
    """A file as checked out is named by the id git's index holds (no read of it); one edited
    since, untracked or ignored by the id of its bytes now; a symlink is not listed (it has
    no answer of its own: what it leads to inside is listed under its own name)."""
    repo = varied_repo(tmp_path / "repo")
    (repo / "pkg" / "core.py").write_text("X = 2\n")  # edited since the commit
    listed = {item.path: item for item in list_tree(repo, SKIPPED)}
    assert listed["pkg/conf.py"].digest == git(repo, "rev-parse", "HEAD:pkg/conf.py")
    for edited in ("pkg/core.py", "draft.py", "build/out.py", "blob.bin"):
        assert listed[edited].digest == git(repo, "hash-object", edited)
        assert listed[edited].size == (repo / edited).stat().st_size
    assert "link.py" not in listed
    assert ".venv/lib/vendored.py" not in listed


def test_a_fresh_memo_over_the_same_folder_knows_the_answers_kept_there(tmp_path: Path) -> None:
    """Looked up together (one thread hop for a whole tree, not one a file): the kept answers
    come back by file name; a file never answered or never kept (no key) does not."""
    kept = FileFindings(tmp_path / "memo")
    found = [{"type": "AWS Access Key", "line_number": 1}]
    kept.put("k1", found)
    kept.put("k2", [])
    fresh = FileFindings(tmp_path / "memo")
    assert fresh.known({"a.py": "k1", "b.py": "k2", "c.py": "k3", "link.py": None}) == {
        "a.py": found,
        "b.py": [],
    }
