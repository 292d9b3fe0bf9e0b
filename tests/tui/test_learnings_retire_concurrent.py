"""``shopfloor learnings prune`` from two shells, while runs start and read what is retired.

Retired ids live in one file of the data folder. Prunes at once must keep every id each
retired, and a run reading the file meanwhile must never see fewer than were retired before
(a half-written file read as none: every pruned learning came back to the planner).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tui.memory import retire, retired_ids


def test_prunes_at_once_keep_every_id_and_readers_never_see_fewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path))
    retire({"seed"})
    pruners, rounds = 4, 25
    done = threading.Event()
    shrank: list[tuple[int, int]] = []

    def run_starting() -> None:
        seen = 1
        while not done.is_set():
            now = len(retired_ids())
            if now < seen:
                shrank.append((seen, now))
            seen = max(seen, now)

    def prune(n: int) -> None:
        for round_ in range(rounds):
            retire({f"l-{n}-{round_}"})

    reader = threading.Thread(target=run_starting)
    reader.start()
    threads = [threading.Thread(target=prune, args=(n,)) for n in range(pruners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert shrank == []
    wanted = {"seed"} | {f"l-{n}-{r}" for n in range(pruners) for r in range(rounds)}
    assert retired_ids() == wanted
