"""The whole-tree secrets scan reads the files it has no answer for in batches, keeping each
batch's answers as it ends, all within the gate's one time limit: a big repository's first
scan (7,373 files, some 450 s of detect-secrets) outran the 180 s limit, kept nothing, and
timed out again on every run. Cut by the limit, it fails saying how far it got; the next
check goes on from there. Real git, real detect-secrets; the sandbox is wrapped to count the
files each call reads and to answer one call as the limit killing it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repo_helpers import make_repo

from engine.protocols import CommandResult, GateResult
from gates.cache import GateCache
from gates.sandbox import ProcessSandbox
from gates.secrets_gate import FILES_OPTION, SecretsGate
from gates.secrets_memo import FileFindings

KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"
"""An AWS access key's shape (detect-secrets' AWS plugin), split so no scanner flags this file."""
OTHER_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLQ"
FILES = {
    "a.py": f'AWS = "{KEY}"\n',
    "b.py": "X = 1\n",
    "c.py": "Y = 2\n",
    "d/e.py": "Z = 3\n",
    "d/f.md": "notes\n",
    "g.py": f'AWS = "{OTHER_KEY}"\n',
    "h.txt": "plain\n",
}


@dataclass
class Counting:
    """A sandbox that runs each call in ``inner``, noting how many files it names and the
    time limit it is given; the call numbered ``killed`` (from 1) is answered as the limit
    killing it."""

    inner: ProcessSandbox
    killed: int | None = None
    files: list[int] = field(default_factory=list)
    limits: list[float] = field(default_factory=list)

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        listing = Path(argv[list(argv).index(FILES_OPTION) + 1])
        names = await asyncio.to_thread(listing.read_text)
        self.files.append(len([n for n in names.split("\0") if n]))
        self.limits.append(timeout_s)
        if len(self.files) == self.killed:
            return CommandResult(tuple(argv), -9, "", timeout_s, timed_out=True)
        return await self.inner.run(argv, cwd, timeout_s=timeout_s, env=env)


def located(result: GateResult) -> list[tuple[str | None, int | None]]:
    return sorted((f.file, f.line) for f in result.findings)


async def test_a_cold_scan_reads_the_tree_in_batches(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    counting = Counting(process_sandbox)
    result = await SecretsGate(counting, batch_files=3).check(repo)
    assert counting.files == [3, 3, 1]
    assert located(result) == [("a.py", 1), ("g.py", 1)], result.failure_context()
    assert result.counts["scanned"] == 7
    assert located(await SecretsGate(process_sandbox, memo=None).check(repo)) == located(result)


async def test_a_batch_holds_a_bounded_number_of_bytes(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """The time goes with the bytes: 200 files of a real tree held 130 KB to 5 MB."""
    small = dict.fromkeys(("a.py", "c.py", "d.py", "e.py", "f.py"), "X = 1\n")
    repo = make_repo(tmp_path / "repo", {**small, "b.txt": "plain words\n" * 500})
    counting = Counting(process_sandbox)
    result = await SecretsGate(counting, batch_files=3, batch_bytes=5000).check(repo)
    assert counting.files == [1, 1, 3, 1]  # b.txt (6,000 bytes) alone
    assert result.passed, result.failure_context()
    assert result.counts["scanned"] == 6


async def test_a_scan_cut_by_the_time_limit_says_so_and_the_next_check_goes_on(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    cache = GateCache(tmp_path / "cache")
    counting = Counting(process_sandbox, killed=2)
    gate = SecretsGate(counting, timeout_s=60, batch_files=3, memo=FileFindings(tmp_path / "m"))
    cached = cache.wrap(gate)

    cut = await cached.check(repo)
    assert not cut.passed
    assert cut.summary == (
        "detect-secrets did not finish within 60s and was killed: 3 of 7 files judged "
        "(their answers kept: the next check goes on from there)"
    )
    assert [f.message for f in cut.findings] == [
        "detect-secrets did not finish within 60s and was killed"
    ]
    assert (cut.counts["judged"], cut.counts["files"], cut.counts["scanned"]) == (3, 7, 3)
    assert counting.files == [3, 3]
    assert counting.limits[1] < counting.limits[0] <= 60  # one limit for the whole check

    counting.files.clear()
    again = await cached.check(repo)  # not the stored failure: it goes on, and is cut again
    assert counting.files == [3, 1]
    assert "6 of 7 files judged" in again.summary
    assert (again.counts["judged"], again.counts["scanned"]) == (6, 3)

    counting.files.clear()
    counting.killed = None
    done = await cached.check(repo)
    assert not done.cached
    assert counting.files == [1]
    assert done.counts["scanned"] == 1
    assert located(done) == [("a.py", 1), ("g.py", 1)], done.failure_context()
    assert located(await SecretsGate(process_sandbox, memo=None).check(repo)) == located(done)
    assert (await cached.check(repo)).cached


@dataclass
class UsingItAll:
    """A sandbox whose calls find nothing and take all the time they are given."""

    calls: int = 0

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        self.calls += 1
        report = Path(argv[-1])  # the report file, named last
        await asyncio.to_thread(report.write_text, '{"results": {}}')
        await asyncio.sleep(timeout_s)
        return CommandResult(tuple(argv), 0, "", timeout_s)


async def test_no_batch_starts_once_the_time_limit_is_spent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    sandbox = UsingItAll()
    cut = await SecretsGate(sandbox, timeout_s=0.5, batch_files=3).check(repo)
    assert sandbox.calls == 1
    assert not cut.passed
    assert cut.summary.startswith("detect-secrets did not finish within 0.5s and was killed: ")
    assert (cut.counts["judged"], cut.counts["files"]) == (3, 7)
