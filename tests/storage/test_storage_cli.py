"""The storage commands as a user types them: runs filters, export/import, db upkeep."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import sys
from datetime import UTC, datetime, timedelta

import pytest

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import BlueprintProposed, EscalationRaised, Outcome, RunFinished, RunStarted
from storage.store import SqlEventStore
from tui.cli import main

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _started(run_id: str, repo: str, ts: datetime) -> RunStarted:
    return RunStarted(
        run_id=run_id,
        seq=1,
        ts=ts,
        request=f"request {run_id}",
        repo=repo,
        base_branch="main",
        base_commit="0" * 40,
        integration_branch=f"shopfloor/{run_id}",
    )


def _seed(url: str, emit_little_run) -> None:
    async def go() -> None:
        async with await SqlEventStore.open(url) as store:
            await store.append(emit_little_run(EventBus("r-shipped")))
            await store.append(
                [
                    _started("r-failed", "/work/api", T0),
                    RunFinished(
                        run_id="r-failed", seq=2, ts=T0, outcome=Outcome.FAILED, reason="red"
                    ),
                ]
            )
            await store.append([_started("r-old", "/work/api", T0 - timedelta(days=90))])

    asyncio.run(go())


def _runs(capsys, *argv: str) -> list[str]:
    capsys.readouterr()
    assert main(["runs", "--json", *argv]) == 0
    return [r["run_id"] for r in json.loads(capsys.readouterr().out)]


def test_runs_filters(db_url, emit_little_run, capsys):
    _seed(db_url, emit_little_run)
    assert set(_runs(capsys, "--db", db_url)) == {"r-shipped", "r-failed", "r-old"}
    assert _runs(capsys, "--db", db_url, "--repo", "api") == ["r-failed", "r-old"]
    assert _runs(capsys, "--db", db_url, "--repo", "/work/api") == ["r-failed", "r-old"]
    assert _runs(capsys, "--db", db_url, "--repo", "pi") == []  # whole path parts only
    assert _runs(capsys, "--db", db_url, "--outcome", "shipped") == ["r-shipped"]
    assert _runs(capsys, "--db", db_url, "--since", "2025-02-01") == ["r-shipped", "r-failed"]
    assert _runs(capsys, "--db", db_url, "--since", "1d") == ["r-shipped"]
    assert _runs(capsys, "--db", db_url, "--outcome", "failed", "--since", "2025-02-01") == [
        "r-failed"
    ]


def test_runs_outcome_stopped_and_running_go_by_the_lease(db_url, emit_little_run, capsys):
    """The table says "stopped" for an unfinished run nobody drives, but ``--outcome`` knew
    only the log's "running": ``--outcome stopped`` was refused and ``running`` listed the
    stopped ones too."""
    from storage.lease import RunLease

    _seed(db_url, emit_little_run)
    assert _runs(capsys, "--db", db_url, "--outcome", "stopped") == ["r-old"]
    assert _runs(capsys, "--db", db_url, "--outcome", "running") == []

    async def driven(outcome: str) -> list[str]:
        async with await SqlEventStore.open(db_url) as store:
            lease = await RunLease.take(store, "r-old")
            try:
                return await asyncio.to_thread(_runs, capsys, "--db", db_url, "--outcome", outcome)
            finally:
                await lease.release()

    assert asyncio.run(driven("running")) == ["r-old"]
    assert asyncio.run(driven("stopped")) == []


def test_runs_repo_takes_a_path_relative_to_the_current_folder(
    db_url, emit_little_run, capsys, tmp_path, monkeypatch
):
    """python-dotenv's trial: runs started with ``run --repo .`` are stored under the whole
    path; ``runs --repo .`` in that checkout said "no runs match --repo .", and so did
    ``--repo ..`` from its src/ folder."""
    api = tmp_path / "work" / "api"
    (api / "src").mkdir(parents=True)

    async def go() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append([_started("r-here", str(api), T0)])
            await store.append([_started("r-other", "/elsewhere/api", T0)])

    asyncio.run(go())
    monkeypatch.chdir(api)
    assert _runs(capsys, "--db", db_url, "--repo", ".") == ["r-here"]
    assert _runs(capsys, "--db", db_url, "--repo", "./") == ["r-here"]
    monkeypatch.chdir(api / "src")
    assert _runs(capsys, "--db", db_url, "--repo", "..") == ["r-here"]
    monkeypatch.chdir(tmp_path / "work")
    assert _runs(capsys, "--db", db_url, "--repo", "./api") == ["r-here"]
    assert sorted(_runs(capsys, "--db", db_url, "--repo", "api")) == ["r-here", "r-other"]


def test_runs_says_which_filter_matched_nothing(db_url, emit_little_run, capsys):
    """``runs --outcome stopped`` said "no runs yet" beside stored runs."""
    _seed(db_url, emit_little_run)
    assert main(["runs", "--db", db_url, "--outcome", "killed"]) == 0
    assert capsys.readouterr().out.strip() == "no runs match --outcome killed"
    assert main(["runs", "--db", db_url, "--repo", "pi", "--since", "2025-02-01"]) == 0
    assert capsys.readouterr().out.strip() == (
        "no runs match --repo pi --since 2025-02-01 00:00 UTC"
    )


def test_a_bad_since_is_a_usage_error(db_url, capsys):
    with pytest.raises(SystemExit) as info:
        main(["runs", "--db", db_url, "--since", "last tuesday"])
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "shopfloor: argument --since: not an age or a date: 'last tuesday' (e.g. 7d, 12h, "
        "2025-03-01) "
        "(shopfloor runs --help)\n"
    )


def test_export_import_round_trip_between_databases(db_url, tmp_path, emit_little_run, capsys):
    _seed(db_url, emit_little_run)
    capsys.readouterr()
    assert main(["export", "r-ship", "--db", db_url]) == 0  # a prefix is enough
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 12))

    dump = tmp_path / "r-shipped.jsonl"
    assert main(["export", "r-shipped", "--db", db_url, "--out", str(dump)]) == 0
    assert dump.read_text().splitlines() == lines

    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    assert main(["import", str(dump), "--db", other]) == 0
    assert "imported run r-shipped (11 events)" in capsys.readouterr().out

    async def compare() -> None:
        async with await SqlEventStore.open(db_url) as a, await SqlEventStore.open(other) as b:
            assert await b.read("r-shipped") == await a.read("r-shipped")
            assert await b.get_run("r-shipped") == await a.get_run("r-shipped")
            assert await b.tasks("r-shipped") == await a.tasks("r-shipped")

    asyncio.run(compare())

    assert main(["import", str(dump), "--db", other]) == 2
    err = capsys.readouterr().err
    assert "run r-shipped is already stored in this database; nothing imported" in err


class FailingStdout(io.StringIO):
    """A standard output whose writes fail the way a closed pipe or a full disk fails them."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        raise self.error

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no file descriptor")


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        # `shopfloor export RUN | head -1`: the reader left; stop quietly, as git does.
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), 141, ""),
        # `shopfloor export RUN > /dev/full`: the export is not there; say so.
        (
            OSError(errno.ENOSPC, "No space left on device"),
            2,
            "shopfloor: cannot write the export: No space left on device\n",
        ),
    ],
    ids=["broken pipe", "disk full"],
)
def test_an_export_to_stdout_that_cannot_be_written(
    db_url, emit_little_run, capsys, monkeypatch, error, code, message
):
    _seed(db_url, emit_little_run)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", FailingStdout(error))
    assert main(["export", "r-shipped", "--db", db_url]) == code
    assert capsys.readouterr().err == message


def test_a_listing_whose_reader_left_stops_quietly(db_url, emit_little_run, capsys, monkeypatch):
    _seed(db_url, emit_little_run)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", FailingStdout(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    assert main(["runs", "--json", "--db", db_url]) == 141
    assert main(["status", "r-shipped", "--json", "--db", db_url]) == 141
    assert capsys.readouterr().err == ""


def test_importing_an_unfinished_run_warns_it_is_resumable_from_both_databases(
    db_url, tmp_path, emit_little_run, capsys
):
    """Each database has its own lease: the same run resumed from both drove one repository
    twice, every task merged twice on its branch."""

    def stopped(bus: EventBus) -> list[object]:
        return [e for e in emit_little_run(bus) if not isinstance(e, RunFinished)]

    _seed(db_url, stopped)
    dump = tmp_path / "r.jsonl"
    assert main(["export", "r-shipped", "--db", db_url, "--out", str(dump)]) == 0
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    capsys.readouterr()
    assert main(["import", str(dump), "--db", other]) == 0
    out = capsys.readouterr().out
    assert "warning: run r-shipped is unfinished, and resumable from this database" in out
    assert "resume it from one of them only" in out

    finished = tmp_path / "f.jsonl"
    _seed(f"sqlite+aiosqlite:///{tmp_path / 'third.db'}", emit_little_run)
    assert (
        main(
            [
                "export",
                "r-shipped",
                "--db",
                f"sqlite+aiosqlite:///{tmp_path / 'third.db'}",
                "--out",
                str(finished),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["import", str(finished), "--db", f"sqlite+aiosqlite:///{tmp_path / 'fourth.db'}"])
        == 0
    )
    assert "warning" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type": "Nope"}\n', "bad.jsonl:1: not a shopfloor event"),
        ("", "bad.jsonl holds no events"),
        ("not json\n", "bad.jsonl:1: not a shopfloor event"),
    ],
)
def test_a_bad_import_file_is_one_line(tmp_path, db_url, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    assert main(["import", str(bad), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_import_refuses_a_file_with_a_gap(db_url, tmp_path, emit_little_run, capsys):
    _seed(db_url, emit_little_run)
    dump = tmp_path / "gap.jsonl"
    assert main(["export", "r-shipped", "--db", db_url, "--out", str(dump)]) == 0
    lines = dump.read_text().splitlines()
    dump.write_text("\n".join(lines[:4] + lines[5:]) + "\n")
    other = str(tmp_path / "other.db")
    assert main(["import", str(dump), "--db", other]) == 2
    assert "event 5 has sequence number 6" in capsys.readouterr().err


def test_db_upgrade_rebuild_and_prune(db_url, emit_little_run, capsys):
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "schema upgraded from empty to 0003" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "schema already at revision 0003" in capsys.readouterr().out

    _seed(db_url, emit_little_run)
    assert main(["db", "rebuild", "--db", db_url]) == 0
    assert "rebuilt projections of 3 run(s) from 14 event(s)" in capsys.readouterr().out

    assert main(["db", "prune", "--older-than", "3650d", "--db", db_url]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert main(["db", "prune", "--older-than", "30d", "--db", db_url]) == 0
    assert "pruned 1 finished run(s): r-failed" in capsys.readouterr().out  # r-old is running
    assert set(_runs(capsys, "--db", db_url)) == {"r-shipped", "r-old"}


def test_prune_removes_the_lease_files_no_process_holds(db_url, db_path, emit_little_run, capsys):
    """Every run that ever started left a file under <db>.leases/, for ever; prune removes
    those of the runs it deletes and any other no live process holds — never a held one."""
    from storage.lease import RunLease, live_runs

    _seed(db_url, emit_little_run)

    async def leases() -> RunLease:
        async with await SqlEventStore.open(db_url) as store:
            for run_id in ("r-failed", "r-old", "r-gone"):  # started, then stopped or done
                await (await RunLease.take(store, run_id)).release()
            return await RunLease.take(store, "r-shipped")  # a live process holds this one

    held = asyncio.run(leases())
    folder = db_path.with_name(db_path.name + ".leases")
    assert sorted(p.name for p in folder.iterdir()) == ["r-failed", "r-gone", "r-old", "r-shipped"]
    try:
        assert main(["db", "prune", "--older-than", "30d", "--db", db_url]) == 0
        out = capsys.readouterr().out
        assert "pruned 1 finished run(s): r-failed" in out
        assert "removed 3 lease file(s) no process holds" in out
        assert [p.name for p in folder.iterdir()] == ["r-shipped"]

        async def still_held() -> dict[str, str]:
            async with await SqlEventStore.open(db_url) as store:
                again = await RunLease.take(store, "r-old")  # a resume takes it afresh
                await again.release()
                return await live_runs(store, ["r-shipped", "r-old"])

        assert list(asyncio.run(still_held())) == ["r-shipped"]
    finally:
        asyncio.run(held.release())


def test_prune_needs_a_real_duration(db_url, capsys):
    with pytest.raises(SystemExit) as info:
        main(["db", "prune", "--older-than", "soon", "--db", db_url])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("shopfloor: argument --older-than: not a duration: 'soon'"), line
    assert line.endswith(" (shopfloor db prune --help)"), line


def test_the_runs_table_keeps_each_run_on_one_line_in_a_pipe(
    db_url, emit_little_run, capsys, monkeypatch
):
    monkeypatch.delenv("COLUMNS", raising=False)
    branch = "shopfloor/add-kelvin-to-the-units-library-dc808e91"

    async def go() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(
                [
                    _started("r-long", "/work/units", T0),
                    RunFinished(
                        run_id="r-long", seq=2, ts=T0, outcome=Outcome.SHIPPED, branch=branch
                    ),
                ]
            )

    asyncio.run(go())
    capsys.readouterr()
    assert main(["runs", "--db", db_url]) == 0  # capsys's stdout is not a terminal
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "r-long" in line]
    assert branch in row and "request r-long" in row


MARKUP = "[/] and [red]red[/red] and [engine]"
"""Words that look like rich markup: text to print as it is, never styles (or a traceback)."""


def test_words_that_look_like_markup_are_printed_as_they_are(db_url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # nothing folded or cut, to compare whole strings
    plan = Blueprint(spec="s", tasks=[Task(id="t1", title=f"Title {MARKUP}")])

    async def go() -> None:
        async with await SqlEventStore.open(db_url) as store:
            events = [
                _started("r-markup", "/work/app", T0).model_copy(
                    update={"request": f"Request {MARKUP}"}
                ),
                BlueprintProposed(blueprint=plan),
                RunFinished(outcome=Outcome.FAILED, reason=f"Reason {MARKUP}"),
            ]
            bus = EventBus("r-markup")
            await store.append([bus.emit(e) for e in events])
            asking = EventBus("r-asking")  # still running: its question waits for an answer
            question = EscalationRaised(
                escalation_id="e1",
                question=f"Question {MARKUP}",
                options=["approve", "[reject]"],
                default="approve",
            )
            await store.append(
                [asking.emit(_started("r-asking", "/work/app", T0)), asking.emit(question)]
            )

    asyncio.run(go())
    capsys.readouterr()
    assert main(["status", "r-markup", "--db", db_url]) == 0
    out = capsys.readouterr().out
    for text in (f"Request {MARKUP}", f"Title {MARKUP}", f"Reason {MARKUP}"):
        assert text in out
    assert main(["runs", "--db", db_url]) == 0
    assert f"Request {MARKUP}" in capsys.readouterr().out
    assert main(["escalations", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert f"Question {MARKUP}" in out and "approve / [reject]" in out


def test_an_escalation_quoting_a_failure_with_escapes_is_listed_without_them(
    db_url, capsys, monkeypatch
):
    """A circuit breaker's question quotes the failure, which the agent's code wrote: an
    escape sequence in it reached the terminal of whoever listed the escalations."""
    monkeypatch.setenv("COLUMNS", "200")  # the whole question on one line, however run

    async def go() -> None:
        async with await SqlEventStore.open(db_url) as store:
            bus = EventBus("r-esc")
            question = EscalationRaised(
                escalation_id="e1",
                kind="circuit_breaker",
                task_id="core",
                question="Task core failed the same way twice (boom\x1b]0;owned\x07\x1b[2J).",
                options=["retry", "skip", "abort"],
            )
            await store.append([bus.emit(_started("r-esc", "/work/app", T0)), bus.emit(question)])

    asyncio.run(go())
    capsys.readouterr()
    assert main(["escalations", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "failed the same way twice (boom)." in out


def test_a_config_error_keeps_the_section_it_names(tmp_path, capsys):
    config = tmp_path / "shopfloor.toml"
    config.write_text("[engine]\nwrokers = 3\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    assert main(["run", "x", "--repo", str(repo), "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"shopfloor: {config}: unknown key [engine] wrokers")


def test_prune_removes_the_audit_reports_of_the_runs_it_deletes(
    db_url, emit_little_run, capsys, tmp_path, monkeypatch
):
    """An audit's report lands in the data home's reports/RUN when no --out was given, one
    folder a run, for ever; prune deletes the report with its run's record, never another
    run's, nor a report written elsewhere with --out."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    for run_id in ("r-failed", "r-shipped", "r-old"):
        (home / "reports" / run_id).mkdir(parents=True)
        (home / "reports" / run_id / "audit.md").write_text("# Audit\n")
    _seed(db_url, emit_little_run)

    assert main(["db", "prune", "--older-than", "30d", "--db", db_url]) == 0

    assert "removed the audit report(s) of 1 of them" in capsys.readouterr().out
    assert sorted(p.name for p in (home / "reports").iterdir()) == ["r-old", "r-shipped"]
