"""Tokens per task with and without context selection, on the bundled inventory example.

For every task of the inventory blueprint, in build order, this rebuilds the worktree the
engine would give its first attempt (the seed plus the merged code of every task it depends
on, from the playbook's scripts) and measures the engineer's first prompt three ways:

- ``bare``: the task prompt alone (no repository context at all);
- ``whole_repo``: the task prompt plus every file of the worktree (the naive way to "give it
  the code");
- ``selected``: the task prompt plus what agents/context.py selects within the budget.

``recall`` is the share of the task's dependencies' source files (the code it builds on) that
the selection included in full. Tokens are estimated at four characters each, the same
estimate the selection budgets with. Run: ``python bench/context.py [--budget N]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.context import estimate_tokens, read_text, repo_files  # noqa: E402
from agents.playbook import Playbook  # noqa: E402
from agents.roles.engineer import build_prompt, select_job_context  # noqa: E402
from engine.dag import Dag  # noqa: E402
from engine.protocols import EngineerJob  # noqa: E402
from tui.argtypes import non_negative_int  # noqa: E402

EXAMPLE = ROOT / "examples" / "inventory"


def ancestors(dag: Dag, task_id: str) -> set[str]:
    """Every task ``task_id`` depends on, directly or not."""
    seen: set[str] = set()
    todo = list(dag.deps[task_id])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(dag.deps[dep])
    return seen


def build_worktree(book: Playbook, dag: Dag, task_id: str, root: Path) -> None:
    """The seed plus the last attempt's files of every task ``task_id`` builds on."""
    shutil.copytree(EXAMPLE / "seed", root)
    for dep in (t for t in dag.order if t in ancestors(dag, task_id)):
        for turn in book.engineer[dep].attempts[-1].turns:
            for call in turn.calls:
                target = root / str(call.args.get("path", ""))
                if call.tool == "write_file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(call.args["content"], encoding="utf-8")
                elif call.tool == "edit_file":
                    text = target.read_text(encoding="utf-8")
                    target.write_text(text.replace(call.args["search"], call.args["replace"], 1))


def measure(budget: int) -> dict[str, object]:
    book = Playbook.load(EXAMPLE / "playbook.yaml")
    dag = Dag.from_blueprint(book.blueprint)
    by_id = {t.id: t for t in book.blueprint.tasks}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task_id in dag.order:
            root = Path(tmp) / task_id
            build_worktree(book, dag, task_id, root)
            job = EngineerJob("bench", by_id[task_id], book.blueprint, root, 1, 3)
            bare = build_prompt(job)
            everything = "\n".join(
                f"## File {rel}\n{read_text(root, rel) or ''}" for rel in repo_files(root)
            )
            pack = select_job_context(job, budget)
            dep_code = [
                f
                for dep in ancestors(dag, task_id)
                for f in by_id[dep].files
                if not f.startswith("tests/")
            ]
            recall = sum(f in pack.files for f in dep_code) / len(dep_code) if dep_code else 1.0
            rows.append(
                {
                    "task": task_id,
                    "repo_files": len(repo_files(root)),
                    "bare": estimate_tokens(bare),
                    "whole_repo": estimate_tokens(bare) + estimate_tokens(everything),
                    "selected": estimate_tokens(build_prompt(job, pack.text)),
                    "files_in_full": len(pack.files),
                    "recall": round(recall, 2),
                }
            )
    whole = sum(int(str(r["whole_repo"])) for r in rows)
    selected = sum(int(str(r["selected"])) for r in rows)
    return {
        "example": "inventory",
        "budget_tokens": budget,
        "token_estimate": "4 characters per token",
        "tasks": rows,
        "total_whole_repo": whole,
        "total_selected": selected,
        "selected_over_whole_repo": round(selected / whole, 3) if whole else None,
        "mean_recall": round(sum(float(str(r["recall"])) for r in rows) / len(rows), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=non_negative_int, default=6000, help="context budget in tokens"
    )
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.budget), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
