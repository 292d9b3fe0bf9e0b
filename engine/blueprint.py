"""The planner's blueprint: a spec, acceptance criteria and a DAG of tasks.

These are plain data. Whether a blueprint is *buildable* (no cycles, no unknown
dependencies, paths inside the repo) is :mod:`engine.dag`'s job.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """One unit of work an engineer agent does in its own worktree."""

    # Built on first use, as the events that carry it are (engine.events.EventBase).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=1)
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    test_plan: str = ""
    removes: list[str] = Field(default_factory=list)
    """Files or folders the request asks this task to delete or empty (a deprecated module,
    unused helpers): the shrinkage gate does not count the lines they lose. Whatever else the
    task deletes still counts."""


class Blueprint(BaseModel):
    """What the planner proposes and the build executes."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    spec: str
    acceptance_criteria: list[str] = Field(default_factory=list)
    tasks: list[Task] = Field(min_length=1)

    def task(self, task_id: str) -> Task:
        """The task with this id (KeyError if absent)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)
