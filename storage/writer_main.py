"""``python -m storage.writer_main PARENT_PID``: the storage writer process, as a run starts it.

:mod:`storage.process_writer` is the writer; this loads it with the cyclic collector off
(:func:`engine.heap.loading`). Its imports — SQLAlchemy, the event models — made ~150
collections, each walking what had loaded so far: 0.66 s of CPU to import it, 0.57 s
without them, on the 2-core machine, all of it before the child can say ``ready``.
"""

from __future__ import annotations

import sys

from engine.heap import loading


def run() -> int:
    """Load the writer without collections, then run it on this process's arguments."""
    with loading(freeze=True):  # the whole process
        from storage.process_writer import main
    return main()


if __name__ == "__main__":
    sys.exit(run())
