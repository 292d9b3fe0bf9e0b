"""The shape of a run's trace, whoever wrote its spans: one root, no span whose parent is
missing, no span id written twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan


@dataclass(frozen=True)
class Node:
    span_id: int
    parent_id: int | None
    trace_id: int
    name: str
    attributes: Mapping[str, Any]
    start: int


def from_sdk(spans: Iterable[ReadableSpan]) -> list[Node]:
    return [
        Node(
            s.context.span_id,
            s.parent.span_id if s.parent is not None else None,
            s.context.trace_id,
            s.name,
            dict(s.attributes or {}),
            s.start_time or 0,
        )
        for s in spans
    ]


def from_file(path: Path) -> list[Node]:
    """The spans of a ``--trace-file`` (JSON lines)."""
    spans = [json.loads(line) for line in path.read_text().splitlines()]
    return [
        Node(
            int(s["context"]["span_id"], 16),
            int(s["parent_id"], 16) if s["parent_id"] else None,
            int(s["context"]["trace_id"], 16),
            s["name"],
            s["attributes"],
            0,
        )
        for s in spans
    ]


def from_otlp(spans: Iterable[Any]) -> list[Node]:
    """Spans as an OTLP/HTTP receiver got them (protobuf)."""
    return [
        Node(
            int.from_bytes(s.span_id, "big"),
            int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else None,
            int.from_bytes(s.trace_id, "big"),
            s.name,
            {a.key: _value(a.value) for a in s.attributes},
            s.start_time_unix_nano,
        )
        for s in spans
    ]


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


def one_tree(nodes: list[Node]) -> Node:
    """The root of ``nodes`` when they are one complete tree in one trace: exactly one root,
    every other span's parent among them, each span id once. Fails saying what is wrong."""
    counts = Counter(n.span_id for n in nodes)
    assert [i for i, c in counts.items() if c > 1] == [], "a span id written twice"
    ids = set(counts)
    missing = [n.name for n in nodes if n.parent_id is not None and n.parent_id not in ids]
    assert missing == [], f"spans whose parent is missing: {missing}"
    roots = [n for n in nodes if n.parent_id is None]
    assert len(roots) == 1, f"roots: {[r.name for r in roots]}"
    assert len({n.trace_id for n in nodes}) == 1, "one run, one trace"
    return roots[0]


def children(nodes: list[Node], parent: Node) -> list[str]:
    return sorted(n.name for n in nodes if n.parent_id == parent.span_id)
