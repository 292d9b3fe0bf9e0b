"""Two runs ending at once propose their humans' decisions to the same DNA file.

Both runs of one data folder (or one ``[twin] dna``) keep their proposals in the one file
beside the DNA; each run adds to it as it ends, and ``shopfloor dna accept`` takes from it.
Done at the same time, none of them may lose another's proposal or read a half-written file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agents.dna_proposals import Proposal, ProposalBook


def proposal(n: int) -> Proposal:
    return Proposal(
        proposal_id=f"run{n:05d}-esc-1",
        run_id=f"run{n:05d}",
        escalation_id="esc-1",
        kind="twin",
        question=f"Build thing {n}",
        decision="accept",
        decided_by="human:ann",
    )


def test_runs_ending_at_once_keep_every_proposal(tmp_path: Path) -> None:
    dna_file = tmp_path / "dna.toml"
    writers, rounds = 6, 15
    errors: list[BaseException] = []

    def end_run(start: threading.Barrier, n: int) -> None:
        start.wait()
        try:
            ProposalBook(dna_file).add([proposal(n)])
        except BaseException as exc:  # a half-written file read by another run
            errors.append(exc)

    for round_ in range(rounds):
        start = threading.Barrier(writers)
        threads = [
            threading.Thread(target=end_run, args=(start, round_ * writers + i))
            for i in range(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    kept = {p.proposal_id for p in ProposalBook(dna_file).load()}
    assert kept == {proposal(n).proposal_id for n in range(writers * rounds)}
    # Nothing else is left beside a DNA file, which may well live in the user's repository.
    assert [p.name for p in tmp_path.iterdir()] == ["dna.proposals.json"]
