"""A run builds from a commit, never from the working tree: uncommitted edits are not in it.

Before, ``shopfloor run`` on a checkout with uncommitted edits built from HEAD and said
nothing, so the edit a user had just typed was silently missing from the build. Now one
warning line (a notification in the TUI) says how many files are left out and which commit
the run builds from, and ``status`` shows it later. The run still goes ahead.

Each run here is the inventory playbook with a critic threshold it cannot reach, so the run
ends at its first stage (killed by the kill gate) within a second or two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine import loop as event_loop
from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.cli import main
from tui.uncommitted import Uncommitted, parse_porcelain

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "examples" / "inventory" / "playbook.yaml"
EXIT_KILLED = 3


@pytest.fixture
def kill_config(tmp_path: Path) -> Path:
    """The inventory critic scores 8.0: a run under this config is killed at once. The
    tests' Python is named, so the only warnings said are the uncommitted files'."""
    path = tmp_path / "kill.toml"
    gates = f"[gates]\npython = {json.dumps(sys.executable)}\n"
    path.write_text("[engine]\nmin_critic_score = 9.5\n" + gates, encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed checkout; ``*.log`` files are ignored."""
    return make_repo(
        tmp_path / "repo",
        {"README.md": "# shop\n", "shop/__init__.py": "", ".gitignore": "*.log\n"},
    )


def make_dirty(repo: Path) -> None:
    """One file edited, one new file staged, one new file untracked, one ignored file."""
    (repo / "README.md").write_text("# shop\n\nThe fix I just typed.\n")
    (repo / "shop" / "stock.py").write_text("STOCK = {}\n")
    git(repo, "add", "shop/stock.py")
    (repo / "notes.txt").write_text("todo\n")
    (repo / "debug.log").write_text("ignored by git: not counted\n")


def run_on(repo: Path, db: Path, kill_config: Path) -> int:
    return main(
        [
            *("run", "add stock", "--repo", str(repo), "--playbook", str(PLAYBOOK)),
            *("--config", str(kill_config), "--speed", "200", "--db", str(db)),
        ]
    )


def status_of(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, object], str]:
    capsys.readouterr()
    assert main(["runs", "--json", "--db", str(db)]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert main(["status", run["run_id"], "--json", "--db", str(db)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert main(["status", run["run_id"], "--db", str(db)]) == 0
    return status, capsys.readouterr().out


def test_a_run_on_uncommitted_edits_says_they_are_not_built(
    home: Path, repo: Path, kill_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dirty(repo)
    head = git(repo, "rev-parse", "HEAD")
    db = tmp_path / "runs.db"
    assert run_on(repo, db, kill_config) == EXIT_KILLED  # warned, not refused
    out = capsys.readouterr().out
    expected = (
        f"3 uncommitted files (1 modified, 1 staged, 1 untracked) in {repo} are not in this "
        f"run: it builds from commit {head[:7]} (HEAD); commit them to have them built"
    )
    lines = out.splitlines()
    assert [line for line in lines if "warning" in line] == [f"warning: {expected}"]
    started = next(i for i, line in enumerate(lines) if " started (" in line)
    assert lines.index(f"warning: {expected}") < started  # said before the run starts
    status, text = status_of(db, capsys)
    assert status["warnings"] == [expected]
    assert f"warning: {expected}" in text.splitlines()


def test_a_clean_checkout_with_ignored_files_gets_no_warning(
    home: Path, repo: Path, kill_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "debug.log").write_text("ignored by git\n")
    db = tmp_path / "runs.db"
    assert run_on(repo, db, kill_config) == EXIT_KILLED
    assert "warning" not in capsys.readouterr().out
    status, text = status_of(db, capsys)
    assert status["warnings"] == []
    assert "warning" not in text


async def store_interrupted_run(db: Path, repo: Path, kill_config: Path) -> tuple[str, str]:
    """A run that started on ``repo``'s HEAD and was killed before anything else was logged;
    returns its id and base commit."""
    base = git(repo, "rev-parse", "HEAD")
    bus = EventBus("r-dirty-resume")
    started = bus.emit(
        RunStarted(
            request="add stock",
            repo=str(repo),
            base_branch="main",
            base_commit=base,
            integration_branch="shopfloor/wip/r-dirty-resume",
            models={"planner": "sim:"},
            simulated=True,
            settings={
                "playbook": str(PLAYBOOK),
                "config": str(kill_config),
                "speed": "200.0",
                "workers": "1",
                "escalation_policy": "twin",
            },
        )
    )
    async with await SqlEventStore.open(str(db)) as store:
        await store.append([started])
    return bus.run_id, base


def test_a_virtualenv_and_egg_info_in_the_checkout_are_not_counted(
    home: Path, repo: Path, kill_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """python-slugify with ``python -m venv .venv`` and ``pip install -e .`` (Python 3.11: the
    venv does not ignore itself in git) was warned of "2479 uncommitted files ... commit them
    to have them built". A virtualenv of any name (``pyvenv.cfg``) and setuptools' egg-info are
    what installing the project made: only the file the user wrote is counted."""
    for name in (".venv", "env"):
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(repo / name)], check=True
        )
        (repo / name / "lib" / "site.py").write_text("# an installed module\n")
    egg = repo / "shop.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Name: shop\n")
    (egg / "SOURCES.txt").write_text("shop/__init__.py\n")
    (repo / "notes.txt").write_text("todo\n")
    head = git(repo, "rev-parse", "HEAD")
    db = tmp_path / "runs.db"
    assert run_on(repo, db, kill_config) == EXIT_KILLED
    warned = [line for line in capsys.readouterr().out.splitlines() if "uncommitted" in line]
    assert warned == [
        f"warning: 1 uncommitted file (1 untracked) in {repo} is not in this run: it builds "
        f"from commit {head[:7]} (HEAD); commit it to have it built"
    ]


def test_resume_says_its_base_commit_leaves_the_edits_out(
    home: Path, repo: Path, kill_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    run_id, base = event_loop.run(store_interrupted_run(db, repo, kill_config))
    make_dirty(repo)
    git(repo, "commit", "-q", "-m", "staged meanwhile")  # HEAD moves on; the run's base stays
    assert main(["resume", run_id, "--db", str(db)]) == EXIT_KILLED
    out = capsys.readouterr().out
    expected = (
        f"2 uncommitted files (1 modified, 1 untracked) in {repo} are not in this run: "
        f"it builds from commit {base[:7]}, where it started; a new run builds them once committed"
    )
    head = git(repo, "rev-parse", "HEAD")
    moved = (
        f"your HEAD in {repo} is now {head[:7]}, not {base[:7]} where this run started: the "
        f"run goes on from {base[:7]}, and its branch will not hold what came since (rebase "
        "the shipped branch, or start a new run)"
    )
    warned = [line for line in out.splitlines() if "warning" in line]
    assert warned == [f"warning: {expected}", f"warning: {moved}"]
    status, _ = status_of(db, capsys)
    assert status["warnings"] == [expected, moved]


def test_the_control_room_shows_the_warning_as_a_notification(
    home: Path,
    repo: Path,
    kill_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In the TUI the printed line is hidden behind the full screen: it is notified in it."""
    make_dirty(repo)
    notified: list[tuple[str, str]] = []

    async def drive(app: ShopfloorApp) -> None:  # the real app, headless, until the run ends
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            for _ in range(1500):
                if app.finished:
                    break
                await pilot.pause(0.01)
            assert app.finished
            notices = app._notifications  # type: ignore[attr-defined]
            notified.extend((n.message, n.severity) for n in notices)
            await pilot.press("q")

    monkeypatch.setattr(ShopfloorApp, "run_async", drive)
    monkeypatch.setattr("tui.commands.terminal.on_a_terminal", lambda: True)  # a pilot's
    db = tmp_path / "runs.db"
    code = main(
        [
            *("run", "add stock", "--repo", str(repo), "--playbook", str(PLAYBOOK), "--tui"),
            *("--config", str(kill_config), "--speed", "200", "--db", str(db)),
        ]
    )
    assert code == EXIT_KILLED
    warnings = [(m, s) for m, s in notified if "uncommitted" in m]
    assert len(warnings) == 1
    message, severity = warnings[0]
    assert message.startswith("warning: 3 uncommitted files (1 modified, 1 staged, 1 untracked)")
    assert severity == "warning"


def test_git_status_entries_are_counted_once_per_file() -> None:
    porcelain = (
        b"MM both.py\0M  staged.py\0 M edited.py\0R  new.py\0old.py\0A  added.py\0"
        b"?? new/one.txt\0?? new/two.txt\0 D gone.py\0UU conflict.py\0"
    )
    assert parse_porcelain(porcelain) == Uncommitted(staged=3, modified=4, untracked=2)
    assert parse_porcelain(b"") == Uncommitted()


def test_a_run_warns_of_a_key_in_a_coding_agents_argv_before_it_starts(
    home: Path, repo: Path, kill_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key written into ``[providers.cli.NAME] argv`` is every local user's to read with
    ``ps`` while the agent runs: the run says so in one line as it sets up, naming the agent
    and the option, never the key (the SIM plays the roles: the agent need not be used)."""
    token = "gw-local-7f3a9c2e5b1d4f60"
    kill_config.write_text(
        kill_config.read_text(encoding="utf-8")
        + f'[providers.cli.aider]\nargv = ["aider", "--api-key", "{token}", "{{prompt}}"]\n',
        encoding="utf-8",
    )
    assert run_on(repo, tmp_path / "runs.db", kill_config) == EXIT_KILLED
    out = capsys.readouterr().out
    lines = out.splitlines()
    (warned,) = [i for i, line in enumerate(lines) if line.startswith("[providers.cli.aider]")]
    assert "(--api-key)" in lines[warned] and lines[warned].endswith(
        "when its keys setting names it"
    )
    assert warned < next(i for i, line in enumerate(lines) if " started (" in line)
    assert token not in out
