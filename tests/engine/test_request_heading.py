"""A request file that starts with a Markdown heading: the heading is the run's title and
alone names the shipped branch.

Before, ``# Add unique_slugify`` then the longer text showed as "# Add …" in ``runs`` and
the started line, and the branch's slug ran heading and body together
("add-unique-slugify-add-unique-sl"). The name is now fixed when the run starts and recorded
in its RunStarted; a run whose log predates that resumes onto its integration branch and
ships under the name it had then.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from repo_helpers import git
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, FakeEngineer

from engine.bus import EventBus
from engine.event_codec import event_from_dict
from engine.events import EventBase, Merged, Outcome, RunStarted
from engine.request_title import branch_slug, request_title, slugify, split_request
from engine.state import RunState

HEADED = "# Add unique_slugify\n\nAdd unique_slugify(text, taken) to the slug module: it\n"
"""A request file as people write them: a heading, then the longer text."""
NEW_NAME = f"shopfloor/add-unique-slugify-{RUN_ID[:8]}"
OLD_NAME = f"shopfloor/add-unique-slugify-add-unique-sl-{RUN_ID[:8]}"
"""The name a run got before the heading was read: the whole request slugged."""


@pytest.mark.parametrize(
    ("request_text", "title", "slug"),
    [
        (HEADED, "Add unique_slugify", "add-unique-slugify"),
        ("## Add X ##\nmore", "Add X", "add-x"),
        ("\n\n  # Spaced heading\n", "Spaced heading", "spaced-heading"),
        ("Add unique_slugify\n==========\n\nbody", "Add unique_slugify", "add-unique-slugify"),
        ("Build a greeting CLI", "Build a greeting CLI", "build-a-greeting-cli"),
        ("Build X\nwith Y", "Build X", "build-x-with-y"),  # no heading: slugged whole
        ("#hashtag is not a heading", "#hashtag is not a heading", "hashtag-is-not-a-heading"),
        ("#\nbody", "#", "body"),  # an empty heading titles nothing
        ("", "", "run"),
    ],
)
def test_title_and_slug(request_text: str, title: str, slug: str) -> None:
    assert request_title(request_text) == title
    assert branch_slug(request_text) == slug


def test_the_rest_is_what_follows_the_heading() -> None:
    assert split_request(HEADED) == (
        "Add unique_slugify",
        "Add unique_slugify(text, taken) to the slug module: it",
        True,
    )
    assert split_request("One line") == ("One line", "", False)
    assert slugify(HEADED) + f"-{RUN_ID[:8]}" == OLD_NAME.removeprefix("shopfloor/")


class PullRequests:
    """A publisher that keeps what it was asked to open."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str]] = []

    async def publish(self, branch: str, base: str, title: str, body: str) -> str:
        self.opened.append((branch, title))
        return f"https://example.invalid/pull/{len(self.opened)}"


async def test_a_headed_request_ships_on_a_branch_named_after_its_heading(
    user_repo: Path, worktree_root: Path
) -> None:
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    prs = PullRequests()
    final = await asyncio.wait_for(
        make_factory(user_repo, worktree_root, bus, request=HEADED, publisher=prs).run(), 60
    )
    assert final.outcome is Outcome.SHIPPED, final.reason
    (started,) = [e for e in events if isinstance(e, RunStarted)]
    assert started.ship_branch == NEW_NAME
    assert final.branch == NEW_NAME
    assert git(user_repo, "branch", "--list", NEW_NAME).strip()
    assert prs.opened == [(NEW_NAME, "Add unique_slugify")]  # the pull request's title too


async def test_a_run_started_under_the_old_naming_resumes_onto_its_recorded_branch(
    user_repo: Path, worktree_root: Path
) -> None:
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    engineer = FakeEngineer(dict(SCRIPTS), delays={"cli": 30})
    task = asyncio.create_task(
        make_factory(user_repo, worktree_root, bus, request=HEADED, engineer=engineer).run()
    )
    while "core" not in bus.state.merged or not engineer.attempts("cli"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # The log as a process before this change wrote it: its RunStarted has no ship_branch.
    old = events[0].model_dump(mode="json")
    del old["ship_branch"]
    events[0] = event_from_dict(old)
    state = RunState.fold(events)
    assert state.ship_branch == "" and state.integration_branch == f"shopfloor/wip/{RUN_ID}"
    core_at = state.tasks["core"].merged_commit

    bus = EventBus(RUN_ID, state=state)
    later: list[EventBase] = []
    bus.listen(later.append)
    final = await asyncio.wait_for(
        make_factory(user_repo, worktree_root, bus, request=HEADED).run(), 60
    )
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert final.branch == OLD_NAME  # as it was named when it started, not NEW_NAME
    assert git(user_repo, "branch", "--list", NEW_NAME) == ""
    # Onto the integration branch it recorded: core, merged before the kill, is not redone.
    assert [e.task_id for e in later if isinstance(e, Merged)] == ["cli"]
    assert git(user_repo, "merge-base", "--is-ancestor", str(core_at), OLD_NAME) == ""
