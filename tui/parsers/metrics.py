"""``shopfloor serve-metrics``'s command line."""

from __future__ import annotations

import argparse

from tui.argtypes import port_number, positive_float
from tui.parsers import Handler

DEFAULT_PORT = 9464


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve-metrics", help="serve Prometheus metrics of the runs recorded in a database"
    )
    p.add_argument("--db", help="database URL (default: $SHOPFLOOR_DB or the data directory)")
    p.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--runs", type=int, default=1000, help="fold at most this many recent runs (default 1000)"
    )
    p.add_argument(
        "--poll",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="look for new events this often (default 2)",
    )
    p.set_defaults(handler=Handler("metrics", "cmd_serve_metrics"))
