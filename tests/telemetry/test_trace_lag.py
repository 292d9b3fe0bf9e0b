"""The spans a killed process's tracer had not written yet: the resume writes them.

The live tracer traces an event once the run's log holds it, so a SIGKILL can fall after
the log took an event and before the tracer wrote the spans it ended. The resume used to
write only the spans open at the end of the log, so those were never written, and their
children, written before, hung under a missing parent: a clean-clone CI saw four
``invoke_agent reviewer`` spans without their ``stage review`` after a demo was killed
mid-build. With the same ``--trace-file``, the resume now reads which spans the file holds
and writes the ones the log ended that it lacks, as the log ended them.
"""

from __future__ import annotations

import json
from pathlib import Path

import telemetry_sample
from test_resumed_run_trace import as_stored, first_process, second_process
from trace_tree import Node, from_file, one_tree

from engine.bus import EventBus
from engine.events import EventBase, Stage, StageChanged
from engine.redaction import Redactor
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry
from telemetry.span_export import make_tracer_provider
from telemetry.tracing import RunTracer


def killed_lagging(spans_file: Path, stored: list[EventBase], traced: int) -> None:
    """A process whose log holds ``stored`` and whose tracer had traced the first
    ``traced`` of them when it was killed (nothing ended after; its file closed as is)."""
    provider = make_tracer_provider(spans_file, environ={})
    assert provider is not None
    killed = RunTracer(provider, redactor=Redactor(()))
    for event in stored[:traced]:
        killed.observe(event)
    provider.shutdown()  # ends nothing: what was open stays unwritten, as in a kill


async def resume(spans_file: Path, stored: list[EventBase], tmp_path: Path) -> None:
    second = RunTelemetry(
        TelemetryOptions(trace_file=spans_file), environ={}, redactor=Redactor(())
    )
    bus = EventBus(telemetry_sample.RUN_ID, state=await as_stored(stored, tmp_path))
    second.attach(bus, stored)
    second_process(bus)
    await bus.close()
    await second.close()


def logged() -> tuple[list[EventBase], int]:
    """The first process's events, and the index of the one that moved it to build."""
    stored: list[EventBase] = []
    bus = EventBus(telemetry_sample.RUN_ID)
    bus.listen(stored.append)
    first_process(bus)
    (to_build,) = [
        i for i, e in enumerate(stored) if isinstance(e, StageChanged) and e.stage is Stage.BUILD
    ]
    return stored, to_build


def named(nodes: list[Node], name: str) -> list[Node]:
    return [n for n in nodes if n.name == name]


async def test_spans_ended_in_the_log_but_not_yet_traced_are_written_by_the_resume(
    tmp_path: Path,
) -> None:
    """Killed with the log past the move to build and the tracer before it: the planner's
    span was written, its stage's end was not. The resume writes ``stage blueprint`` as the
    log ended it (not interrupted), and the first task's spans the log ended; one tree."""
    spans_file = tmp_path / "trace.jsonl"
    stored, to_build = logged()
    killed_lagging(spans_file, stored, to_build)
    before = from_file(spans_file)
    assert named(before, "invoke_agent planner") and not named(before, "stage blueprint")

    await resume(spans_file, stored, tmp_path)

    nodes = from_file(spans_file)
    root = one_tree(nodes)  # before: the planner's parent was missing
    (blueprint,) = named(nodes, "stage blueprint")
    (planner,) = named(nodes, "invoke_agent planner")
    assert planner.parent_id == blueprint.span_id and blueprint.parent_id == root.span_id
    assert "shopfloor.interrupted" not in blueprint.attributes  # ended by the log, not cut
    (task_a,) = named(nodes, "task a")
    assert "shopfloor.interrupted" not in task_a.attributes
    cut = sorted(n.name for n in nodes if n.attributes.get("shopfloor.interrupted"))
    assert cut == ["attempt b#1", "stage build", "task b"]  # open at the end of the log


async def test_a_span_line_cut_short_by_the_kill_is_written_again_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    """The kill fell while the file's last span was being written: that line is cut. The
    resume does not count it as written, writes the span whole, and starts its own lines on
    a new line (before, its first span was glued to the cut one)."""
    spans_file = tmp_path / "trace.jsonl"
    stored, to_build = logged()
    killed_lagging(spans_file, stored, to_build)
    lines = spans_file.read_text().splitlines()
    cut = json.loads(lines[-1])["name"]
    spans_file.write_text("\n".join([*lines[:-1], lines[-1][:40]]))  # no newline at the end

    await resume(spans_file, stored, tmp_path)

    readable, broken = [], []
    for line in spans_file.read_text().splitlines():
        try:
            readable.append(json.loads(line))
        except json.JSONDecodeError:
            broken.append(line)
    assert broken == [lines[-1][:40]]
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(json.dumps(span) + "\n" for span in readable))
    nodes = from_file(whole)
    one_tree(nodes)
    assert len(named(nodes, cut)) == 1
