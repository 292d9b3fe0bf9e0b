"""Durable storage of shopfloor runs: the append-only event log and its projections.

SQLAlchemy 2 async over SQLite (the embedded default) or PostgreSQL. The engine sees only its
``EventStore`` protocol; the composition root opens a :class:`SqlEventStore` on the URL from
:func:`default_db_url` and runs a :class:`StorageWriter` on a bus subscription.
"""

from storage.errors import AmbiguousRunId, RunNotFound, StorageError
from storage.paths import data_home, default_db_url, normalize_db_url
from storage.store import RunRecord, SqlEventStore
from storage.writer import StorageWriter

__all__ = [
    "AmbiguousRunId",
    "RunNotFound",
    "RunRecord",
    "SqlEventStore",
    "StorageError",
    "StorageWriter",
    "data_home",
    "default_db_url",
    "normalize_db_url",
]
