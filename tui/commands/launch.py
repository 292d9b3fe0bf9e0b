"""``shopfloor demo``, ``run`` and ``resume``'s first step: refuse what the command line
(or, for ``resume``, the run's log) alone shows is wrong, before the factory loads.

A run loads the engine, the providers, the gates, the store and the exporters (~1 s of CPU)
and starts the storage writer's process. A mistyped request file or a ``--repo`` that names a
file needs none of it: this module imports nothing of the factory, says what is wrong, and
hands a good command on to :func:`tui.commands.run.start`.

A good command spawns the storage writer's process first, then loads the factory: the child
spends ~0.6 s of CPU importing SQLAlchemy and the event models, and started once this
process had loaded the factory, it was still importing when the run was set up, and the run
waited for it (~0.3 s before ``RunStarted`` on a quiet 2-core machine). The factory loads
with the cyclic collector off (:func:`engine.heap.loading`), as the command's own module
does: ~210 collections walked what had loaded so far, ~0.13 s of the ~1.4 s.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from engine.heap import loading
from engine.secrets import hide_process_environment
from tui.commands.exit_codes import UsageError
from tui.commands.terminal import refuse_a_tui_without_a_terminal
from tui.notify_target import NotifyTarget
from tui.repo_folder import repo_problem

if TYPE_CHECKING:
    from rich.console import Console


def run_request(args: argparse.Namespace) -> str:
    """``run``'s request: its words, or the text of ``--request-file`` (UsageError if neither,
    both, or the file cannot be read as UTF-8 text or is empty)."""
    # Blank words are no request: `run "  "` started a run that asked for nothing
    words = args.request if args.request and args.request.strip() else None
    if args.request_file is not None and words:
        # one of the two was dropped without a word: the file's request ran, not the words
        raise UsageError(
            f"give the request as an argument or with --request-file, not both "
            f"({words!r} and {args.request_file})"
        )
    if args.request_file is not None:
        try:
            text = str(args.request_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise UsageError(
                f"cannot read request file {args.request_file}: {exc.strerror}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"request file {args.request_file} is not UTF-8 text") from exc
        if not text:
            raise UsageError(f"request file {args.request_file} is empty")
        return text
    if words:
        return str(words)
    raise UsageError("give the request as an argument or with --request-file")


def refuse_bad_arguments(args: argparse.Namespace) -> None:
    """UsageError when ``run``'s request, ``--repo`` or ``--out``, or ``demo``'s ``--out``,
    cannot be used. (The configuration is checked once the run is set up.)"""
    refuse_a_tui_without_a_terminal(args)
    if args.command == "demo":
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise UsageError(f"demo folder {args.out} is a file")
        return
    run_request(args)
    # With --resume-unfinished a missing repository may be where a stopped run works: the
    # store is read first, to name that run (tui.run_checks.refuse_unusable).
    if not args.resume_unfinished and (problem := repo_problem(args.repo.resolve())):
        raise UsageError(problem)
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; an audit's report needs a folder")


async def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """``demo`` and ``run``: refuse bad arguments, start the storage writer's process, then
    load the factory and run it."""
    refuse_bad_arguments(args)
    hide_process_environment()  # before any command starts: none may read this one's keys
    notify = NotifyTarget.take(os.environ)  # nothing the run starts inherits it
    # Imported once the command line is good: a refused one loads nothing of storage.
    from storage.writer_launch import WriterLaunch

    launch = await WriterLaunch.spawn()  # it imports while this process loads the factory
    try:
        with loading():
            from tui.commands.run import start
        return await start(args, console, launch, notify)
    finally:
        await launch.discard()  # set-up failed before the run took it: no child is left


async def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    """``resume``: refuse a run that is unknown, never started or driven by a live process,
    and say that a finished one finished, before the factory loads (its modules took ~0.3 s
    of CPU before the one line); then resume it."""
    refuse_a_tui_without_a_terminal(args)
    hide_process_environment()  # before any command starts: none may read this one's keys
    notify = NotifyTarget.take(os.environ)  # nothing the run starts inherits it
    from storage.writer_launch import WriterLaunch

    # The writer's child imports while this process reads the run's log and loads the
    # factory; a refused or finished run kills it (~10 ms of this process's time).
    launch = await WriterLaunch.spawn()
    try:
        with loading():  # imported here: refusing ``run``'s command line needs no store
            from engine.events import Outcome
            from tui.commands.common import open_store
            from tui.commands.history import exit_code, load_stopped_run
        # Opened once: the run's log is read on it, then the run leases and writes through it.
        store = await open_store(args)
        try:
            # A run another process drives is refused before anything starts; the run takes
            # its lease again before it goes on, in case that process started in between.
            state = await load_stopped_run(store, args.run_id, "resumed")
            if state.outcome is not Outcome.RUNNING:
                console.print(f"run {state.run_id} already finished: {state.outcome.value}")
                return exit_code(state)
            with loading():
                from tui.commands.resume import resume_stopped
            return await resume_stopped(args, console, store, state, notify, launch)
        finally:
            await store.close()  # refused, or the set-up failed; after a run: closed already
    finally:
        await launch.discard()  # set-up failed before the run took it: no child is left
