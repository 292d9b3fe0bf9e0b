"""The ``shopfloor`` command line: parse, dispatch to a command module, map errors.

Exit codes: 0 shipped (or a query answered), 1 the run failed (or stopped part way because
another process took it over), 2 bad input, 3 killed by a gate, 75 try again later (the
database could not be reached, or the run stopped because its events could not be stored; it
stays resumable and the same command carries it on), 130 interrupted, 141 the output's reader
closed the pipe. Bad input, a database out of reach and a run stopped part way are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from engine.heap import leaving, loading
from tui.parsers import parser_modules

if TYPE_CHECKING:
    from rich.console import Console

EXIT_BROKEN_PIPE = 141
"""Exit code when the output's reader closed the pipe: 128 + SIGPIPE, what a shell reports
for ``git log | head``."""

PIPE_WIDTH = 200
"""Columns for output that goes to a pipe or a file: rich would fold tables at 80, and a
branch name broken over two lines is one ``grep`` cannot find."""


OUTER_REPOSITORY_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
)
"""The variables by which git tells what it runs which repository it works on (``git
rev-parse --local-env-vars``, less the ``-c`` config it passes on): set when shopfloor is
started from a hook, ``git rebase --exec`` or ``git bisect run``."""


def forget_outer_repository(environ: MutableMapping[str, str]) -> None:
    """Drop :data:`OUTER_REPOSITORY_ENV` from ``environ``.

    Every git command the factory runs — in a scratch copy, in an attempt's worktree, in the
    gates and the agents — inherits this process's environment, and would work on the
    repository those variables name (an audit's ``git add -A`` staged the user's whole
    checkout into their index). The repository is the one ``--repo`` names, or the
    run's; git does the same when it moves into another repository (a submodule).
    """
    for name in OUTER_REPOSITORY_ENV:
        environ.pop(name, None)


def stdout_console() -> Console:
    """The console for a command's output: the terminal's width on a terminal (or
    ``COLUMNS``), else :data:`PIPE_WIDTH`.

    Without markup: what commands print is mostly the user's and the models' words (a
    request, a task title, a reason), and ``[/]`` or ``[engine]`` in them is text, not a
    style (rich raised on the one and swallowed the other). Styled lines are
    :class:`~rich.text.Text`. Without highlighting, for the same words: rich coloured
    ``None`` or ``0x1f`` in them as Python, with regular expressions quadratic in a long
    word (``status`` of a run whose request was one 40,000-character word took 52 s).
    """
    from rich.console import Console

    from tui.output import LosableStream

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    # A dropped SSH session fails every write to the terminal: the run still stops gracefully.
    return Console(
        file=LosableStream(sys.stdout),  # type: ignore[arg-type]
        width=PIPE_WIDTH if piped else None,
        markup=False,
        highlight=False,
    )


BAD_INPUT: tuple[tuple[str, str], ...] = (
    ("tui.commands.exit_codes", "UsageError"),
    ("tui.run_plan", "SetupError"),
    ("tui.config", "ConfigError"),
    ("agents.playbook", "PlaybookError"),
    ("agents.provider", "ProviderError"),
    ("engine.dag", "PlanError"),
    ("engine.loop", "LoopChoiceError"),
    ("engine.workspace_errors", "WorkspaceError"),
    ("storage.errors", "StorageError"),
)
"""Errors that mean the input was wrong (module, class): reported in one line, exit code 2.

Named rather than imported, so a quick command does not load the modules of the others; a
class whose module was never loaded cannot have been raised."""


TRY_LATER: tuple[tuple[str, str], ...] = (
    ("storage.errors", "DatabaseUnreachable"),
    ("storage.errors", "EventsNotStored"),
)
"""Errors an outage causes (the database could not be reached; a run stopped because its
events could not be stored): one line, exit code 75, and the same command works once the
database is back. Checked first: they are StorageErrors, EventsNotStored a RunStopped."""

RUN_STOPPED: tuple[tuple[str, str], ...] = (("storage.errors", "RunStopped"),)
"""Errors that stopped a run part way (another process took it over; the database refuses its
events for a reason waiting does not cure): one line, exit code 1.
Checked before :data:`BAD_INPUT`, whose StorageError they are a kind of."""


def is_bad_input(exc: BaseException) -> bool:
    """True when ``exc`` is one of :data:`BAD_INPUT`."""
    return _is_one_of(exc, BAD_INPUT)


def _is_one_of(exc: BaseException, kinds: tuple[tuple[str, str], ...]) -> bool:
    for module_name, class_name in kinds:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


NEGATIVE_VALUE = re.compile(r"^-\.?\d")
"""A command-line word that is a value although it starts with a minus: ``-1``, ``-1d``."""


class DescribedSubParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-commands whose own ``--help`` starts with what they do: the line the list of
    commands gives each (``shopfloor attach --help`` printed its usage and options and
    never said what attach does), unless the command has a description of its own."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        said = kwargs.get("help")
        if said and "description" not in kwargs:
            kwargs["description"] = f"{said[0].upper()}{said[1:]}."
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]

    chosen: argparse.ArgumentParser | None = None
    """The parser of the sub-command the words named, once they are parsed; None before, or
    for a name that is none of them."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, Sequence) and values:
            self.chosen = self._name_parser_map.get(values[0])
        super().__call__(parser, namespace, values, option_string)


class CommandParser(argparse.ArgumentParser):
    """The CLI's parser: its sub-commands, at every level, are :class:`DescribedSubParsers`,
    and are parsed by a CommandParser too (argparse gives a sub-command its parent's class),
    so every error is one line (:meth:`error`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", DescribedSubParsers)
        # A word that starts with a minus and a digit is a value, not an option: argparse
        # takes only plain numbers so (``-1``), and ``--older-than -1d`` failed "expected one
        # argument" instead of reaching the AGE type, which says what is wrong with it. No
        # option of ours starts with a digit. (The attribute is argparse's own, 3.6 to 3.13.)
        self._negative_number_matcher = NEGATIVE_VALUE

    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction:  # type: ignore[type-arg]
        """argparse's, with :class:`CommandParser` for the sub-commands (said, not inherited
        by default as argparse does, so a subclass of this one cannot lose it)."""
        kwargs.setdefault("parser_class", CommandParser)
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        """Say what is wrong in one line on stderr and exit 2, as the other usage errors do:
        ``shopfloor: MESSAGE (shopfloor run --help)``. argparse printed the whole usage
        first: 13 lines for ``run --max-cost -1``, the error last.

        Words left over once a command has parsed its own are refused by the top parser
        ("unrecognized arguments"): the pointer is to the help of the command that took
        them. The message is folded onto one line (a word given with a newline in it) and
        cleaned of the keys in the environment, as :func:`main` cleans its errors."""
        parser: argparse.ArgumentParser = self
        while (chosen := chosen_command(parser)) is not None:
            parser = chosen
        from engine.redaction import Redactor  # a key pasted as an argument is echoed back
        from tui.commands.exit_codes import EXIT_BAD_INPUT  # argparse's own code too

        said = Redactor.from_environ().redact(" ".join(message.split()))
        self.exit(EXIT_BAD_INPUT, f"shopfloor: {said} ({parser.prog} --help)\n")


def chosen_command(parser: argparse.ArgumentParser) -> argparse.ArgumentParser | None:
    """The parser of the sub-command ``parser``'s words named, once parsed; else None."""
    for action in parser._actions:
        if isinstance(action, DescribedSubParsers):
            return action.chosen
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``command``'s sub-commands, or with all of them (None)."""
    parser = CommandParser(
        prog="shopfloor", description="The control room of an autonomous code factory."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in parser_modules(command):
        module.register(sub)
    return parser


INTERRUPTED_LOADING = 130
"""The exit code of a command stopped while it loads: ``engine.interrupt.EXIT_INTERRUPTED``,
which is not loaded yet."""


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """For the block, SIGTERM and a hang-up interrupt as Ctrl-C does (KeyboardInterrupt).

    A command loads for a second or more (``serve-metrics``: the store, SQLAlchemy,
    Prometheus, ~1.5 s) before its event loop handles stop signals; ``systemctl stop`` then
    killed it with no line, and a Ctrl-C printed an import's traceback. A signal ignored
    (``nohup``'s hang-up) stays ignored; outside the main thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [s for s in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) is signal.SIG_DFL]
    for signum in taken:
        signal.signal(signum, signal.default_int_handler)
    try:
        yield
    finally:
        for signum in taken:
            signal.signal(signum, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command of ``argv`` (the process's arguments when None); the exit code.

    The process goes on afterwards (a test calls this in-process), so its heap is left as
    it was: :func:`console_main` is the process's entry, which freezes it (engine.heap)."""
    return _command(argv, whole_process=False)


def console_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shopfloor`` console script: the process is this one command.

    What the command loads is permanent, so it is frozen once loaded; and at the end, all of
    it, so the interpreter's exit need not walk the heap (:mod:`engine.heap`). Frozen in
    :func:`main`, each test calling it in-process froze the garbage its process held then,
    never collected again, and the ever larger rest of the heap with it."""
    open_standard_streams()
    try:
        return _command(argv, whole_process=True)
    finally:
        leaving()


def open_standard_streams() -> None:
    """Point a standard descriptor the process was started without (``shopfloor runs <&-``,
    a daemon's ``>&-``) at ``/dev/null``, and give Python its stream back: else the event
    loop's library aborted the process on closing a descriptor it took as its own (a core
    dump, exit 134), and ``sys.stdout`` was None (a traceback)."""
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            os.fstat(fd)
        except OSError:  # closed: the next open would take this number for something else
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            mode = "r" if fd == 0 else "w"
            setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))


def _command(argv: Sequence[str] | None, *, whole_process: bool) -> int:
    """Parse ``argv`` (the process's arguments when None) and run its command; the exit
    code. ``whole_process``: nothing runs after it but the interpreter's exit."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = words[0] if words and not words[0].startswith("-") else None
    # Parsing loads only the parsers (tui.parsers); the command's handler loads what it runs
    # on (the store, SQLAlchemy, the event models) here, with no collection; in a process
    # that is this command, the loaded program is permanent: later collections skip it
    # (engine.heap).
    try:
        with stop_signals_interrupt(), loading(freeze=whole_process):
            args = build_parser(command).parse_args(words)
            handler = args.handler.load()
            from rich.console import Console
            from rich.text import Text

            from engine import loop as event_loop
            from tui.commands.exit_codes import (
                EXIT_BAD_INPUT,
                EXIT_FAILED,
                EXIT_INTERRUPTED,
                EXIT_TRY_LATER,
            )
            from tui.output import LosableStream
    except KeyboardInterrupt:
        sys.stderr.write("shopfloor: interrupted\n")
        return INTERRUPTED_LOADING

    forget_outer_repository(os.environ)
    console = stdout_console()
    errors = Console(file=LosableStream(sys.stderr), markup=False)  # type: ignore[arg-type]
    try:
        code: int = event_loop.run(handler(args, console))
    except BrokenPipeError:
        # The reader went away (``shopfloor export RUN | head``): stop quietly, as git does.
        LosableStream(sys.stdout).lose_quietly()
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        later = _is_one_of(exc, TRY_LATER)
        stopped = _is_one_of(exc, RUN_STOPPED)
        if not later and not stopped and not is_bad_input(exc):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # A config error quotes what the file says (a model spec with a URL's password), a
        # provider's or a database's error what it was sent: the line is printed cleaned.
        from engine.redaction import Redactor

        message = Redactor.from_environ().redact(message)
        errors.print(Text.assemble(("shopfloor:", "bold red"), f" {message}"), soft_wrap=True)
        return EXIT_TRY_LATER if later else EXIT_FAILED if stopped else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        errors.print("shopfloor: interrupted")
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(console_main())  # `python -m tui.cli` is the whole process, as the script is
