"""What is checked and said about a run before it starts.

A missing repository, or a resumed run whose budget is still crossed, is refused at once in
one line (:func:`refuse_unusable`). The rest are warnings: a request worded "Audit X" on a
run that is not an audit, uncommitted files the run leaves out, a rebase stopped half-way, a
HEAD that moved on since a resumed run started, the repository's own shopfloor.toml that is
not read, the interpreter the gates run the tests on: each is a line the composition root
(tui/compose.py) prints before the run, keeps in the run's log and shows inside the TUI; none
refuses the run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from engine.request_title import request_title
from engine.spend import still_crossed
from engine.workspace import GitWorkspaces
from gates.interpreter import ProjectPython
from gates.repo_shape import is_python_repo
from storage.paths import db_option
from tui.budget_flags import resume_command
from tui.repo_folder import repo_problem
from tui.run_plan import RunPlan, SetupError
from tui.uncommitted import in_progress_warning, uncommitted_warning


def refuse_unusable(plan: RunPlan) -> None:
    """SetupError when the run cannot start: its repository is missing, or a resumed run's
    budget is still crossed (it would only stop again). Said before anything else."""
    settings = plan.settings
    problem = repo_problem(plan.repo)  # said before the factory loads, for most runs
    if problem is not None:
        if plan.resume is not None and not plan.repo.exists():
            # Its worktrees and branches are recorded with that path: it was moved.
            raise SetupError(
                f"repository not found: {plan.repo}, where run {plan.resume.run_id} works "
                "(moved or deleted?): put it back at that path and resume again"
            )
        raise SetupError(problem)
    if plan.resume is not None:  # said first: it would only ask again, or stop again
        crossed = still_crossed(plan.resume, settings.engine, plan.budget, plan.answers)
        if crossed is not None:
            run = plan.resume.run_id
            raise SetupError(
                f"run {run} is {crossed.text}; resumed as it is, it would stop again at "
                f"once: raise it, e.g. `{resume_command(run, crossed, db=db_option(plan.db_url))}`"
            )


def python_notes(repo: Path, python: ProjectPython) -> list[str]:
    """What to say about the interpreter the gates use, for a Python repository: the line
    naming it, then the warnings (shopfloor's own Python, pytest missing from the project's
    or compiled again every run); nothing for a repository without Python, whose gates run
    none."""
    if not is_python_repo(repo):
        return []
    notes = [f"python for the tests and mypy: {python.describe()}"]
    said = (python.warning, python.pytest_missing(), python.compile_advice())
    return [*notes, *(w for w in said if w)]


def unread_config(plan: RunPlan) -> str | None:
    """The warning that the repository's own shopfloor.toml is not read, when it has one and
    a new run reads no config file (None otherwise).

    ``shopfloor init`` writes REPO/shopfloor.toml, and a run that quietly ignored it would
    run on the defaults the user had edited away. It is still not read unasked: the file
    names agent commands and provider URLs, and a cloned repository's file would then choose
    where the user's keys are sent.
    """
    found = plan.repo / "shopfloor.toml"
    if plan.resume is not None or plan.settings.source is not None or not found.is_file():
        return None
    return f"{found} is not read: `--config {shlex.quote(str(found))}` runs with it"


AUDIT_REQUEST = re.compile(r"\s*audit\b(?!\s+(?:log|logs|logging|trail|trails)\b)", re.I)
"""A request worded as an audit ("Audit X"), not one about an audit log."""


def audit_request(plan: RunPlan, mode: str) -> str | None:
    """The warning that a request worded "Audit X" runs as a build: the mode comes from
    ``--mode``, the playbook or the repository (update on one with code), never from the
    request's words, so without ``--mode audit`` it plans changes and ships them."""
    if plan.resume is not None or plan.mode is not None or mode == "audit":
        return None
    if not AUDIT_REQUEST.match(request_title(plan.request)):  # '# Audit X' too
        return None
    return (
        f'the request starts with "Audit", but this run is no audit ({mode} mode): it plans '
        "changes and ships them on a branch; `--mode audit` reports and changes nothing"
    )


def uncommitted(plan: RunPlan, workspaces: GitWorkspaces, mode: str) -> str | None:
    """The warning about uncommitted files the run leaves out, or None (see tui.uncommitted)."""
    if plan.resume is not None:
        base: str | None = plan.resume.base_commit or None
    else:
        base = None if workspaces.unborn else workspaces.base_commit
    return uncommitted_warning(
        workspaces.path, base, resumed=plan.resume is not None, audit=mode == "audit"
    )


def in_progress(plan: RunPlan, workspaces: GitWorkspaces, mode: str) -> str | None:
    """A new run on a checkout where a rebase, merge or the like stopped half-way: what it
    builds from is HEAD as that left it (see tui.uncommitted). A resume builds on from where
    it started, whatever the checkout does since."""
    if plan.resume is not None:
        return None
    head = None if workspaces.unborn else workspaces.base_commit
    return in_progress_warning(workspaces.path, head, audit=mode == "audit")


def moved_on(plan: RunPlan, workspaces: GitWorkspaces) -> str | None:
    """On resume: the user's HEAD is no longer the commit the run started from (they
    committed, pulled or switched branches meanwhile). The run goes on from where it started,
    so the shipped branch holds none of that; said, not refused."""
    started = plan.resume.base_commit if plan.resume is not None else ""
    if not started or workspaces.unborn:
        return None
    head = workspaces.base_commit
    if head == started:
        return None
    return (
        f"your HEAD in {workspaces.path} is now {head[:7]}, not {started[:7]} where this run "
        f"started: the run goes on from {started[:7]}, and its branch will not hold what "
        "came since (rebase the shipped branch, or start a new run)"
    )
