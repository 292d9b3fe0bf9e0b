"""``shopfloor dna show|edit|path|accept``: the owner's DNA the twin decides from.

The DNA file is ``[twin] dna`` of the config, else ``dna.toml`` in the data folder. Runs
propose the human decisions they collected as DNA entries (a proposals file beside the DNA);
``accept`` moves them in, after which the twin answers those questions itself.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

from agents.dna import DnaError, OwnerDNA
from agents.dna_proposals import ProposalBook, dna_lock
from engine.files import replace_file
from tui.commands.exit_codes import EXIT_FAILED, EXIT_OK, UsageError
from tui.config import load_settings
from tui.memory import dna_file

TEMPLATE = """\
# The owner's DNA: how the owner decides. The twin reads it before every decision.
# decisions are precedents, heuristics rules of thumb, redlines are never crossed.

decisions = []
heuristics = []
redlines = []

[owner]
name = "the owner"
"""


def _load(path: Path) -> OwnerDNA:
    try:
        return OwnerDNA.load(path) if path.exists() else OwnerDNA()
    except DnaError as exc:
        raise UsageError(str(exc)) from exc


async def cmd_dna(args: argparse.Namespace, console: Console) -> int:
    path = args.dna.resolve() if args.dna else dna_file(load_settings(args.config))
    book = ProposalBook(path)
    try:
        if args.dna_action == "path":
            console.print(str(path), soft_wrap=True, highlight=False)
            return EXIT_OK
        if args.dna_action == "show":
            return _show(path, book, console)
        if args.dna_action == "edit":
            return _edit(path, console)
        return _accept(args, book, console)
    except DnaError as exc:
        raise UsageError(str(exc)) from exc


def _show(path: Path, book: ProposalBook, console: Console) -> int:
    state = "" if path.exists() else " (not written yet)"
    console.print(Text.assemble((str(path), "bold"), state), soft_wrap=True)
    console.print(_load(path).render(), soft_wrap=True, highlight=False, markup=False)
    pending = book.load()
    entries = f"{len(pending)} proposed entr{'y' if len(pending) == 1 else 'ies'}"
    console.print(Text.assemble("\n", (entries, "bold")))
    for p in pending:
        note = f" ({p.note})" if p.note else ""
        console.print(
            f"  {p.proposal_id}  [{p.kind}] {p.question!r} -> {p.decision}{note}  "
            f"by {p.decided_by}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    return EXIT_OK


def _edit(path: Path, console: Console) -> int:
    """Edit a copy, then save it over the DNA only if nobody changed the DNA meanwhile.

    The editor works on a scratch copy for as long as the person takes: the DNA is never
    half written while the twin or ``dna accept`` reads it. Saving takes the DNA's lock
    and compares the file with what the copy started from; when a ``dna accept`` or
    another edit changed it in between, the edit is refused in one line naming where the
    person's version is kept, rather than one of the two changes silently lost.
    """
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
    except ValueError as exc:
        raise UsageError(f"cannot parse the editor command {editor!r}: {exc}") from exc
    if not command:
        raise UsageError("the editor command ($VISUAL or $EDITOR) is blank")
    with dna_lock(path):
        if not path.exists():
            replace_file(path, TEMPLATE)
        original = _read(path)
    scratch = Path(tempfile.mkdtemp(prefix="shopfloor-dna-"))
    copy = scratch / path.name
    copy.write_text(original, encoding="utf-8")
    kept = False
    try:
        try:
            code = subprocess.run([*command, str(copy)], check=False).returncode
        except OSError as exc:
            raise UsageError(f"cannot start the editor {editor!r}: {exc.strerror}") from exc
        if code != 0:
            console.print(f"the editor exited with {code}; the DNA was left as it is")
            return EXIT_FAILED
        edited = _read(copy)
        try:
            dna = OwnerDNA.load(copy)
        except DnaError as exc:
            kept = edited != original
            where = f"; your version is kept at {copy}" if kept else ""
            console.print(
                Text.assemble(("the DNA does not load:", "bold red"), f" {exc}{where}"),
                soft_wrap=True,
            )
            return EXIT_FAILED
        if edited != original:
            with dna_lock(path):
                if _read(path) != original:
                    kept = True
                    console.print(
                        Text.assemble(
                            ("the DNA changed while you edited it", "bold red"),
                            f" (a `shopfloor dna accept` or another edit); it was left as it "
                            f"is, and your version is kept at {copy}: edit again and carry "
                            "your changes over",
                        ),
                        soft_wrap=True,
                    )
                    return EXIT_FAILED
                replace_file(path, edited)
        else:  # nothing to save; an accept meanwhile is what the DNA now says
            dna = _load(path)
    finally:
        if not kept:
            shutil.rmtree(scratch, ignore_errors=True)
    console.print(
        f"DNA ok: {len(dna.decisions)} decision(s), {len(dna.heuristics)} heuristic(s), "
        f"{len(dna.redlines)} redline(s)"
    )
    return EXIT_OK


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _accept(args: argparse.Namespace, book: ProposalBook, console: Console) -> int:
    if bool(args.ids) == bool(args.all):
        raise UsageError("name the proposals to accept, or give --all")
    accepted = book.accept(None if args.all else list(args.ids))
    if not accepted:
        console.print("no proposals pending")
        return EXIT_OK
    for p in accepted:
        console.print(
            f"accepted {p.proposal_id}: [{p.kind}] {p.question!r} -> {p.decision}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    console.print(f"written to {book.dna_file}", soft_wrap=True, highlight=False)
    return EXIT_OK
