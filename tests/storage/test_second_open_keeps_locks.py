"""Opening a second store on a SQLite file keeps the locks of the first.

The open checked the file's first bytes with a plain ``open()``; its ``close()`` dropped every
POSIX lock this process held on the file, the shared lock of the store already open among
them. A process that closed the database next then found itself its last user: it
checkpointed, truncated the WAL and deleted the ``-shm`` file under the open store, whose next
read said "disk I/O error" (seen in CI: a resumed demo's process read the database it had
just shipped the run into). Now the header is read through SQLite, whose close keeps the
descriptor while other connections of the process hold locks.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from storage.store import SqlEventStore

CLOSE_ELSEWHERE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM events").fetchone()
conn.close()
"""


def close_elsewhere(db: Path) -> None:
    """Another process opens the database, reads, and closes it."""
    subprocess.run([sys.executable, "-c", CLOSE_ELSEWHERE, str(db)], check=True)


def test_a_second_open_leaves_the_first_store_s_lock_for_other_processes_to_see(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{db}"

    async def scenario() -> int:
        async with await SqlEventStore.open(url) as first:
            async with first.engine.connect() as held:  # a connection, as a run's reader has
                await held.execute(text("SELECT count(*) FROM events"))
                async with await SqlEventStore.open(url):
                    pass
                await asyncio.to_thread(close_elsewhere, db)
                assert await asyncio.to_thread(Path(f"{db}-shm").exists), "took itself for last"
                result = await held.execute(text("SELECT count(*) FROM events"))
                return int(result.scalar_one())

    assert asyncio.run(scenario()) == 0


def test_a_file_of_other_bytes_is_still_refused_in_one_line_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"SQLite")  # six bytes: the start of a header, not a database
    url = f"sqlite+aiosqlite:///{notes}"

    async def open_it() -> str:
        try:
            await SqlEventStore.open(url)
        except Exception as exc:  # the message is what is checked
            return str(exc)
        return "opened"

    said = asyncio.run(open_it())
    assert said == (
        f"cannot open database {url}: {notes} is not a SQLite database; "
        "use --db with a database file or a new path"
    )
    assert notes.read_bytes() == b"SQLite"
