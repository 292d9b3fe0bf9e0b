"""The demo, end to end, through the real CLI in a subprocess: SIM provider, real git, real
pytest gates, real SQLite. What `make demo` does, fast."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tui.demo_repo import prepare_demo_repo

pytestmark = pytest.mark.e2e


def shopfloor(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "160"}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"shopfloor {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def tree_hash(repo: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(repo.rglob("*")):
        if ".git" in path.relative_to(repo).parts or not path.is_file():
            continue
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.mktemp("home")
    out = home / "demo-repo"
    proc = shopfloor("demo", "--headless", "--speed", "40", "--out", str(out), home=home)
    return home, out, proc


def test_demo_ships_a_branch_with_one_commit_per_task(demo_run) -> None:
    home, repo, proc = demo_run
    assert "shipped" in proc.stdout
    assert "SIM" in proc.stdout
    runs = json.loads(shopfloor("runs", "--json", home=home).stdout)
    assert runs[0]["outcome"] == "shipped"
    branch = runs[0]["branch"]
    assert branch and branch in proc.stdout
    subjects = git(repo, "log", "--format=%s", f"main..{branch}").splitlines()
    status = json.loads(shopfloor("status", runs[0]["run_id"], "--json", home=home).stdout)
    assert len(subjects) == len(status["tasks"]) == 6
    titles = {t["title"] for t in status["tasks"]}
    assert set(subjects) == titles


def test_status_shows_the_retried_task_and_each_merge_once(demo_run) -> None:
    home, _repo, _proc = demo_run
    run_id = json.loads(shopfloor("runs", "--json", home=home).stdout)[0]["run_id"]
    status = json.loads(shopfloor("status", run_id[:8], "--json", home=home).stdout)
    assert status["outcome"] == "shipped"
    attempts = {t["id"]: t["attempts"] for t in status["tasks"]}
    assert attempts["pricing"] == 2
    assert all(n == 1 for tid, n in attempts.items() if tid != "pricing")
    assert sorted(status["merged"]) == sorted(attempts)
    assert len(status["merged"]) == len(set(status["merged"]))
    assert all(t["state"] == "merged" for t in status["tasks"])


def test_shipped_branch_tests_pass_by_hand_and_user_tree_untouched(
    demo_run, tmp_path: Path
) -> None:
    home, repo, _proc = demo_run
    run = json.loads(shopfloor("runs", "--json", home=home).stdout)[0]
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(repo, "status", "--porcelain").strip() == ""
    checkout = tmp_path / "checkout"
    subprocess.run(
        ["git", "clone", "-q", "-b", run["branch"], str(repo), str(checkout)], check=True
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_user_working_tree_is_byte_identical(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """A run on a repo with an uncommitted user edit leaves that edit and HEAD alone."""
    home = tmp_path / "home"
    out = home / "repo"
    # The demo's gate settings (examples/inventory/shopfloor.toml) on the demo's trees: the
    # session's verdicts serve, and pytest does not load every plugin installed beside
    # shopfloor. (Not the example's file itself: its twin would learn into the source tree.)
    config = tmp_path / "shopfloor.toml"
    config.write_text("[gates]\npytest_autoload_plugins = false\ntest_timeout_s = 300\n")
    share_gate_cache(home)
    # The repository the demo makes (the example's seed, committed on main), with a dirty tree.
    prepare_demo_repo("inventory", out)
    (out / "NOTES.txt").write_text("user's uncommitted notes\n")
    (out / "README.md").write_text((out / "README.md").read_text() + "\nuser edit\n")
    before, head = tree_hash(out), git(out, "rev-parse", "HEAD")
    playbook = Path(__file__).resolve().parents[2] / "examples" / "inventory" / "playbook.yaml"
    proc = shopfloor(
        "run",
        "Build it again",
        "--repo",
        str(out),
        "--playbook",
        str(playbook),
        "--config",
        str(config),
        "--speed",
        "1000",
        home=home,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert tree_hash(out) == before
    assert git(out, "rev-parse", "HEAD") == head


def test_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = shopfloor(
        "run", "x", "--repo", str(tmp_path / "nope"), "--playbook", "p.yaml", home=home, check=False
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and missing.stderr.strip().count("\n") == 0
    unknown = shopfloor("demo", "--example", "nope", home=home, check=False)
    assert unknown.returncode == 2 and "no example named" in unknown.stderr
    status = shopfloor("status", "zzzz", home=home, check=False)
    assert status.returncode == 2 and "Traceback" not in status.stderr
