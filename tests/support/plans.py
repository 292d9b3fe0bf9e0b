"""Blueprints the tests share (on pytest's ``pythonpath``, so every test folder imports them)."""

from __future__ import annotations

from engine.blueprint import Blueprint, Task

TWO_TASKS = Blueprint(
    spec="A greeting CLI",
    acceptance_criteria=["prints hello"],
    tasks=[
        Task(id="core", title="Greeting function", files=["greet.py"]),
        Task(id="cli", title="Command line", depends_on=["core"], files=["cli.py"]),
    ],
)
"""Two tasks, the second depending on the first."""
