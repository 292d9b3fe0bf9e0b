"""``shopfloor dna edit`` in one shell while ``shopfloor dna accept`` runs in another.

An editor holds the DNA for minutes; meanwhile a colleague (or the owner, in another
terminal) accepts a proposal into the same file. Neither change may vanish without a word,
and nothing reading the DNA meanwhile — ``accept`` itself, a run's twin — may read a file
the editor is half-way through writing. Both commands run as real processes; the editor is
a small script that behaves like one: it reads the file when it opens, and writes its whole
buffer back when the person saves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agents.dna import OwnerDNA
from agents.dna_proposals import Proposal, ProposalBook, save_dna

SHOPFLOOR = [sys.executable, "-m", "tui.cli"]

EDITOR = textwrap.dedent(
    """\
    import pathlib, sys, time
    path = pathlib.Path(sys.argv[1])
    here = pathlib.Path(__file__).parent
    buffer = path.read_text()  # the editor opens the file
    edited = buffer.replace("heuristics = []", 'heuristics = [\\n  "Small modules",\\n]')
    with path.open("w") as out:  # saving, in place, the way vi and nano do
        out.write(edited[: len(edited) // 2])
        out.flush()
        (here / "saving").touch()
        while not (here / "go").exists():
            time.sleep(0.02)
        out.write(edited[len(edited) // 2 :])
    """
)


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_an_accept_during_an_edit_is_neither_lost_nor_fed_a_half_written_file(
    tmp_path: Path,
) -> None:
    dna_file = tmp_path / "owner.toml"
    save_dna(dna_file, OwnerDNA(owner={"name": "Ada"}))
    ProposalBook(dna_file).add(
        [
            Proposal(
                proposal_id="run00001-esc-1",
                run_id="run00001",
                escalation_id="esc-1",
                kind="twin",
                question="Build a greeting CLI",
                decision="accept",
                decided_by="human:ann",
            )
        ]
    )
    editor = tmp_path / "editor" / "fake_editor.py"
    editor.parent.mkdir()
    editor.write_text(EDITOR)
    env = {**os.environ, "EDITOR": f"{sys.executable} {editor}", "SHOPFLOOR_HOME": str(tmp_path)}
    env.pop("VISUAL", None)
    argv = ["--dna", str(dna_file)]
    edit = subprocess.Popen(
        [*SHOPFLOOR, "dna", "edit", *argv],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(editor.parent / "saving", edit)
        accept = subprocess.run(
            [*SHOPFLOOR, "dna", "accept", "--all", *argv],
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        (editor.parent / "go").touch()
        out, err = edit.communicate(timeout=60)

    # accept read a whole DNA, never the editor's half-saved buffer, and its ruling stays.
    assert accept.returncode == 0, accept.stderr
    dna = OwnerDNA.load(dna_file)
    assert dna.precedent("Build a greeting CLI", "twin") is not None
    assert ProposalBook(dna_file).load() == []
    if "Small modules" in dna.heuristics:
        assert edit.returncode == 0, err
        return
    # The edit lost the race: it says so in one line, and the person's text is kept.
    assert edit.returncode == 1
    said = (out + err).strip()
    assert len(said.splitlines()) == 1, said
    assert "changed while" in said, said
    kept = Path(said.rsplit(" at ", 1)[1].split()[0].rstrip(":;,"))
    assert "Small modules" in OwnerDNA.load(kept).heuristics
