"""Context selection stops reading the ranked files it can no longer include: once the budget
left is smaller than a file's block (known from an earlier selection of the same content, or
its header alone), the file is neither read nor masked. The selection stays the one that read
and masked every ranked file."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from agents import context
from agents.context import (
    ContextPack,
    _file_block,
    _section,
    digest,
    estimate_tokens,
    rank_files,
    read_text,
    repo_files,
    repo_map,
    select_context,
)
from agents.file_digests import FileDigests
from engine.blob_ids import index_blob_ids
from engine.secret_files import is_secret_file

WORDS = (
    "stock inventory sku adjust price tax discount cart order invoice refund ship parcel "
    "customer ledger report export import csv rounding cent decimal currency rate"
).split()
QUERIES = (
    "adjust the stock of an inventory sku when an order ships",
    "tax rounding to the cent for invoice and refund totals",
)
KEY_BLOCK = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join("MIIEpAIBAAKCAQEA" + "x" * 48 for _ in range(12))
    + "\n-----END RSA PRIVATE KEY-----\n"
)


def varied_files(seed: int = 7) -> dict[str, str]:
    """Some 70 files of many sizes: code, prose, tiny and large, some whose masking shrinks
    them (a private key block, key shapes) or grows them (a short URL password)."""
    rng = random.Random(seed)
    files: dict[str, str] = {}
    for i in range(64):
        words = rng.choices(WORDS, k=rng.choice((3, 20, 80, 300, 900, 2500)))
        text = " ".join(words) + "\n"
        kind = i % 8
        if kind == 0:
            text = f"def f{i}(sku, rate):\n    '''{text}'''\n    return sku\n"
        elif kind == 1:
            text = KEY_BLOCK + text
        elif kind == 2:
            text += "key sk-ant-" + "a" * 400 + " and AKIAABCDEFGHIJKLMNOP\n"
        elif kind == 3:
            text += "proxy https://u:pw@example.invalid/?api_key=abc and Bearer abcdefgh12345\n"
        folder = ("shop", "docs", "tools", "notes")[i % 4]
        files[f"{folder}/file_{i}.{'py' if kind == 0 else 'txt'}"] = text
    files["shop/empty.py"] = ""
    files[".env"] = "STOCK_TOKEN=inventory-sku-secret-value\n"
    files["README.md"] = "# Shop\nStock, inventory, tax and invoices.\n"
    return files


def selection_reading_all(
    root: Path,
    task_text: str,
    *,
    named_files: Sequence[str] = (),
    failure: str = "",
    learnings: Sequence[str] = (),
    budget_tokens: int = 6000,
    exclude: Sequence[str] = (),
    min_relevance: float = 0.35,
    digests: FileDigests,
) -> ContextPack:
    """The selection as it was before: every ranked file read and masked, fitting or not."""
    reserved = min(estimate_tokens(failure), budget_tokens // 2)
    left = budget_tokens - reserved
    parts: list[str] = []
    included: list[str] = []

    def take(block: str) -> bool:
        nonlocal left
        cost = estimate_tokens(block)
        if cost > left:
            return False
        parts.append(block)
        left -= cost
        return True

    if learnings:
        take(_section("Learnings from earlier runs", "\n".join(f"- {x}" for x in learnings)))
    files = repo_files(root)
    blob_ids = index_blob_ids(root)
    present = set(files)
    skip = set(exclude)
    for rel in dict.fromkeys(named_files):
        if rel in present and rel not in skip:
            text = read_text(root, rel)
            if text is not None and take(_file_block(rel, text)):
                included.append(rel)
    has_map = bool(files) and take(
        _section("Repository map", repo_map(root, files, digests, blob_ids))
    )
    candidates = [f for f in files if f not in included and f not in skip and not is_secret_file(f)]
    scored = rank_files(root, candidates, task_text, digests, blob_ids)
    floor = scored[0][1] * min_relevance if scored else 0.0
    ranked = [rel for rel, score in scored if score >= floor]
    for rel in ranked:
        text = read_text(root, rel)
        if text is not None and take(_file_block(rel, text)):
            included.append(rel)
    text = "\n".join(parts)
    return ContextPack(
        text=text,
        tokens=estimate_tokens(text),
        budget=budget_tokens,
        files=included,
        ranked=ranked,
        repo_map=has_map,
        reserved=reserved,
    )


def worktree(repo: Path, name: str) -> Path:
    path = repo.parent / name
    git(repo, "worktree", "add", "--detach", "-q", str(path), "HEAD")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", varied_files())
    (root / "shop" / "latin1.txt").write_bytes("stock caf\xe9 inventory sku\n".encode("latin-1"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a file that is not UTF-8")
    return root


CASES = [
    {"budget_tokens": budget, **extra}
    for budget in (40, 300, 1500, 6000, 40_000)
    for extra in (
        {},
        {
            "named_files": ["shop/file_4.txt", ".env", "missing.py"],
            "learnings": ["Decimal"],
            "failure": "AssertionError: stock " * 60,
            "exclude": ["shop/file_8.py"],
        },
        {"min_relevance": 0.0},
    )
]


def test_the_selection_is_the_one_that_read_every_ranked_file(repo: Path) -> None:
    """First on nothing known of the contents, then in a second worktree of the commit and in
    one with files changed since the checkout, at budgets from nothing left for the ranked
    files to room for all of them: the same packs, byte for byte, as reading and masking every
    ranked file."""
    digests, plain = FileDigests(digest), FileDigests(digest)  # plain: the map and ranking's
    changed = worktree(repo, "changed")
    (changed / "shop/file_4.txt").write_text("stock inventory sku " * 30)  # not committed
    (changed / "docs/file_9.txt").write_text(KEY_BLOCK + "tax cent " * 200)
    (changed / "notes/new.txt").write_text("order ships stock " * 5)  # untracked
    compared = 0
    for tree in (repo, worktree(repo, "second"), changed):
        for query in QUERIES:
            for case in CASES:
                expected = selection_reading_all(tree, query, digests=plain, **case)
                assert select_context(tree, query, digests=digests, **case) == expected
                compared += 1
    assert compared == 3 * len(QUERIES) * len(CASES)
    assert digests.computed == plain.computed  # the first tree's selections began cold


def test_a_selection_reads_no_ranked_file_past_its_budget(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second attempt on the commit (a fresh worktree, the process's digests) reads only
    the ranked files it includes; and one whose budget cannot hold even a file's header reads
    none of them, even on its first selection."""
    digests = FileDigests(digest)
    read: list[str] = []

    def counted_read(root: Path, rel: str) -> str | None:
        read.append(rel)
        return read_text(root, rel)

    monkeypatch.setattr(context, "read_text", counted_read)
    query = QUERIES[0]
    first = select_context(repo, query, budget_tokens=2500, digests=digests)
    assert len(first.files) < len(first.ranked)  # the budget runs out among the ranked files
    read.clear()
    second = select_context(worktree(repo, "second"), query, budget_tokens=2500, digests=digests)
    assert second == first
    assert [rel for rel in read if rel not in second.files] == []
    assert read == second.files
    read.clear()
    spent = select_context(repo, query, budget_tokens=5, digests=FileDigests(digest))
    assert spent.ranked and not spent.files
    assert read == []
