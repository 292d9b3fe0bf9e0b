"""The SQL event store on real SQLite files: the log, the runs projection, run ids."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    Merged,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from engine.state import RunState
from storage.errors import AmbiguousRunId, RunNotFound, StorageError
from storage.store import SqlEventStore

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def started(run_id: str, seq: int = 1, ts: datetime = T0, request: str = "Build X") -> RunStarted:
    """A RunStarted stamped by hand, for tests that need fixed ids and times."""
    return RunStarted(
        run_id=run_id,
        seq=seq,
        ts=ts,
        request=request,
        repo="/repos/x",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch=f"shopfloor/{run_id}",
    )


# -- the log ---------------------------------------------------------------------------------


async def test_events_round_trip_as_their_own_classes(store, emit_little_run):
    emitted = emit_little_run(EventBus("r-roundtrip"))
    await store.append(emitted)

    stored = await store.read("r-roundtrip")

    assert stored == emitted
    assert [type(e) for e in stored] == [type(e) for e in emitted]
    assert isinstance(stored[2], BlueprintProposed)
    assert [t.id for t in stored[2].blueprint.tasks] == ["core", "cli"]
    assert [e.seq for e in stored] == list(range(1, len(emitted) + 1))
    assert all(e.ts.utcoffset() == timedelta(0) for e in stored)


async def test_read_after_seq_returns_only_the_tail(store, emit_little_run):
    emitted = emit_little_run(EventBus("r-tail"))
    await store.append(emitted)

    assert await store.read("r-tail", after_seq=8) == emitted[8:]
    assert await store.read("r-tail", after_seq=len(emitted)) == []
    assert await store.read("no-such-run") == []


async def test_replaying_the_stored_log_rebuilds_the_live_state(store, emit_little_run):
    bus = EventBus("r-replay")
    await store.append(emit_little_run(bus))

    replayed = RunState.fold(await store.read("r-replay"))

    assert replayed.to_status() == bus.state.to_status()


async def test_times_in_other_zones_are_stored_as_utc(store):
    paris = timezone(timedelta(hours=1))
    await store.append([started("r-tz", ts=datetime(2025, 3, 1, 10, 30, tzinfo=paris))])

    [event] = await store.read("r-tz")
    run = await store.get_run("r-tz")

    assert event.ts == T0
    assert run is not None
    assert run.created_at == T0
    assert run.created_at.tzinfo == UTC


async def test_a_batch_is_stored_whole_or_not_at_all(store):
    bus = EventBus("r-dup")
    first = [bus.emit(started("")), bus.emit(StageChanged(stage=Stage.BLUEPRINT))]
    await store.append(first)
    later = bus.emit(AgentOutput(agent_id="a", text="new"))

    with pytest.raises(StorageError, match="already stored") as info:
        await store.append([later, first[1]])  # first[1] has a seq that is already stored

    assert "\n" not in str(info.value)
    assert await store.read("r-dup") == first
    assert await store.count_events("r-dup") == 2


async def test_unstamped_events_are_refused(store):
    with pytest.raises(StorageError, match=r"unstamped StageChanged.*EventBus"):
        await store.append([StageChanged(stage=Stage.BUILD)])
    assert await store.count_events() == 0


async def test_the_log_survives_reopening_and_is_in_wal_mode(db_url, db_path, emit_little_run):
    emitted = emit_little_run(EventBus("r-durable"))
    first = await SqlEventStore.open(db_url)
    await first.append(emitted)
    await first.close()

    async with await SqlEventStore.open(str(db_path)) as again:  # a plain path works too
        assert await again.read("r-durable") == emitted
        assert (await again.get_run("r-durable")) is not None

    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_corrupt_row_is_a_one_line_error(db_url, db_path):
    async with await SqlEventStore.open(db_url) as store:
        await store.append([started("r-bad")])
        with sqlite3.connect(db_path) as raw:
            raw.execute(
                "UPDATE events SET body = '{\"type\": \"Nonsense\"}' WHERE run_id = 'r-bad'"
            )

        with pytest.raises(StorageError, match=r"event #1 of run r-bad is unreadable") as info:
            await store.read("r-bad")
    assert "\n" not in str(info.value)


# -- the runs projection ---------------------------------------------------------------------


async def test_projection_follows_a_whole_little_run(store, emit_little_run):
    bus = EventBus("r-proj")
    emitted = emit_little_run(bus)

    # As the writer would: a few batches, the run row appearing with the first.
    await store.append(emitted[:2])
    running = await store.get_run("r-proj")
    await store.append(emitted[2:9])
    building = await store.get_run("r-proj")
    await store.append(emitted[9:])
    done = await store.get_run("r-proj")

    assert running is not None and building is not None and done is not None
    assert running.outcome is Outcome.RUNNING
    assert (running.tasks_total, running.tasks_merged, running.last_seq) == (0, 0, 2)
    assert running.finished_at is None and running.branch is None
    assert (building.tasks_total, building.tasks_merged, building.last_seq) == (2, 1, 9)

    assert done.outcome is Outcome.SHIPPED
    assert done.reason == "all gates green"
    assert done.branch == "feat/greet"
    assert (done.tasks_total, done.tasks_merged, done.last_seq) == (2, 2, len(emitted))
    assert done.created_at == emitted[0].ts
    assert done.finished_at == emitted[-1].ts
    assert done.request == "Build a greeting CLI"
    assert done.repo == "/repos/greet"
    assert done.mode == "create"
    assert done.integration_branch == "shopfloor/integration"
    assert done.simulated is True


async def test_run_record_json_shape(store, emit_little_run):
    emitted = emit_little_run(EventBus("r-json"))
    await store.append(emitted)

    [record] = await store.list_runs()
    data = record.to_json()

    assert data["run_id"] == "r-json"
    assert data["outcome"] == "shipped"
    assert data["repo"] == "/repos/greet"
    assert data["branch"] == "feat/greet"
    assert (data["tasks"], data["tasks_merged"]) == (2, 2)
    assert data["request"] == "Build a greeting CLI"
    assert data["created_at"] == emitted[0].ts.isoformat()
    assert data["finished_at"] == emitted[-1].ts.isoformat()
    assert data["simulated"] is True


async def test_a_failed_run_keeps_no_branch(store):
    await store.append(
        [
            started("r-fail"),
            RunFinished(run_id="r-fail", seq=2, ts=T0, outcome=Outcome.FAILED, reason="no quorum"),
        ]
    )
    run = await store.get_run("r-fail")
    assert run is not None
    assert (run.outcome, run.reason, run.branch) == (Outcome.FAILED, "no quorum", None)


async def test_list_runs_newest_first_and_limited(store):
    for minutes, run_id in [(0, "r-old"), (20, "r-new"), (10, "r-mid")]:
        await store.append([started(run_id, ts=T0 + timedelta(minutes=minutes))])

    assert [r.run_id for r in await store.list_runs()] == ["r-new", "r-mid", "r-old"]
    assert [r.run_id for r in await store.list_runs(limit=2)] == ["r-new", "r-mid"]


async def test_get_run_of_an_unknown_id_is_none(store):
    assert await store.get_run("nope") is None


async def test_two_interleaved_runs_do_not_mix(store):
    buses = {"r-a": EventBus("r-a"), "r-b": EventBus("r-b")}
    emitted: dict[str, list] = {run_id: [] for run_id in buses}
    for round_ in range(30):
        for run_id, bus in buses.items():
            if round_ == 0:
                event = started("", request=f"request of {run_id}")
            elif round_ == 1 and run_id == "r-a":
                event = Merged(task_id="t1", attempt=1, commit="c" * 40)
            else:
                event = AgentOutput(agent_id=f"agent-{run_id}", text=f"line {round_}")
            emitted[run_id].append(bus.emit(event))
    # One mixed batch per round pair, as one writer serving both buses might see them.
    mixed = [ev for pair in zip(emitted["r-a"], emitted["r-b"], strict=True) for ev in pair]
    await store.append(mixed[:31])
    await store.append(mixed[31:])

    for run_id in buses:
        stored = await store.read(run_id)
        assert stored == emitted[run_id]
        assert {e.run_id for e in stored} == {run_id}
        assert [e.seq for e in stored] == list(range(1, 31))
    a, b = await store.get_run("r-a"), await store.get_run("r-b")
    assert a is not None and b is not None
    assert (a.request, a.tasks_merged, a.last_seq) == ("request of r-a", 1, 30)
    assert (b.request, b.tasks_merged, b.last_seq) == ("request of r-b", 0, 30)


# -- short run ids ---------------------------------------------------------------------------


@pytest.fixture
async def named_runs(store):
    for run_id in ["20250301-a1b2c3", "20250301-a1b9ff", "20250302-77aa00", "abc", "abcdef", "x_y"]:
        await store.append([started(run_id)])
    return store


@pytest.mark.parametrize(
    ("typed", "resolved"),
    [
        ("20250302", "20250302-77aa00"),  # a unique prefix
        ("20250301-a1b2", "20250301-a1b2c3"),
        ("20250301-a1b9ff", "20250301-a1b9ff"),  # the full id
        ("abc", "abc"),  # an exact id wins over longer ids sharing it
        ("abcd", "abcdef"),
        ("  x_y ", "x_y"),  # surrounding blanks from copy-paste are ignored
    ],
)
async def test_resolve_run_id_finds_the_one_run(named_runs, typed, resolved):
    assert await named_runs.resolve_run_id(typed) == resolved


async def test_ambiguous_prefix_names_the_candidates(named_runs):
    with pytest.raises(AmbiguousRunId) as info:
        await named_runs.resolve_run_id("20250301-a1")
    assert info.value.candidates == ("20250301-a1b2c3", "20250301-a1b9ff")
    assert str(info.value) == (
        "run id '20250301-a1' is ambiguous: matches 20250301-a1b2c3, 20250301-a1b9ff; "
        "type more characters"
    )


@pytest.mark.parametrize("typed", ["zzz", "a_c", "ab%", "_", "%", ""])
async def test_no_match_is_run_not_found(named_runs, typed):
    # LIKE wildcards in what the user typed match only themselves.
    with pytest.raises(RunNotFound) as info:
        await named_runs.resolve_run_id(typed)
    assert isinstance(info.value, StorageError)
    assert "\n" not in str(info.value)


# -- opening ---------------------------------------------------------------------------------


async def test_an_unsupported_url_is_refused():
    with pytest.raises(StorageError, match=r"^unsupported database URL scheme 'mysql\+aiomysql'"):
        await SqlEventStore.open("mysql+aiomysql://root@localhost/shop")


async def test_an_unwritable_location_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StorageError) as info:
        await SqlEventStore.open(str(blocker / "runs" / "shop.db"))
    assert str(info.value) == (
        f"cannot create database folder {blocker / 'runs'}: {blocker} is a file"
    )


async def test_a_database_file_that_is_not_a_database_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=r"^cannot open database sqlite\+aiosqlite:///") as info:
        await SqlEventStore.open(str(junk))
    assert "\n" not in str(info.value)


async def test_an_unreachable_server_is_a_one_line_error():
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    url = "postgresql+asyncpg://shop:s3cret@127.0.0.1:1/shopfloor"
    with pytest.raises(StorageError, match=r"^cannot open database postgresql\+asyncpg://") as info:
        await SqlEventStore.open(url)
    message = str(info.value)
    assert "\n" not in message
    assert "s3cret" not in message  # the password is masked


async def test_an_in_memory_database_works_for_quick_tests():
    async with await SqlEventStore.open("sqlite+aiosqlite://") as memory:
        await memory.append([started("r-mem")])
        assert [e.run_id for e in await memory.read("r-mem")] == ["r-mem"]
        assert memory.backend == "sqlite"
