"""``init`` checks its ``--repo`` as ``run`` does (:func:`tui.repo_folder.repo_problem`), and
both say the same line: ``init --repo A_FILE`` said "repository not found"; ``init --repo
x.git`` (a bare repository) wrote shopfloor.toml into it, which ``run`` then refused once the
factory had loaded, as it did a checkout's ``.git`` folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tui.cli import main


@pytest.fixture
def place(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's folder, the current one, with the data home (conftest's) inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def said(words: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What ``shopfloor WORDS`` says on stderr; it must refuse the input (exit code 2)."""
    assert main(words) == 2
    return capsys.readouterr().err.splitlines()


def bare(place: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(place / "x.git")], check=True)
    return place / "x.git"


def git_folder(place: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(place / "checkout")], check=True)
    return place / "checkout" / ".git"


def a_file(place: Path) -> Path:
    (place / "notes.txt").write_text("not a repository\n", encoding="utf-8")
    return place / "notes.txt"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (a_file, "the repository is a file, not a folder: {repo}"),
        (bare, "bare repositories are not supported: {repo}"),
        (
            git_folder,
            "{repo} is the git folder of the repository {repo.parent}: "
            "give the repository itself ({repo.parent})",
        ),
    ],
    ids=["a file", "a bare repository", "a checkout's git folder"],
)
def test_init_and_run_refuse_what_is_no_checkout_in_the_same_line(
    place: Path, capsys: pytest.CaptureFixture[str], make, expected: str
) -> None:
    repo = make(place)
    before = sorted(place.rglob("*"))
    line = f"shopfloor: {expected.format(repo=repo)}"
    assert said(["init", "--repo", str(repo)], capsys) == [line]
    assert sorted(place.rglob("*")) == before  # no shopfloor.toml written into it
    assert said(["run", "add x", "--repo", str(repo), "--headless"], capsys) == [line]


def test_init_still_writes_into_a_checkout(place: Path, capsys: pytest.CaptureFixture[str]):
    checkout = git_folder(place).parent
    assert main(["init", "--repo", str(checkout)]) == 0
    assert (checkout / "shopfloor.toml").is_file()
    assert capsys.readouterr().err == ""
