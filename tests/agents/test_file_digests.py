"""Context selection works out each file's symbols and words once per content: a second
attempt in a fresh worktree of the same commit parses and tokenizes nothing again."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_trace import trace_git
from repo_helpers import commit, git, make_repo

from agents.context import digest, rank_files, repo_files, repo_map, select_context
from agents.file_digests import FileDigests
from engine.blob_ids import blob_id, index_blob_ids

FILES = {
    "shop/pricing.py": "class Discount:\n    def apply(self, amount): ...\n\ndef add_tax(a): ...\n",
    "shop/stock.py": "class Inventory:\n    def adjust(self, sku, delta): ...\n",
    "shop/copy.py": "class Inventory:\n    def adjust(self, sku, delta): ...\n",
    "README.md": "# Shop\nA shop with stock and pricing: tax, discounts.\n",
    "notes.txt": "inventory adjust stock sku\n",
}
QUERY = "adjust the stock of an inventory sku"


def counted() -> FileDigests:
    return FileDigests(digest)


def worktree(repo: Path, name: str) -> Path:
    path = repo.parent / name
    git(repo, "worktree", "add", "--detach", "-q", str(path), "HEAD")
    return path


def test_a_second_worktree_of_the_commit_parses_and_reads_nothing_again(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", FILES)
    digests = counted()
    first = worktree(repo, "a1")
    files = repo_files(first)
    map_1, ranked_1 = repo_map(first, files, digests), rank_files(first, files, QUERY, digests)
    made = digests.computed
    assert made == len(FILES) - 1  # shop/copy.py has shop/stock.py's content
    second = worktree(repo, "a2")
    assert repo_map(second, files, digests) == map_1
    assert rank_files(second, files, QUERY, digests) == ranked_1
    assert digests.computed == made


def test_the_digests_say_what_a_fresh_reading_says(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", FILES)
    files = repo_files(repo)
    shared = counted()
    repo_map(repo, files, shared), rank_files(repo, files, QUERY, shared)
    assert repo_map(repo, files, shared) == repo_map(repo, files, counted())
    assert rank_files(repo, files, QUERY, shared) == rank_files(repo, files, QUERY, counted())
    assert repo_map(repo, ["shop/stock.py", "shop/copy.py"], shared).splitlines() == [
        "shop/stock.py: class Inventory(adjust)",
        "shop/copy.py: class Inventory(adjust)",
    ]


def test_a_file_changed_since_the_checkout_is_read_as_it_is_now(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", FILES)
    digests = counted()
    files = repo_files(repo)
    repo_map(repo, files, digests)
    (repo / "shop/stock.py").write_text("def restock(sku): ...\n")  # not committed
    (repo / "shop/new.py").write_text("def fresh(): ...\n")  # untracked
    lines = repo_map(repo, repo_files(repo), digests).splitlines()
    assert "shop/stock.py: def restock" in lines
    assert "shop/new.py: def fresh" in lines
    commit(repo, {"shop/pricing.py": "def only(): ...\n"})
    assert "shop/pricing.py: def only" in repo_map(repo, repo_files(repo), digests).splitlines()


def test_git_index_ids_are_git_blob_ids_and_leave_out_changed_files(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", FILES)
    (repo / "notes.txt").write_text("changed\n")
    ids = index_blob_ids(repo)
    assert "notes.txt" not in ids
    assert ids["README.md"] == blob_id((repo / "README.md").read_bytes())
    assert ids["README.md"] == git(repo, "hash-object", "README.md")
    inner = repo / "shop"  # a folder of a repository is not a worktree of its own
    (inner / ".git").mkdir()
    assert index_blob_ids(inner) == {}


def test_one_selection_reads_the_worktree_index_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The map and the ranking of one attempt's selection share one reading of the index:
    three git commands per attempt, not six (each attempt, each task, on every run)."""
    repo = make_repo(tmp_path / "repo", FILES)
    tree = worktree(repo, "a1")
    trace = trace_git(monkeypatch, tmp_path / "git-trace.log")
    pack = select_context(tree, QUERY, digests=counted())
    assert "shop/stock.py: class Inventory(adjust)" in pack.text  # the map, from the index
    assert pack.ranked[:2] == ["notes.txt", "shop/stock.py"]  # the ranking, from it too
    assert trace.count("ls-files -s") == 1
    assert trace.count("ls-files -m -d") == 1
    assert trace.count("rev-parse --show-toplevel") == 1
