"""An attempt's commit never holds a symlink leading out of the repository.

``.gitignore`` lists ``data/``; the task names ``data`` as its files, so the attempt's
commit stages the folder with ``--force`` (a task's files ship even where ignored), and
with it ``data/creds -> ~/.aws/credentials``. The secrets gate judged only the links git
tracks or sees untracked-and-not-ignored, and skips ``node_modules/`` and ``.venv/`` even
then: such a link reached the task's commit and could ship. The commit itself now refuses
it, judged on the link's text as staged, and the retry hears why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from repo_helpers import git, make_repo
from test_pipeline import ContentGate, FakeEngineer, FakePlanner, blueprint, run_factory

from engine.blueprint import Task
from engine.events import Outcome
from engine.protocols import EngineerJob
from engine.staged_links import LinkLeadsOut, climbs_out
from engine.workspace import GitWorkspaces


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    creds = tmp_path / "home" / ".aws" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text("aws_secret_access_key = top-secret\n")
    return creds


async def started(tmp_path: Path) -> tuple[GitWorkspaces, Path]:
    files = {".gitignore": "data/\nnode_modules/\n", "app.py": "X = 0\n"}
    repo = make_repo(tmp_path / "repo", files)
    ws = GitWorkspaces(repo, "r-links", tmp_path / "worktrees")
    await ws.start()
    return ws, await ws.add_worktree("t1-a1", ws.integration_tip())


async def test_an_ignored_named_folder_with_a_link_out_is_not_committed(
    tmp_path: Path, credentials: Path
) -> None:
    ws, wt = await started(tmp_path)
    base = git(wt, "rev-parse", "HEAD")
    (wt / "data").mkdir()
    (wt / "data" / "creds").symlink_to(credentials)
    (wt / "data" / "rows.csv").write_text("a,b\n")
    (wt / "app.py").write_text("X = 1\n")
    with pytest.raises(LinkLeadsOut) as raised:
        await ws.commit_all(wt, "the attempt", keep=["app.py", "data", "data/creds"])
    reason = str(raised.value)
    assert "\n" not in reason and "data/creds" in reason and str(credentials) not in reason
    assert git(wt, "rev-parse", "HEAD") == base  # nothing committed
    assert git(wt, "diff", "--cached", "--name-only") == ""  # nor left staged


@pytest.mark.parametrize(
    ("rel", "target"),
    [
        ("node_modules/pkg/config.json", "../../../../home/.aws/credentials"),  # ignored, named
        (".venv/bin/python", "/usr/bin/python3"),  # not ignored: staged by `git add -A`
        ("lib/dotenv", "../../.env"),  # the .env beside the checkout
    ],
)
async def test_a_link_out_is_refused_however_it_is_staged(
    tmp_path: Path, rel: str, target: str
) -> None:
    ws, wt = await started(tmp_path)
    link = wt / rel
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    with pytest.raises(LinkLeadsOut, match=rel.replace(".", r"\.")):
        await ws.commit_all(wt, "the attempt", keep=["node_modules"])


async def test_links_staying_inside_and_the_users_own_links_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "X = 0\n"})
    os.symlink("/etc/hostname", repo / "host")  # the user's own link, already in the history
    git(repo, "add", "host")
    git(repo, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-m", "user's link")
    ws = GitWorkspaces(repo, "r-links", tmp_path / "worktrees")
    await ws.start()
    wt = await ws.add_worktree("t1-a1", ws.integration_tip())
    (wt / "pkg").mkdir()
    (wt / "pkg" / "alias.py").symlink_to("../app.py")
    (wt / "pkg" / "top").symlink_to("..", target_is_directory=True)
    (wt / "app.py").write_text("X = 2\n")
    assert await ws.commit_all(wt, "links inside, beside the user's") is not None
    assert git(wt, "ls-files", "-s", "pkg/alias.py").startswith("120000")


def test_climbing_is_read_from_the_link_s_own_folder() -> None:
    assert climbs_out("a", "/abs")
    assert climbs_out("a", "../x")
    assert climbs_out("d/a", "../../x")
    assert climbs_out("d/a", "./e/../../../x")
    assert not climbs_out("d/a", "../x")
    assert not climbs_out("d/e/a", "../../x/./y")


async def test_the_retry_is_told_and_the_branch_never_has_the_link(
    tmp_path: Path, credentials: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "data/\n", "value.txt": "bad\n"})

    def links_then_fixes(job: EngineerJob) -> dict[str, str]:
        if job.attempt == 1:
            (job.workspace / "data").mkdir()
            (job.workspace / "data" / "creds").symlink_to(credentials)
        return {"value.txt": "good\n", "data/rows.csv": "a,b\n"}

    engineer = FakeEngineer({"value": links_then_fixes})
    task = Task(id="value", title="Set the value", files=["value.txt", "data"])
    run = await run_factory(
        repo,
        tmp_path / "worktrees",
        FakePlanner(blueprint(task)),
        engineer,
        task_gates=(ContentGate("tests", "value.txt", "good"),),
    )

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    _first, second = engineer.attempts("value")
    assert second.failure_context.startswith(
        "not committed: the attempt's symlinks lead outside the repository: data/creds."
    )
    shipped = git(repo, "ls-tree", "-r", "--name-only", run.state.branch)
    assert "data/rows.csv" in shipped and "data/creds" not in shipped
