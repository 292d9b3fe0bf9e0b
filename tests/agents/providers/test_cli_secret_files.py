"""A ``cli:`` coding agent reads the worktree's secret files masked, where the fence stands.

Claude Code, Codex, Gemini CLI and Aider read the worktree themselves: a tracked ``.env``
reached their model as it was, whatever the factory's own context selection masked. Under
bubblewrap a masked copy is bound read-only over each tracked secret file: the agent reads
``DB_PASSWORD=[REDACTED]``, its writes to the file fail, git in the jail passes over it, and
the attempt's commit keeps the real file. Without bubblewrap the log says they go unmasked.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from agents.provider import CompletionRequest, Message
from agents.providers import cli_fence, cli_process
from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from engine.attempt_commit import MaskWritten
from engine.secret_index import SecretFileIndex
from engine.workspace import GitWorkspaces

SECRET = "hunter2-prod"
ENV = f"# settings\nDB_HOST=localhost\nDB_PASSWORD={SECRET}\n"
AGENT = """
cat .env
echo 'DB_PASSWORD=[REDACTED]' > .env && echo wrote .env || echo "edit of .env failed"
rm -f .env || echo "removal of .env failed"
echo "X = 1" > app.py
echo "status: $(git status --porcelain | tr '\\n' ' ')"
git diff
git show HEAD:.env
git add -A && git -c user.name=a -c user.email=a@a commit -qm agent && echo committed
git show --stat --format= HEAD
"""


def ask(workspace: Path) -> CompletionRequest:
    return CompletionRequest(
        system="You are an engineer.",
        messages=(Message("user", "Do the task."),),
        labels={"workspace": str(workspace), "task": "t1", "attempt": "1"},
    )


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
async def test_a_fenced_agent_reads_secret_files_masked_and_cannot_commit_the_mask(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {".env": ENV, "app.py": "X = 0\n"})
    ws = GitWorkspaces(repo, "r-mask", tmp_path / "worktrees")
    await ws.start()
    worktree = await ws.add_worktree("t1-a1", ws.integration_tip())
    said: list[str] = []
    agent = CliAgent(("sh", "-c", AGENT), "text", 60.0)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    log = "\n".join(said)
    assert SECRET not in log
    assert said[0].startswith("[fence] secret files shown to the agent masked and read-only: .env")
    assert "DB_PASSWORD=[REDACTED]" in log and "DB_HOST=localhost" in log  # what it read
    assert "edit of .env failed" in log and "removal of .env failed" in log
    # git in the jail passes over the masked copy: no diff of it, nothing of it staged.
    assert "status:  M app.py \n" in log and "diff --git a/.env" not in log
    assert "committed" in log and " app.py | 2 +-" in log and ".env |" not in log
    # Outside the jail the file was never changed; git sees it again; the commit is real.
    assert (worktree / ".env").read_text() == ENV
    assert git(worktree, "ls-files", "-v", ".env") == "H .env"  # skip-worktree cleared
    commit = await ws.commit_all(worktree, "the attempt")
    assert commit is not None
    assert git(worktree, "show", f"{commit}:.env", strip=False) == ENV
    assert git(worktree, "diff-tree", "--no-commit-id", "--name-only", "-r", commit) == "app.py"


async def test_without_bubblewrap_the_log_says_secret_files_go_unmasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {".env": ENV, "config/credentials.json": "{}\n"})
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    monkeypatch.setattr(cli_fence.shutil, "which", lambda name: None if name == "bwrap" else name)
    said: list[str] = []
    agent = CliAgent(("sh", "-c", "cat .env"), "text", 60.0)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    assert said[:2] == [
        "[fence] none: bubblewrap is not installed; the agent runs with your rights",
        "[fence] secret files reach the agent unmasked: .env, config/credentials.json "
        "(masking them needs the bubblewrap fence)",
    ]
    # What it printed of them is still cleaned before the log.
    assert "DB_PASSWORD=[REDACTED]" in said and SECRET not in "\n".join(said)


CHECKOUT_READER = """
top="$(git rev-parse --path-format=absolute --git-common-dir)/.."
cat "$top/.env" "$top/services/api/.env"
cp "$top/.env" seen.txt
echo more >> "$top/.env" || echo "edit of the checkout's .env failed"
"""


def checkout_with_env(tmp_path: Path) -> tuple[Path, Path]:
    """The user's checkout, its ``.env`` files ignored (in no worktree), and a worktree."""
    repo = make_repo(tmp_path / "repo", {".gitignore": ".env\n", "app.py": "X = 0\n"})
    (repo / ".env").write_text(ENV)
    (repo / "services" / "api").mkdir(parents=True)
    (repo / "services" / "api" / ".env").write_text("API_TOKEN=tok-deep-0f1e2d3c\n")
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    return repo, worktree


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
async def test_a_fenced_agent_reads_the_checkouts_untracked_env_masked(tmp_path: Path) -> None:
    """The fence binds the user's checkout read-only, and readable: its ``.env`` (ignored, so
    in no worktree, and so never masked) was read by its absolute path, which the agent finds
    with ``git rev-parse --git-common-dir``, and its values went to the agent's model and its
    log. Masked copies are bound over the checkout's secret files now."""
    repo, worktree = checkout_with_env(tmp_path)
    said: list[str] = []
    agent = CliAgent(("sh", "-c", CHECKOUT_READER), "text", 60.0)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    log = "\n".join(said)
    seen = (worktree / "seen.txt").read_text()  # what the agent read, as it read it
    assert seen == "# settings\nDB_HOST=[REDACTED]\nDB_PASSWORD=[REDACTED]\n"  # the mask
    assert "API_TOKEN=[REDACTED]" in log and "DB_PASSWORD=[REDACTED]" in log
    assert SECRET not in log and "tok-deep-0f1e2d3c" not in log
    assert "edit of the checkout's .env failed" in log
    assert (repo / ".env").read_text() == ENV


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
async def test_a_fenced_agent_reads_a_checkouts_env_linked_elsewhere_masked(
    tmp_path: Path,
) -> None:
    """A checkout's ``.env`` may be a link to a file kept outside it; the masked copy is
    bound over the link, which masks its target."""
    repo, worktree = checkout_with_env(tmp_path)
    (repo / ".env").unlink()
    (tmp_path / "kept.env").write_text(ENV)
    (repo / ".env").symlink_to(tmp_path / "kept.env")
    said: list[str] = []
    agent = CliAgent(("sh", "-c", CHECKOUT_READER), "text", 60.0)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    seen = (worktree / "seen.txt").read_text()
    assert seen == "# settings\nDB_HOST=[REDACTED]\nDB_PASSWORD=[REDACTED]\n"
    assert SECRET not in "\n".join(said) and (tmp_path / "kept.env").read_text() == ENV


async def test_an_unfenced_agents_log_is_cleaned_of_the_checkouts_secret_values(
    tmp_path: Path,
) -> None:
    """Without the fence the agent reads the checkout's ``.env`` as it is; what it prints of
    it is cleaned before the log, as the worktree's are."""
    _, worktree = checkout_with_env(tmp_path)
    said: list[str] = []
    agent = CliAgent(("sh", "-c", CHECKOUT_READER), "text", 60.0, fence=False)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    log = "\n".join(said)
    assert "DB_PASSWORD=[REDACTED]" in log and "API_TOKEN=[REDACTED]" in log
    assert SECRET not in log and "tok-deep-0f1e2d3c" not in log


@pytest.mark.skipif(
    not shutil.which("bwrap") and os.environ.get("CI") != "true", reason="needs bubblewrap"
)
async def test_a_fenced_agents_copy_of_a_masked_file_is_refused_at_the_attempts_commit(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {".env": ENV, "app.py": "X = 0\n"})
    ws = GitWorkspaces(repo, "r-copy", tmp_path / "worktrees")
    await ws.start()
    worktree = await ws.add_worktree("t1-a1", ws.integration_tip())
    agent = CliAgent(("sh", "-c", "cp .env .env.bak && echo 'X = 1' > app.py"), "text", 60.0)
    await CliProvider("shell", agent).complete(ask(worktree), [].append)
    assert "DB_PASSWORD=[REDACTED]" in (worktree / ".env.bak").read_text()  # the fence's copy
    with pytest.raises(MaskWritten, match=r"wrote \[REDACTED\] into \.env\.bak\."):
        await ws.commit_all(worktree, "the attempt")
    assert "the attempt" not in git(worktree, "log", "--format=%s")


async def test_a_secret_file_the_agent_writes_is_masked_in_what_it_prints_after(
    tmp_path: Path,
) -> None:
    """The worktree's secret values were taken once, before the agent ran: a ``.env`` it
    wrote (ignored by git, as it should be) was printed to the log as it was. Its output is
    now cleaned of the files as they are, looked at again at most every 0.5 s."""
    repo = make_repo(tmp_path / "repo", {".gitignore": ".env\n", "app.py": "X = 0\n"})
    worktree = tmp_path / "worktree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(worktree))
    script = f"echo start; printf 'DB_PASSWORD={SECRET}\\n' > .env; sleep 0.6; cat .env"
    said: list[str] = []
    agent = CliAgent(("sh", "-c", script), "text", 60.0, fence=False)
    await CliProvider("shell", agent).complete(ask(worktree), said.append)
    assert said == ["start", "DB_PASSWORD=[REDACTED]"]


@pytest.mark.parametrize("before", [4, 8, 11])
async def test_a_secret_files_value_across_the_cut_of_an_overlong_line_leaves_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: int
) -> None:
    """A line over MAX_LINE is cut, and a value the agent's ``.env`` holds (written while it
    ran: not among the values cleaned before the cut) kept its first characters at the cut's
    end, where no whole value matched them. Cut at 100 bytes here, below the 4000 characters
    of a log line (at 4 MB the cut's end lies past what a log line shows)."""
    monkeypatch.setattr(cli_process, "MAX_LINE", 100)
    script = (
        f"printf 'DB_PASSWORD={SECRET}\\n' > .env; sleep 0.6; "
        f"printf '%0{100 - before}d{SECRET}%0200d\\n' 0 0; echo done"
    )
    said: list[str] = []
    agent = CliAgent(("sh", "-c", script), "text", 60.0, fence=False)
    await CliProvider("shell", agent).complete(ask(tmp_path), said.append)
    assert said[-1] == "done" and said[0].startswith("0" * (100 - before))
    assert said[0].endswith("[REDACTED]")
    assert SECRET[:before] not in "\n".join(said)


WRITER = """
import sys, time
for n in range(30):
    open(f"out{n}.txt", "w").close()  # a new file at the top: the top folder's time moves
    print(f"step {n}", flush=True)
    time.sleep(0.05)
print(open(".env").read().strip(), flush=True)
"""


@pytest.mark.parametrize("in_git", [False, True], ids=["outside-git", "git-worktree"])
async def test_an_agent_writing_files_in_a_big_worktree_is_not_stalled(
    tmp_path: Path, in_git: bool
) -> None:
    """The secret files were listed again whenever a top-level time moved, by walking the
    whole folder (outside git) or with git (inside): 0.5 s to 1.4 s for these 30,000 files
    on this machine, on the event loop, at each look (every 0.5 s) while the agent wrote
    files, so its log came in bursts behind the listings. Only the folders that changed are
    listed again now."""
    for d in range(300):
        folder = tmp_path / f"pkg{d}" / "src"
        folder.mkdir(parents=True)
        for n in range(100):
            (folder / f"m{n}.py").touch()
    if in_git:
        (tmp_path / ".gitignore").write_text(".env\nout*.txt\n")
        make_repo(tmp_path, {})
    (tmp_path / ".env").write_text(ENV)
    arrived: list[float] = []
    said: list[str] = []

    def heard(text: str) -> None:
        arrived.append(time.monotonic())
        said.append(text)

    agent = CliAgent((sys.executable, "-c", WRITER), "text", 60.0, fence=False)
    await CliProvider("writer", agent).complete(ask(tmp_path), heard)
    steps = [at for at, text in zip(arrived, said, strict=True) if text.startswith("step ")]
    assert len(steps) == 30 and said[-1] == "DB_PASSWORD=[REDACTED]"
    gaps = [later - earlier for earlier, later in itertools.pairwise(steps)]
    assert max(gaps) < 0.2, f"the log stalled {max(gaps):.2f} s"


async def test_a_secret_file_written_deep_in_a_folder_outside_git_is_masked_after(
    tmp_path: Path,
) -> None:
    """Outside git the files were listed again only when the top folder's time or one of its
    folders' moved: a ``.env`` written three folders down was found at the next change up
    there, and printed as it was until then. Every folder's time is looked at now."""
    (tmp_path / "services" / "api" / "config").mkdir(parents=True)
    script = (
        "echo start; printf 'DB_PASSWORD=%s\\n' "
        f"{SECRET} > services/api/config/.env; sleep 0.6; cat services/api/config/.env"
    )
    said: list[str] = []
    agent = CliAgent(("sh", "-c", script), "text", 60.0, fence=False)
    await CliProvider("shell", agent).complete(ask(tmp_path), said.append)
    assert said == ["start", "DB_PASSWORD=[REDACTED]"]


DELTAS = """
import json, os, time
key = os.environ["GEMINI_API_KEY"]
open(".env", "w").write("DB_PASSWORD={secret}\\n")
time.sleep(0.6)
said = "the key is " + key + " and the password {secret}."
for at in range(0, len(said), 7):  # a reply streamed in pieces, a secret across them
    piece = {{"type": "message", "role": "assistant", "content": said[at : at + 7], "delta": True}}
    print(json.dumps(piece), flush=True)
print(json.dumps({{"type": "result", "status": "success", "stats": {{}}}}), flush=True)
"""


async def test_a_secret_split_across_gemini_deltas_is_masked_in_the_reply(
    tmp_path: Path,
) -> None:
    """Gemini CLI streams its reply in pieces, each line cleaned alone, and says the reply
    whole once it ends: a key or a ``.env`` value split across the pieces matched in none,
    and reached the log and the summary (the commit message's body) whole."""
    key = "AIzaSy" + "Q" * 33
    script = DELTAS.format(secret=SECRET)
    agent = CliAgent((sys.executable, "-c", script), "gemini-stream-json", 60.0, fence=False)
    provider = CliProvider("gemini", agent, env={"PATH": "/usr/bin:/bin", "GEMINI_API_KEY": key})
    said: list[str] = []
    completion = await provider.complete(ask(tmp_path), said.append)
    reply = "the key is [REDACTED] and the password [REDACTED]."
    assert said == [reply] and completion.text == reply


async def test_a_secret_value_printed_in_colours_is_masked_as_the_terminal_shows_it(
    tmp_path: Path,
) -> None:
    """A text agent's line is shown as a terminal draws it, without its colour codes, but was
    cleaned before they were taken out: ``grep --color=always hunter .env`` colours the part
    of the value it matched, which split the value, so it reached the log and the summary
    whole once the codes were gone."""
    (tmp_path / ".env").write_text(ENV)
    script = "printf 'DB_PASSWORD=\\033[01;31m\\033[Khunter\\033[m\\033[K2-prod\\n'"
    said: list[str] = []
    agent = CliAgent(("sh", "-c", script), "text", 60.0, fence=False)
    completion = await CliProvider("aider", agent).complete(ask(tmp_path), said.append)
    assert said == ["DB_PASSWORD=[REDACTED]"] and completion.text == "DB_PASSWORD=[REDACTED]"


def test_the_secret_file_index_follows_files_made_moved_and_removed(tmp_path: Path) -> None:
    """What the agent does to the tree between two looks is in the next: a folder renamed, a
    key written in a new folder deep down, a folder removed; the folders git ignores (and
    ``node_modules``) are left out, as git's listing leaves them out."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / ".env").write_text(ENV)
    for skipped in ("build", "node_modules"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / ".env").write_text(ENV)
    index = SecretFileIndex(tmp_path, ["build"])
    assert index.files() == ["a/b/.env"]
    (tmp_path / "a" / "b").rename(tmp_path / "a" / "c")
    assert index.files() == ["a/c/.env"]
    (tmp_path / "a" / "c" / "d" / "e").mkdir(parents=True)
    (tmp_path / "a" / "c" / "d" / "e" / "id_rsa").write_text("key")
    assert index.files() == ["a/c/.env", "a/c/d/e/id_rsa"]
    shutil.rmtree(tmp_path / "a")
    (tmp_path / "top.pem").write_text("key")
    assert index.files() == ["top.pem"]
