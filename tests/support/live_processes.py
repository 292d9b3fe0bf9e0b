"""The processes a test started that still run, found by a token on their command line: for
tests that check what a killed factory, agent or command leaves behind."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path


def alive_with(token: str) -> list[int]:
    """Live (non-zombie) processes whose command line holds ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone meanwhile
            continue
        if token.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def left_after(token: str) -> list[int]:
    """What still runs with ``token`` once a moment passed (killed, so the test leaves none)."""
    for _ in range(40):
        if not (found := alive_with(token)):
            return []
        await asyncio.sleep(0.05)
    for pid in found:
        os.kill(pid, signal.SIGKILL)
    return found
