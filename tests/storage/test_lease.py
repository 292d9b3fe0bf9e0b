"""The lease a run's process holds: one driver per run, and a driver that dies lets go."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.bus import EventBus
from engine.events import Outcome, RunStarted
from storage import lease as lease_module
from storage.errors import RunInFlight
from storage.lease import RunLease, live_runs
from storage.paths import db_option
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]


async def test_one_process_drives_a_run_and_lets_go_when_it_is_done(store: SqlEventStore):
    assert await live_runs(store, ["r1", "r2"]) == {}
    held = await RunLease.take(store, "r1")
    try:
        live = await live_runs(store, ["r1", "r2"])
        assert list(live) == ["r1"]
        assert f"pid {os.getpid()} on " in live["r1"] and ", since " in live["r1"]
        with pytest.raises(RunInFlight) as caught:
            await RunLease.take(store, "r1")
        assert f"run r1 is still running (pid {os.getpid()} on " in str(caught.value)
        assert "shopfloor attach r1" in str(caught.value)
        assert "shopfloor tail r1" in str(caught.value)  # a shell without the screen
        other = await RunLease.take(store, "r2")  # other runs are free
        await other.release()
    finally:
        await held.release()
        await held.release()  # twice is harmless
    assert await live_runs(store, ["r1"]) == {}
    again = await RunLease.take(store, "r1")
    await again.release()


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from storage.lease import RunLease
    from storage.store import SqlEventStore

    async def main():
        store = await SqlEventStore.open(sys.argv[1])
        await RunLease.take(store, "r1")
        print("held", flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_a_driver_killed_with_sigkill_lets_go_of_its_run(store: SqlEventStore):
    """Nothing is written when a process is SIGKILLed: the kernel (SQLite's lock file) or
    the server (PostgreSQL's session lock) lets go of the lease with it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, store.url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert await proc.stdout.readline() == b"held\n"
        assert f"pid {proc.pid} on " in (await live_runs(store, ["r1"]))["r1"]
        with pytest.raises(RunInFlight, match=f"pid {proc.pid} on "):
            await RunLease.take(store, "r1")
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    for _ in range(100):  # the server notices the closed socket at once, give or take
        if not await live_runs(store, ["r1"]):
            break
        await asyncio.sleep(0.05)
    held = await RunLease.take(store, "r1")
    await held.release()


@pytest.mark.postgres
async def test_a_released_lease_does_not_stay_behind_in_the_connection_pool(empty_pg_url: str):
    """A pool resets transactions, not session locks: a lease connection handed back to the
    pool would have kept the run locked for as long as the process lived."""
    store = await SqlEventStore.open(empty_pg_url)
    try:
        held = await RunLease.take(store, "r1")
        await held.release()
        assert await live_runs(store, ["r1"]) == {}
        async with store.engine.connect() as conn:  # whatever the pool holds is unlocked
            got = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
            )
            assert got.scalar_one() == 0
    finally:
        await store.close()


async def advisory_locks(store: SqlEventStore) -> int:
    async with store.engine.connect() as conn:
        got = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        return int(got.scalar_one())


@pytest.mark.postgres
async def test_a_lease_take_cancelled_once_the_lock_is_granted_does_not_keep_it(
    empty_pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Cancelled between the server granting the lock and the lease naming itself (Ctrl-C
    at start, the keeper stopped mid-retake): its connection was left to the garbage
    collector, holding the run's lock the while."""
    store = await SqlEventStore.open(empty_pg_url)
    try:

        def cancelled() -> str:
            raise asyncio.CancelledError

        monkeypatch.setattr(lease_module.socket, "gethostname", cancelled)
        with pytest.raises(asyncio.CancelledError):
            await RunLease.take(store, "r1")
        monkeypatch.undo()
        for _ in range(100):  # the server lets go once it sees the connection closed
            if await advisory_locks(store) == 0:
                break
            await asyncio.sleep(0.02)
        assert await advisory_locks(store) == 0
        lease = await RunLease.take(store, "r1")  # and the run can be leased again
        await lease.release()
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_lease_whose_connection_dropped_is_taken_again(
    empty_pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(lease_module, "KEEPALIVE_S", 0.05)
    store = await SqlEventStore.open(empty_pg_url)
    held = await RunLease.take(store, "r1")
    try:
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'shopfloor run r1 %'"
                " AND datname = current_database()"
            )
        for _ in range(200):
            await asyncio.sleep(0.05)
            if await live_runs(store, ["r1"]):
                break
        assert f"pid {os.getpid()} on " in (await live_runs(store, ["r1"]))["r1"]
    finally:
        await held.release()
        await store.close()


@pytest.mark.postgres
async def test_a_lease_is_taken_again_after_an_outage_longer_than_one_retry(
    empty_pg_url: str, monkeypatch: pytest.MonkeyPatch
):
    """The keeper's first retry fails while the server cannot be reached; it died of that
    (a StorageError it did not catch), and the run went on with no lease: ``status`` said
    "stopped" and a ``resume`` drove it a second time."""
    from pg_proxy import PgProxy

    monkeypatch.setattr(lease_module, "KEEPALIVE_S", 0.05)
    proxy = await PgProxy(empty_pg_url).start()
    store = await SqlEventStore.open(proxy.url)
    held = await RunLease.take(store, "r1")
    try:
        async with await SqlEventStore.open(empty_pg_url) as outside:
            await proxy.cut()
            await asyncio.sleep(0.5)  # several retries fail: connections are refused
            await proxy.restore()
            for _ in range(200):
                await asyncio.sleep(0.05)
                if await live_runs(outside, ["r1"]):
                    break
            assert f"pid {os.getpid()} on " in (await live_runs(outside, ["r1"]))["r1"]
    finally:
        await held.release()
        await store.close()
        await proxy.close()


def started_r1() -> RunStarted:
    return RunStarted(
        request="Build X",
        repo="/repos/x",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/r1",
    )


class _Notes:
    """Stands in for the view: what it would toast, and whether its header
    says the run is stopped."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.stopped: bool | None = None
        self.polls = 0  # the watcher sets the header once a poll

    def notify(self, message: str, **_: object) -> None:
        self.said.append(message)

    def show_stopped(self, stopped: bool) -> None:
        self.stopped = stopped
        self.polls += 1

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Wait for the watcher to get there however slow the machine is, then for three
        more polls, so that what it must not do twice had the chance to."""
        deadline = asyncio.get_running_loop().time() + 60
        while not check():
            assert asyncio.get_running_loop().time() < deadline, f"60 s without {what}"
            await asyncio.sleep(0.01)
        polls = self.polls
        while self.polls < polls + 3:
            assert asyncio.get_running_loop().time() < deadline, "60 s without 3 more polls"
            await asyncio.sleep(0.01)


async def test_an_attached_view_says_when_no_process_drives_its_run(store: SqlEventStore):
    """``attach`` to a run whose process was killed (before or while attached) sat still for
    ever; now it says so once, and says it again only after a driver came and went."""
    from engine.events import Outcome, RunFinished
    from tui.driver_watch import watch_driver

    bus = EventBus("r1")
    await store.append([bus.emit(started_r1())])
    app = _Notes()
    watcher = asyncio.create_task(watch_driver(app, store, "r1", poll_s=0.01))  # type: ignore[arg-type]
    await app.until(lambda: bool(app.said), "the watcher saying the run is not driven")
    assert len(app.said) == 1
    assert "no process drives run r1" in app.said[0] and "shopfloor resume r1" in app.said[0]
    assert f"`shopfloor abandon r1{db_option(store.url)}` ends it" in app.said[0]
    assert app.stopped is True  # the header says so too, not "running"
    held = await RunLease.take(store, "r1")  # resumed elsewhere: said once, then quiet
    await app.until(lambda: app.stopped is False, "the header saying the run is driven")
    # The stopped toast (up for a minute, with its resume command) is not left to stand
    # over a run at work: in tmux it still said so when the resumed run shipped.
    assert app.said[1:] == ["a process drives run r1 again"]
    assert app.stopped is False
    await held.release()
    await app.until(lambda: len(app.said) > 2, "the watcher saying the driver went")
    assert len(app.said) == 3 and "no process drives run r1" in app.said[2]
    assert app.stopped is True
    await store.append([bus.emit(RunFinished(outcome=Outcome.SHIPPED, reason="done"))])
    await asyncio.wait_for(watcher, 60)  # a finished run needs no watching
    assert len(app.said) == 3


async def test_attach_closes_on_a_run_no_process_drives_saying_it_is_stopped(
    store: SqlEventStore,
):
    """Leaving ``attach`` on a killed run said "r1: running"; it is stopped, as ``runs`` and
    ``status`` say, and the commands that go on from there are given."""
    import io

    from rich.console import Console

    from tui.commands.attach import print_closing

    bus = EventBus("r1")
    await store.append([bus.emit(started_r1())])

    async def closing() -> str:
        out = io.StringIO()
        await print_closing(store, "r1", bus.state, Console(file=out, width=200))
        return out.getvalue()

    said = await closing()
    assert said.splitlines()[0] == "run r1: stopped (stage intake)"
    db = db_option(store.url)
    assert f"`shopfloor resume r1{db}` carries it on, `shopfloor abandon r1{db}` ends it" in said
    held = await RunLease.take(store, "r1")  # driven by a process: running
    try:
        assert (await closing()).splitlines() == ["run r1: running (stage intake)"]
    finally:
        await held.release()


async def test_serve_metrics_counts_a_run_active_while_a_process_drives_it(store: SqlEventStore):
    """A SIGKILLed run kept ``shopfloor_runs_active`` at 1 on the team's endpoint for ever."""
    from telemetry.metrics import FactoryMetrics
    from tui.commands.metrics import RecordedRuns

    bus = EventBus("r1")
    await store.append([bus.emit(started_r1())])
    metrics = FactoryMetrics()
    runs = RecordedRuns(store, metrics, limit=10)

    async def active() -> float | None:
        await runs.catch_up()
        return metrics.registry.get_sample_value("shopfloor_runs_active")

    assert await active() == 0  # started, and its process is gone
    held = await RunLease.take(store, "r1")
    assert await active() == 1
    await held.release()
    assert await active() == 0


async def test_serve_metrics_shows_no_work_under_way_in_a_stopped_run(store: SqlEventStore):
    """A SIGKILLed run's task stayed in ``shopfloor_tasks{state="running"}`` and the run in
    ``shopfloor_stage{stage="build"}`` until someone resumed or abandoned it: a dashboard
    showed work going on that nobody did."""
    from plans import TWO_TASKS

    from engine.events import BlueprintProposed, Stage, StageChanged, TaskState, TaskStateChanged
    from engine.resume import emit_ending
    from telemetry.metrics import FactoryMetrics
    from tui.commands.metrics import RecordedRuns

    bus = EventBus("r1")
    logged: list = []
    bus.listen(logged.append)
    bus.emit(started_r1())
    bus.emit(BlueprintProposed(blueprint=TWO_TASKS))
    bus.emit(StageChanged(stage=Stage.BUILD))
    bus.emit(TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=1))
    await store.append(logged)
    metrics = FactoryMetrics()
    runs = RecordedRuns(store, metrics, limit=10)

    async def gauges() -> tuple[float | None, ...]:
        await runs.catch_up()
        sample = metrics.registry.get_sample_value
        return (
            sample("shopfloor_stage", {"stage": "build"}),
            sample("shopfloor_tasks", {"state": "running"}),
            sample("shopfloor_tasks", {"state": "pending"}),
            sample("shopfloor_tasks", {"state": "failed"}),
            sample("shopfloor_runs_stopped"),
        )

    assert await gauges() == (0, 0, 1, 0, 1)  # its process is gone: nothing under way
    held = await RunLease.take(store, "r1")  # resumed: under way again
    assert await gauges() == (1, 1, 1, 0, 0)
    await held.release()
    assert await gauges() == (0, 0, 1, 0, 1)
    logged.clear()
    emit_ending(bus, Outcome.FAILED, "abandoned")  # what `shopfloor abandon` stores
    await store.append(logged)
    assert await gauges() == (0, 0, 1, 1, 0)


async def test_a_stopped_run_is_taken_while_other_shells_look_at_it(db_url: str):
    """``status``, ``runs`` or an attached control room look at a run's lease (a shared lock
    held for a moment) over and over; ``resume`` of the stopped run is not refused for it."""
    store = await SqlEventStore.open(db_url)
    try:
        gone = await RunLease.take(store, "r1")
        await gone.release()  # its process ended
        looking = threading.Event()
        done = threading.Event()

        def other_shell() -> None:
            async def look() -> None:
                while not done.is_set():
                    await live_runs(store, ["r1"])
                    looking.set()

            asyncio.run(look())

        shell = threading.Thread(target=other_shell)
        shell.start()
        refused: list[str] = []
        try:
            assert await asyncio.to_thread(looking.wait, 10)
            for _ in range(2000):
                try:
                    lease = await RunLease.take(store, "r1")
                except RunInFlight as exc:
                    refused.append(str(exc))
                else:
                    await lease.release()
        finally:
            done.set()
            shell.join()
        assert refused == []
    finally:
        await store.close()


@pytest.mark.postgres
async def test_the_server_gives_up_on_a_lease_whose_host_went_silent_within_a_minute(
    empty_pg_url: str,
):
    """A host that crashes closes no connection: the server holds its session, and the run's
    lease, until its TCP keepalive gives up on the silent peer. The lease's session asks for a
    keepalive that gives up within a minute, not the server's two hours and more."""
    store = await SqlEventStore.open(empty_pg_url)
    try:
        held = await RunLease.take(store, "r1")
        try:
            assert held._conn is not None
            shown = {}
            for setting in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
            ):
                shown[setting] = int(
                    (await held._conn.exec_driver_sql(f"SHOW {setting}")).scalar_one()
                )
        finally:
            await held.release()
    finally:
        await store.close()
    assert all(shown.values())  # a TCP session: 0 would mean the system's default
    gives_up = shown["tcp_keepalives_idle"] + (
        shown["tcp_keepalives_interval"] * shown["tcp_keepalives_count"]
    )
    assert gives_up <= 60
