"""``shopfloor export RUN_ID`` and ``shopfloor import FILE``: a run's log as JSON lines.

Export writes one event per line, in sequence order, to stdout or ``--out FILE`` (whole or not
at all: written beside it, then renamed over it); import reads
such a file (``-`` for stdin) into the database as a new run, refusing a run that is already
there. Together they move runs between machines and between SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path

from rich.console import Console

from engine.events import RunFinished
from storage.errors import StorageError
from storage.store import SqlEventStore
from storage.transfer import export_lines, import_run, parse_lines
from tui.commands.common import db_url, open_store
from tui.commands.exit_codes import EXIT_OK


async def cmd_export(args: argparse.Namespace, console: Console) -> int:
    async with await open_store(args) as store:
        run_id = await store.resolve_run_id(args.run_id)
        if args.out is None:
            try:
                async for line in export_lines(store, run_id):
                    sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                raise  # the reader went away: the CLI stops quietly
            except OSError as exc:  # a full disk behind a redirection, say
                raise StorageError(f"cannot write the export: {exc.strerror or exc}") from exc
            return EXIT_OK
        count = await _export_to_file(store, run_id, args.out)
    console.print(f"exported {count} event(s) of run {run_id} to {args.out}", highlight=False)
    return EXIT_OK


async def _export_to_file(store: SqlEventStore, run_id: str, out: Path) -> int:
    """Write the export to a scratch file beside ``out`` and rename it over ``out`` once
    whole; returns the events written. Written in place, a failure half way (a full disk,
    the database gone, Ctrl-C) left a file that began like an export and ended anywhere, an
    older export of the same name cut short with it; now ``out`` is the whole export or
    what it was before."""
    if _special(out):  # /dev/stdout, a named pipe: written as it is
        return await _export_in_place(store, run_id, out)
    scratch = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    count = 0
    try:
        try:
            with scratch.open("w", encoding="utf-8") as file:
                async for line in export_lines(store, run_id):
                    file.write(line + "\n")
                    count += 1
                file.flush()
                os.fsync(file.fileno())
            scratch.replace(out)
        except OSError as exc:
            raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):  # its folder may be missing, or read-only
            scratch.unlink(missing_ok=True)
    return count


def _special(path: Path) -> bool:
    """Whether ``path`` is there and not a regular file (a device, a pipe, a folder)."""
    return path.exists() and not path.is_file()


async def _export_in_place(store: SqlEventStore, run_id: str, out: Path) -> int:
    count = 0
    try:
        with out.open("w", encoding="utf-8") as file:
            async for line in export_lines(store, run_id):
                file.write(line + "\n")
                count += 1
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return count


def _read_lines(name: str) -> list[str]:
    if name == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(name).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise StorageError(f"no such file: {name}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"cannot read {name}: {exc}") from exc


async def cmd_import(args: argparse.Namespace, console: Console) -> int:
    database = db_url(args)  # a database that would keep nothing is refused before reading
    source = "stdin" if args.file == "-" else args.file
    events = parse_lines(_read_lines(args.file), source)
    async with await SqlEventStore.open(database) as store:
        run_id = await import_run(store, events, source)
    console.print(f"imported run {run_id} ({len(events)} events)", highlight=False)
    if not any(isinstance(event, RunFinished) for event in events):
        # Each database has its own lease: two resumes of one run from two databases both
        # drive its repository, and merge every task twice.
        console.print(
            f"warning: run {run_id} is unfinished, and resumable from this database and from "
            "the one it was exported from: resume it from one of them only",
            highlight=False,
            soft_wrap=True,
        )
    return EXIT_OK
