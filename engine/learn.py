"""The learn stage: what a run taught, recorded as LearningRecorded events for later runs.

What to learn is decided by the pure :func:`engine.stages.learnings` on the folded state
(retried tasks, tripped breakers, human decisions); an audit adds its own findings
(:func:`engine.audit_report.audit_learnings`). This module only emits them, each once: a resumed run
does not record again what its log holds already.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.bus import EventBus
from engine.events import LearningRecorded, Stage, StageChanged
from engine.stages import learnings

__all__ = ["record_learnings"]


def record_learnings(bus: EventBus, extra: Sequence[tuple[str, str, str, list[str]]] = ()) -> None:
    """Record what this run taught: retried tasks, tripped breakers, human decisions."""
    bus.emit(StageChanged(stage=Stage.LEARN))
    known = {lr.source for lr in bus.state.learnings}
    found = [*learnings(bus.state), *(x for x in extra if x[2] not in known)]
    for kind, text, source, tags in found:
        bus.emit(
            LearningRecorded(
                learning_id=f"{bus.run_id}-L{len(bus.state.learnings) + 1}",
                kind=kind,
                text=text,
                source=source,
                tags=tags,
            )
        )
