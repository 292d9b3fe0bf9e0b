"""``shopfloor abandon`` finishes the run's trace, as a resume that ended the run would.

Before, abandon had no tracer: a run killed and abandoned kept a trace with no root, and the
spans the killed process had open (its stage, the task and attempt under way) were never
written, so what it had finished under them hung under missing parents.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import telemetry_sample
from demo_process import ROOT
from test_resumed_run_trace import first_process, received
from test_run_tracing import receiver
from trace_tree import Node, children, from_file, one_tree

from engine.bus import EventBus
from engine.events import EventBase, Outcome
from engine.redaction import Redactor
from engine.state import RunState
from storage.store import SqlEventStore
from telemetry.span_export import make_tracer_provider
from telemetry.tracing import RunTracer
from tui.cli import main

__all__ = ["receiver"]  # the loopback OTLP/HTTP receiver fixture

RUN = telemetry_sample.RUN_ID


@pytest.fixture(autouse=True)
def no_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTLP endpoint from the environment, worktrees under the test's folder."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)


def killed_run(db: Path, environ: dict[str, str], trace_file: Path | None = None) -> int:
    """A run killed mid-build (``a`` merged, ``b``'s first attempt under way) whose process
    traced to ``trace_file`` or the collector ``environ`` names; its log in ``db``. How many
    spans it wrote (the ones it had ended; the open ones die with it)."""
    provider = make_tracer_provider(trace_file, environ)
    assert provider is not None
    tracer = RunTracer(provider, redactor=Redactor(()))
    bus = EventBus(RUN)
    stored: list[EventBase] = []
    bus.listen(stored.append)
    bus.listen(tracer.observe)
    first_process(bus)
    provider.shutdown()  # what was exported; the spans still open are never ended

    async def store_it() -> None:
        async with await SqlEventStore.open(str(db), redactor=Redactor(())) as store:
            await store.append(stored)

    asyncio.run(store_it())
    return len(from_file(trace_file)) if trace_file is not None else len(received())


def stored_state(db: Path) -> RunState:
    async def read() -> RunState:
        async with await SqlEventStore.open(str(db)) as store:
            return RunState.fold(await store.read(RUN))

    return asyncio.run(read())


def assert_abandoned_tree(nodes: list[Node], written_before: int) -> None:
    """One tree under the root the abandon wrote, failed and saying why; the killed
    process's open spans written, interrupted, under it."""
    root = one_tree(nodes)
    assert root.name == "run create"
    assert root.attributes["shopfloor.outcome"] == "failed"
    assert root.attributes["shopfloor.reason"] == "abandoned: wrong idea"
    (top,) = [n for n in nodes if n.attributes.get("shopfloor.abandoned")]
    assert top.name == "abandon create" and top.parent_id == root.span_id
    assert not any(n.attributes.get("shopfloor.resumed") for n in nodes)
    assert "stage build" in children(nodes, root)
    # The spans the killed process left open are ended by the abandon's ending, each once:
    # before, each was written interrupted and the ending wrote a second ``task b``.
    names = [n.name for n in nodes]
    for name in ("stage build", "task b", "attempt b#1"):
        assert names.count(name) == 1, name
    assert not any(n.attributes.get("shopfloor.interrupted") for n in nodes[written_before:])
    (task_b,) = [n for n in nodes if n.name == "task b"]
    (stage,) = [n for n in nodes if n.name == "stage build"]
    assert task_b.parent_id == stage.span_id
    assert task_b.attributes["shopfloor.task.state"] == "failed"


def test_a_killed_run_abandoned_into_its_trace_file_is_one_tree_under_one_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, spans_file = tmp_path / "runs.db", tmp_path / "trace.jsonl"
    killed_run(db, {}, spans_file)
    # The kill came after the log took b's failed gate and before the file did.
    lines = spans_file.read_text().splitlines()
    assert json.loads(lines[-1])["name"] == "gate tests"
    spans_file.write_text("\n".join(lines[:-1]) + "\n")
    before = from_file(spans_file)
    assert [n for n in before if n.parent_id is None] == []  # no root yet
    with pytest.raises(AssertionError, match="parent is missing"):
        one_tree(before)

    trace_file = ["--trace-file", str(spans_file)]
    code = main(["abandon", RUN, "--db", str(db), *trace_file, "--reason", "wrong idea"])
    assert code == 0, capsys.readouterr().err
    assert "abandoned: it will not be resumed" in capsys.readouterr().out

    nodes = from_file(spans_file)
    assert_abandoned_tree(nodes, len(before))
    (attempt,) = [n for n in nodes if n.name == "attempt b#1"]
    gates = [n for n in nodes if n.parent_id == attempt.span_id and n.name == "gate tests"]
    assert len(gates) == 1  # the one the kill lost, written by the abandon
    assert stored_state(db).outcome is Outcome.FAILED


def test_a_killed_run_abandoned_is_one_tree_at_the_collector(
    receiver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tracing configured by the environment alone, as a unit's OTEL_EXPORTER_OTLP_ENDPOINT."""
    db = tmp_path / "runs.db"
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)  # the exporter reads it here
    written = killed_run(db, {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver})
    assert written and "run create" not in {n.name for n in received()}
    assert main(["abandon", RUN, "--db", str(db), "--reason", "wrong idea"]) == 0
    nodes = received()  # flushed before the command returned
    assert_abandoned_tree(nodes, written)
    assert {"stage blueprint", "task a"} <= {n.name for n in nodes[:written]}  # the killed one's


@pytest.mark.parametrize("content", [True, False])
def test_abandon_puts_the_request_on_the_root_with_otel_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bool
) -> None:
    """``--otel-content`` as run's and resume's: the root the abandon writes carries the
    run's request (before, abandon refused the option: "unrecognized arguments")."""
    db, spans_file = tmp_path / "runs.db", tmp_path / "trace.jsonl"
    killed_run(db, {}, spans_file)
    flag = ["--otel-content"] if content else []
    assert main(["abandon", RUN, "--db", str(db), "--trace-file", str(spans_file), *flag]) == 0
    root = one_tree(from_file(spans_file))
    assert root.attributes.get("shopfloor.request") == ("build two things" if content else None)


def test_a_trace_file_that_cannot_be_written_is_refused_before_the_run_is_abandoned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    killed_run(db, {}, tmp_path / "trace.jsonl")
    capsys.readouterr()
    nowhere = tmp_path / "no-such-folder" / "trace.jsonl"
    assert main(["abandon", RUN, "--db", str(db), "--trace-file", str(nowhere)]) == 2
    err = capsys.readouterr().err
    assert err == f"shopfloor: cannot write trace file {nowhere}: No such file or directory\n"
    assert stored_state(db).outcome is Outcome.RUNNING  # still there to resume or abandon


def test_abandon_without_tracing_loads_no_opentelemetry(tmp_path: Path) -> None:
    """Nothing configured, nothing paid: the SDK (some 40 ms to import) stays unloaded."""
    db = tmp_path / "runs.db"
    killed_run(db, {}, tmp_path / "trace.jsonl")
    script = (
        "import sys\nfrom tui.cli import main\n"
        f"code = main(['abandon', {RUN!r}, '--db', {str(db)!r}])\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'opentelemetry'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "0 []"
    assert stored_state(db).outcome is Outcome.FAILED
