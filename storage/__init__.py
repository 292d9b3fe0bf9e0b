"""Durable storage of shopfloor runs: the append-only event log and its projections.

SQLAlchemy 2 async over SQLite (the embedded default) or PostgreSQL. The engine sees only its
``EventStore`` protocol; the composition root opens a :class:`SqlEventStore` on the URL from
:func:`default_db_url` and runs a :class:`StorageWriter` on a bus subscription.
"""
