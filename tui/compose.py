"""The composition root: the one place where concrete pieces are wired into the engine.

The engine receives a planner, an engineer, gates, git workspaces and an event bus; the
storage writer and the front end (headless console or the Textual app) subscribe to the bus.
Both ``run`` and ``demo`` come through :func:`execute_run`.

Its parts live beside it: the plan of a run (tui/run_plan.py), a demo's repository
(tui/demo_repo.py), the crew (tui/crew_setup.py), what is checked and said before a run
(tui/run_checks.py) and the storage wiring that watches the writer and the lease
(tui/storage_watch.py), what the Textual front does at a run's start and on a stop signal
(tui/app_front.py), and the run's telemetry (tui/run_telemetry.py). This module puts them
together, in the order they must happen.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import date

from rich.console import Console
from rich.text import Text

from agents.context import repo_map
from agents.lifecycle import retirement_notes, roles_by_spec
from agents.registry import close_provider
from engine.build_dirs import BuildDirs
from engine.bus import EventBus
from engine.github import GitHubPublisher
from engine.interrupt import (
    EXIT_INTERRUPTED,
    ShutdownSignals,
    exit_saying,
    run_interruptible,
    stop_signals_call,
)
from engine.pipeline import Factory
from engine.state import RunState
from gates.cache import GateCache
from gates.interpreter import (
    candidates,
)
from gates.mypy_seed import MypySeeds
from gates.node_packages import installed_node_modules, uninstalled_warnings
from gates.profiles import build_gates
from storage.errors import StorageError
from storage.lease import RunLease
from storage.paths import data_home, db_option, is_in_memory
from storage.run_writer import start_writer
from storage.store import SqlEventStore
from storage.writer_launch import WriterLaunch
from tui.app_front import announced, quit_or_exit_now
from tui.crew_setup import (
    agent_installed,
    agents_jailed,
    make_crew,
    project_tests,
    route_models,
    unpriced_warnings,
)
from tui.headless import ConsoleReporter
from tui.memory import (
    load_lessons,
    proposals_line,
    propose_decisions,
)
from tui.output import say_when_lost
from tui.run_checks import (
    audit_request,
    python_notes,
    refuse_unusable,
    unread_config,
)
from tui.run_plan import RunPlan, SetupError, new_run_id
from tui.run_settings import PYTHON_KEY, WARNING_KEY, settings_record
from tui.run_start import RepositoryReading, jail_and_python
from tui.run_telemetry import say_line, start_telemetry
from tui.storage_watch import (
    StorageWatch,
    finish_and_let_go,
    lease_run,
    open_and_lease,
    storage_notices,
)
from tui.systemd_notify import SystemdNotifier


async def execute_run(
    plan: RunPlan,
    console: Console | None = None,
    launch: WriterLaunch | None = None,
    store: SqlEventStore | None = None,
) -> RunState:
    """Wire everything and run the factory to its end. Raises SetupError on bad input.

    ``launch``: the storage writer's process, spawned ahead by the caller, who discards it
    (:class:`~storage.writer_launch.WriterLaunch`); without one, it is spawned here first,
    so that it starts while the run sets up, and discarded if the set-up fails. ``store``: a
    resume's, open on ``plan.db_url`` (its log was read on it): the run goes on with it and
    closes it, rather than opening the database again (each open connects and reads the
    schema's revision).
    """
    if launch is not None or is_in_memory(plan.db_url):
        return await _execute_run(plan, console or Console(markup=False), launch, store)
    own = await WriterLaunch.spawn()
    try:
        return await _execute_run(plan, console or Console(markup=False), own, store)
    finally:
        await own.discard()


async def _execute_run(
    plan: RunPlan, console: Console, launch: WriterLaunch | None, store: SqlEventStore | None
) -> RunState:
    if plan.resume is None:
        return await _set_up_and_run(plan, console, launch, None)
    # A resume takes the run's lease before anything is said: of two resumes racing for
    # it, the loser says only that the run is held, not the warnings of a run set to start.
    run_id = plan.resume.run_id
    held = await (
        lease_run(store, run_id, plan.resume)
        if store is not None
        else open_and_lease(plan.db_url, run_id, plan.resume)
    )
    try:
        return await _set_up_and_run(plan, console, launch, held)
    finally:  # a set-up that failed; after a run, both are let go already (idempotent)
        store, lease = held
        await lease.release()
        await store.close()


async def _set_up_and_run(
    plan: RunPlan,
    console: Console,
    launch: WriterLaunch | None,
    held: tuple[SqlEventStore, RunLease] | None,
) -> RunState:
    settings = plan.settings
    refuse_unusable(plan)
    routing = route_models(settings, os.environ)
    # The project's virtualenv is shown read-only in the jail: the tests run on it.
    # The project's environment manager (Poetry, Pipenv...) is asked where it keeps it.
    found = await asyncio.to_thread(candidates, plan.repo, settings.gates.python)
    # So are the Node packages' installed dependencies, which their gates borrow.
    modules = await asyncio.to_thread(installed_node_modules, plan.repo)
    run_id = plan.resume.run_id if plan.resume is not None else new_run_id()
    # Cargo's target folder per worker slot, in the run's worktree folder: the gates' and
    # the agents' commands find a slot's build of the dependencies (engine.build_dirs).
    build_dirs = BuildDirs.for_run(data_home() / "worktrees", run_id)
    test_env = {} if settings.pytest_autoload_plugins else {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    # The jail's and the interpreter's probes run while git reads the repository.
    reading = RepositoryReading(plan, run_id, build_dirs)
    try:
        readable = [*found.readable_dirs(), *modules]
        sandbox, python = await jail_and_python(plan, found, readable, build_dirs)
        # The agents' run_tests runs the tests where the gates do (each monorepo project,
        # each Node package), pytest on the same interpreter.
        tests = project_tests(plan.repo, settings.gates)
        crew = make_crew(settings, routing, sandbox, test_env, tests, python.path)
        repository = await reading.read()
    except BaseException:
        await reading.settled()
        raise
    workspaces, mode = repository.workspaces, repository.mode
    # A repository that cannot be used is refused in its one line, before any warning
    # about the models is said or a telemetry port taken.
    if plan.front != "tui":  # a reader gone (``| head``), a full disk: the run goes on
        say_when_lost(console, run_id, db_option(plan.db_url))
    workspaces.agents_jailed = agents_jailed(sandbox.kind, crew.models().get("engineer", ""))
    unpriced = unpriced_warnings(crew, settings.engine, plan.budget)
    for warning in [
        *routing.warnings,
        *settings.providers.warnings(),
        *crew.deprecations(),
        *retirement_notes(roles_by_spec(routing), date.today()),
        *unpriced,
    ]:
        if plan.front == "json":
            logging.getLogger(__name__).warning("%s", warning)
        else:
            console.print(Text(warning, style="bold red"), soft_wrap=True)  # one line each
    telemetry = start_telemetry(plan.telemetry)
    unscripted = crew.unscripted_planner() if mode != "audit" else None
    if unscripted is not None:  # else the planner fails after the whole baseline
        raise SetupError(
            f"the SIM playbook {unscripted!r} scripts no blueprint (an audit's), so this "
            f"{mode} run could not plan: give --mode audit, or a playbook with a blueprint"
        )
    if mode != "audit":  # an audit builds nothing
        agent_installed(crew)
    record = settings_record(settings)
    notices: list[str] = []  # also shown inside the TUI, whose full screen hides the console
    said = python_notes(plan.repo, python)
    if said:
        record[PYTHON_KEY] = python.describe()  # ``status`` says which Python the tests ran on
        notices.append(said[0])
        if plan.front == "json":
            logging.getLogger(__name__).info("%s", said[0])
        else:
            console.print(Text(said[0]), soft_wrap=True, highlight=False)
    warnings = [
        w
        for w in (
            audit_request(plan, mode),
            repository.in_progress,
            repository.uncommitted,
            repository.moved_on,
            unread_config(plan),
            *said[1:],
            *uninstalled_warnings(plan.repo),
        )
        if w
    ]
    if warnings:
        record[WARNING_KEY] = "\n".join(warnings)  # kept in the run's log: ``status`` shows it
    for warning in warnings:
        notices.append(f"warning: {warning}")
        if plan.front == "json":
            logging.getLogger(__name__).warning("%s", notices[-1])
        else:
            console.print(Text(notices[-1], style="bold yellow"), soft_wrap=True)
    store, lease = held or await open_and_lease(plan.db_url, run_id, None)
    lessons = await load_lessons(store)  # what earlier runs learned, for planner and engineers
    crew.planner.lessons = crew.engineer.lessons = lessons
    # A resumed run's counters go on from its totals so far (what it spent), not from zero,
    # and its trace gets the spans the process before left open.
    read = telemetry is not None and telemetry.reads_history
    history = await store.read(run_id) if plan.resume is not None and read else []
    bus = EventBus(run_id, state=plan.resume)
    try:  # the events go to a writer process: storage never holds up the run's loop
        writer = await start_writer(
            store,
            bus.subscribe("storage", durable=True),
            launch,
            outage_s=settings.outage_wait_s,
            on_notice=storage_notices(bus),
        )
    except StorageError:
        await lease.release()
        await store.close()
        raise
    if telemetry is not None:
        telemetry.attach(bus, history)
    cache = GateCache(data_home() / "gate-cache", limits=settings.gates.cache_limits)
    seeds = MypySeeds.for_repo(data_home() / "mypy-seeds", plan.repo)
    # Once a run, beside it: entries unused for long, then the least recently used over the cap.
    upkeep = asyncio.gather(
        asyncio.to_thread(cache.prune), asyncio.to_thread(seeds.prune, cache.limits)
    )
    gate_set = build_gates(
        plan.repo,
        settings.gates,
        sandbox,
        test_env=test_env,
        cache=cache,
        python=python.path,
        mypy_seeds=seeds,
    )
    factory = Factory(
        bus=bus,
        workspaces=workspaces,
        planner=crew.planner,
        engineer=crew.engineer,
        request=plan.request,
        config=settings.engine,
        task_gates=gate_set.task,
        merge_gates=gate_set.merge,
        verify_gates=gate_set.verify,
        models=crew.models(),
        simulated=crew.simulated,
        critic=crew.critic,
        reviewers=crew.reviewers,
        twin=crew.twin,
        task_reviewer=crew.task_reviewer,
        qc=crew.qc,
        verifier=crew.verifier,
        judge=crew.judge,
        engineer_family=crew.engineer.provider.family,
        settings=record,
        decisions=store,  # approve/reject from another shell arrive through the inbox
        publisher=GitHubPublisher.from_environment(plan.repo, os.environ),
        mode=mode,
        repo_mapper=repo_map,
        report_dir=plan.report_dir or data_home() / "reports" / run_id,
        budget_limits=plan.budget,
        budget_answers=plan.answers,
    )
    watch = StorageWatch(
        asyncio.create_task(writer.run(), name="storage-writer"),
        lease,
        workspaces.relinquish,
        run_id=run_id,
        db_url=plan.db_url,
        bus=bus,
    )
    # A second Ctrl-C (or stop signal) exits at once: it still says how to go on.
    db = db_option(plan.db_url)  # the database the commands said act on
    hard_exit = exit_saying(
        f"shopfloor: exited at once; `shopfloor resume {run_id}{db}` carries the run on"
    )
    shutdown = ShutdownSignals(hard_exit=hard_exit)
    # Under systemd: READY once the run started, its status, watchdog pings, its stop.
    notifier = SystemdNotifier.attach(plan.notify, bus, db) if plan.notify is not None else None

    def stopped_by_person() -> None:
        shutdown.stopped_by_person()
        if notifier is not None:
            notifier.stopping()  # said at once: the closing steps may take a while

    try:
        if plan.front == "tui":
            from tui.app import ShopfloorApp
            from tui.decision_delivery import broker_decider

            # A resumed run's screen shows the run from its start, then carries on live.
            logged = await store.read(run_id) if plan.resume is not None else []
            app = ShopfloorApp(
                bus.subscribe("tui"),
                run_task=lambda: announced(app, notices, lambda: watch.run(factory.run)),
                title="shopfloor",
                on_decision=broker_decider(factory.broker),
                store=store,
                logged=logged,
            )
            # SIGTERM, or SIGHUP from a dropped SSH session: quit as the quit key does.
            with stop_signals_call(lambda: quit_or_exit_now(app, hard_exit), hard_exit=hard_exit):
                await app.run_async()
                await app.engine_stopped()
            if app.return_code == EXIT_INTERRUPTED:  # Ctrl-C or a stop signal left the app
                stopped_by_person()
            if isinstance(app.run_error, StorageError):
                # Shown in a toast while the app was up; once it is gone, the one line and
                # its exit code say why the run stopped (not "interrupted").
                raise app.run_error
        else:
            reporter = ConsoleReporter(
                bus.subscribe("console"),
                console,
                verbose=plan.verbose,
                json_lines=plan.front == "json",
                resumed=plan.resume,  # nothing is emitted yet: the log as it was folded
                answered=plan.answers,
                db=db,
            )
            reporter_task = asyncio.create_task(reporter.run(), name="console")
            try:
                # Ctrl-C: stop, stay resumable; a failing database stops the run too.
                await run_interruptible(
                    lambda: watch.run(factory.run), on_stop=stopped_by_person, hard_exit=hard_exit
                )
            finally:
                with shutdown.installed():
                    await bus.close()
                    await reporter_task
    finally:
        # A SIGTERM or Ctrl-C from here on only cuts the metrics linger short: the last
        # events are stored and the trace is flushed before the process exits.
        with shutdown.installed():
            await bus.close()
            if notifier is not None:  # the outcome, or how to resume; pings go on till the end
                notifier.stopping()
            try:  # a refused last batch raises here, the lease and store let go already
                await finish_and_let_go(watch, lease, store)
            finally:  # and the trace is flushed, the providers' connections closed, even so
                if telemetry is not None:  # an ended run's endpoint waits for a last scrape
                    await telemetry.close(
                        shutdown.stopping, lambda line: say_line(plan, console, line)
                    )
                for provider in crew.providers.values():
                    await close_provider(provider)
                if notifier is not None:
                    await notifier.close()
                await upkeep  # the gate cache's and seeds' pruning, long done (100k entries: 2 s)
    proposed, where = propose_decisions(bus.state, settings)
    if proposed and plan.front != "json":
        console.print(proposals_line(proposed, where, settings), soft_wrap=True, highlight=False)
    return bus.state
