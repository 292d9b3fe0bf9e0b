"""A run prunes the data home's gate cache once, as it starts: an entry no run used for longer
than ``[gates] cache_max_age_days`` (30 days by default) is gone after it, in the secrets
gate's folder too, and the verdicts the run reached are kept (gates.cache_upkeep); so is
another repository's folder of mypy seeds (gates.mypy_seed)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from demo_process import cli_probe

from gates.profiles import SECRETS_MEMO

COUNTING_PRUNES = """
import sys
from gates.cache import GateCache
from tui.cli import main
calls = []
plain = GateCache.prune
def counted(self):
    calls.append(self.directory)
    return plain(self)
GateCache.prune = counted
code = main(sys.argv[1:])
print(f"exit {code} prunes {len(calls)}")
"""


def test_a_demo_prunes_the_gate_cache_once(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    cache = home / "gate-cache"
    (cache / SECRETS_MEMO).mkdir(exist_ok=True)
    unused = [
        cache / f"unused-{tmp_path.name}.json",
        cache / SECRETS_MEMO / f"{tmp_path.name}.json",
    ]
    for path in unused:
        path.write_text(json.dumps([]), encoding="utf-8")
        then = time.time() - 31 * 86_400
        os.utime(path, (then, then))
    seeds = home / "mypy-seeds" / f"other-{tmp_path.name}"
    (seeds / "key" / "token" / "cache").mkdir(parents=True)
    (seeds / "key" / "current").write_text("token", encoding="utf-8")
    then = time.time() - 31 * 86_400
    os.utime(seeds, (then, then))
    argv = ["demo", "--headless", "--speed", "1000", "--out", str(tmp_path / "repo")]
    done = cli_probe(home, COUNTING_PRUNES, *argv)
    assert done.stdout.splitlines()[-1] == "exit 0 prunes 1", done.stdout[-2000:] + done.stderr
    assert not any(path.exists() for path in unused)
    assert not seeds.exists()
    assert list(cache.glob("*.json")) and list((cache / SECRETS_MEMO).glob("*.json"))
