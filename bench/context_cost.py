"""What context selection costs per attempt on a big repository, with and without the digests.

Each engineer attempt selects its context in a fresh worktree (agents/context.py): the repo
map parses every Python file, the BM25 ranking reads and tokenizes every file. The digests
(agents/file_digests.py) keep each file's symbols and words by git blob id, so an attempt on
a commit recon or an earlier attempt saw reads nothing again. This makes two worktrees of
one commit and times, side by side in one run, the first attempt (nothing digested yet: every
file read, parsed and tokenized, as at each attempt before) and the second, on the first's
digests.

The repository: ``--repo PATH`` (a git checkout: its HEAD is used), or by default a made-up
one of ``--files`` Python modules. Run: ``python bench/context_cost.py``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.context import digest, select_context  # noqa: E402
from agents.file_digests import FileDigests  # noqa: E402
from tui.argtypes import positive_int  # noqa: E402

QUERY = "add a helper that quotes sql identifiers, with its tests"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd, check=True)


def made_up(root: Path, count: int) -> Path:
    """A git repository of ``count`` Python modules with classes and functions."""
    for i in range(count):
        path = root / f"pkg{i % 40}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"class Thing{i}_{k}:\n    def method_{k}(self, value):\n"
            f"        return value * {k}  # quote identifier {k}\n\n\n"
            f"def helper_{i}_{k}(name):\n    return name.replace('x', 'y{k}')\n\n\n"
            for k in range(12)
        )
        path.write_text(body, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=bench", "-c", "user.email=b@x", "commit", "-q", "-m", "seed")
    return root


def timed(worktree: Path, digests: FileDigests) -> float:
    started = time.perf_counter()
    select_context(worktree, QUERY, budget_tokens=6000, digests=digests)
    return time.perf_counter() - started


def measure(repo: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        trees = [Path(tmp) / name for name in ("a1", "a2")]
        for tree in trees:
            git(repo, "worktree", "add", "--detach", "-q", str(tree), "HEAD")
        try:
            shared = FileDigests(digest)
            first = timed(trees[0], shared)
            made = shared.computed
            second = timed(trees[1], shared)
        finally:
            for tree in trees:
                git(repo, "worktree", "remove", "--force", str(tree))
    return {
        "repo": str(repo),
        "files_digested": made,
        "first_attempt_s": round(first, 3),
        "second_attempt_s": round(second, 3),
        "digested_again_by_second": shared.computed - made,
        "second_over_first": round(second / first, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, help="a git checkout to measure (default: made up)")
    parser.add_argument("--files", type=positive_int, default=3000, help="modules made up")
    args = parser.parse_args(argv)
    if args.repo is not None:
        if not (args.repo / ".git").exists():
            parser.error(f"--repo: not a git checkout: {args.repo}")
        print(json.dumps(measure(args.repo.resolve()), indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(made_up(Path(tmp) / "repo", args.files)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
