"""The ship stage: the verified commit becomes the run's branch, the integration branch goes,
and a pull request is opened when a publisher is configured (:mod:`engine.github`).

A stage of :class:`~engine.pipeline.Factory`'s loop kept out of the loop object: it takes
what it needs and emits its notices. A branch of the run's name held by someone else stays;
the run ships beside it. A refused pull request does not unship: the branch is local either
way.
"""

from __future__ import annotations

from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import AgentOutput, Stage, StageChanged
from engine.github import Publisher
from engine.request_title import branch_slug, slugify, split_request
from engine.stages import one_line
from engine.workspace import GitWorkspaces
from engine.workspace_errors import release_hint

__all__ = ["branch_name", "publish", "ship"]


def branch_name(config: EngineConfig, request: str, run_id: str) -> str:
    """The branch a new run ships as, recorded in its RunStarted: named after the request's
    leading Markdown heading when it has one (:func:`~engine.request_title.branch_slug`)."""
    return f"{config.branch_prefix}{branch_slug(request)}-{run_id[:8]}"


async def ship(
    *,
    bus: EventBus,
    workspaces: GitWorkspaces,
    config: EngineConfig,
    request: str,
    publisher: Publisher | None,
    commit: str,
) -> str:
    """Ship ``commit`` as the run's branch; returns the branch's name."""
    bus.emit(StageChanged(stage=Stage.SHIP))
    ws = workspaces
    # The request was cleaned of secrets (Factory.__post_init__): a key pasted into it would
    # otherwise name a branch (and title a pull request) for good. The name was fixed when
    # the run started; a run whose log does not record it is named as runs were then, after
    # the whole request, so a resume ships it as it would have before.
    name = bus.state.ship_branch or f"{config.branch_prefix}{slugify(request)}-{bus.run_id[:8]}"
    await bus.durable()  # what we ship from is in the log before the branch exists
    # A branch of that name at another commit is someone else's (the user made it from
    # the work in progress while the run was stopped, say): it stays, and the run ships
    # beside it. One at ``commit`` is this run's: a resumed run may have shipped already.
    branch, number = name, 1
    while (tip := ws.branch_tip(branch)) is not None and tip != commit:
        number += 1
        branch = f"{name}-{number}"
    if tip is None:
        await ws.ship(branch, commit)
    if branch != name:
        text = f"branch {name} exists already (not this run's): shipped as {branch}"
        bus.emit(AgentOutput(agent_id="ship", kind="notice", text=text))  # without -v
    checkout = await ws.delete_integration_branch()
    if checkout is not None:  # deleted under that checkout, it would be on no branch
        text = (
            f"{ws.integration_branch} is checked out in {checkout}, so it stays (at the "
            f"shipped commit); {release_hint(checkout)}, then "
            f"`git -C {ws.path} branch -D {ws.integration_branch}` deletes it"
        )
        bus.emit(AgentOutput(agent_id="ship", kind="notice", text=text))
    await publish(
        bus=bus,
        workspaces=ws,
        request=request,
        publisher=publisher,
        branch=branch,
        commit=commit,
    )
    return branch


async def publish(
    *,
    bus: EventBus,
    workspaces: GitWorkspaces,
    request: str,
    publisher: Publisher | None,
    branch: str,
    commit: str,
) -> None:
    """Push the shipped branch and open a pull request; a refusal does not unship."""
    if publisher is None:
        return
    base = bus.state.base_commit or workspaces.base_commit
    tasks = workspaces.commits_since_base(commit, base)
    body = "One commit per task:\n\n" + "\n".join(f"- {t}" for t in tasks)
    heading, _, headed = split_request(request)  # a request file's "# Title" titles it
    title = one_line(heading if headed else request)[:120] or branch
    try:
        url = await publisher.publish(branch, workspaces.base_branch, title, body)
    except Exception as exc:  # the branch is shipped locally either way
        text = f"pull request not opened: {one_line(str(exc))}"
        bus.emit(AgentOutput(agent_id="publisher", kind="error", text=text))
        return
    bus.emit(AgentOutput(agent_id="publisher", kind="result", text=f"pull request: {url}"))
