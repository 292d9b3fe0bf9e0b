"""Benchmark: serial vs speculative merge queue throughput, side by side in one run.

N finished tasks (each adds its own file, so none conflict) are queued at once on a real git
repository. Each task's merge gates take a duration drawn from a lognormal distribution
(seeded, so both queues see the same work); a share of tasks is red on the merged tree. The
same tasks go through a serial queue (window 1) and a speculative one (window W).

    python bench/merge_queue.py [--tasks 12] [--window 4] [--median 0.3] [--sigma 0.5]
                                [--red 0.1] [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from engine.merge_queue import MergeQueue
from engine.protocols import GateResult
from engine.workspace import GitWorkspaces

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@shopfloor.invalid",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


class DrawnGate:
    """Sleeps the drawn duration of the newest task in the tree; red for the red tasks."""

    name = "bench"

    def __init__(self, durations: dict[str, float], red: set[str]) -> None:
        self.durations = durations
        self.red = red
        self.runs = 0

    async def check(self, workspace: Path) -> GateResult:
        self.runs += 1
        out = await asyncio.to_thread(
            subprocess.run,
            ["git", "log", "-1", "--format=%s"],
            cwd=workspace,
            capture_output=True,
            text=True,
            check=True,
        )
        task = out.stdout.strip().removeprefix("Task ")
        await asyncio.sleep(self.durations[task])
        bad = task in self.red
        return GateResult(gate=self.name, passed=not bad, summary="red" if bad else "ok")


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench\n")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "base"],
    ):
        subprocess.run(argv, cwd=path, env=GIT_ENV, check=True, capture_output=True)


async def run_queue(
    root: Path, label: str, tasks: list[str], window: int, gate: DrawnGate
) -> dict[str, float]:
    repo = root / label
    make_repo(repo)
    ws = GitWorkspaces(repo, label, root / f"{label}-wt")
    await ws.start()
    commits = []
    for task in tasks:
        wt = await ws.add_worktree(f"t-{task}", ws.integration_tip())
        (wt / f"{task}.txt").write_text(task + "\n")
        commit = await ws.commit_all(wt, f"Task {task}")
        assert commit is not None
        await ws.remove_worktree(wt)
        commits.append((task, commit))
    queue = MergeQueue(ws, [gate], lambda e: None, window=window)

    async def one(i: int, task: str, commit: str) -> bool:
        await asyncio.sleep(0.0005 * i)
        return (await queue.submit(task, 1, commit, f"Task {task}")).merged

    started = time.monotonic()
    merged = await asyncio.gather(*(one(i, t, c) for i, (t, c) in enumerate(commits)))
    elapsed = time.monotonic() - started
    await ws.cleanup()
    return {
        "seconds": round(elapsed, 3),
        "merged": sum(merged),
        "refused": len(merged) - sum(merged),
        "gate_runs": gate.runs,
        "discarded": queue.discarded,
        "tasks_per_minute": round(60 * len(tasks) / elapsed, 2),
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    tasks = [f"t{i:02d}" for i in range(args.tasks)]
    durations = {t: rng.lognormvariate(0, args.sigma) * args.median for t in tasks}
    red = {t for t in tasks if rng.random() < args.red}
    root = Path(tempfile.mkdtemp(prefix="shopfloor-bench-mq-"))
    try:
        serial = await run_queue(root, "serial", tasks, 1, DrawnGate(durations, red))
        speculative = await run_queue(
            root, "speculative", tasks, args.window, DrawnGate(durations, red)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "tasks": args.tasks,
        "window": args.window,
        "gate_seconds_total": round(sum(durations.values()), 3),
        "red_tasks": sorted(red),
        "serial": serial,
        "speculative": speculative,
        "speedup": round(serial["seconds"] / speculative["seconds"], 2),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--median", type=float, default=0.3, help="median gate seconds")
    parser.add_argument("--sigma", type=float, default=0.5, help="lognormal sigma")
    parser.add_argument("--red", type=float, default=0.1, help="share of red merges")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.window < 1 or args.median <= 0 or not 0 <= args.red < 1:
        parser.error("need --tasks >= 1, --window >= 1, --median > 0 and 0 <= --red < 1")
    return args


if __name__ == "__main__":
    options = parse()
    report = asyncio.run(main(options))
    if options.json:
        print(json.dumps(report))
    else:
        s, p = report["serial"], report["speculative"]
        assert isinstance(s, dict) and isinstance(p, dict)
        print(
            f"{report['tasks']} tasks, gates {report['gate_seconds_total']}s in total, "
            f"red: {', '.join(str(t) for t in report['red_tasks']) or 'none'}"  # type: ignore[attr-defined]
        )
        print(f"serial      : {s['seconds']:.2f}s  ({s['tasks_per_minute']} tasks/min)")
        print(
            f"speculative : {p['seconds']:.2f}s  ({p['tasks_per_minute']} tasks/min, "
            f"window {report['window']}, {p['discarded']} discarded)"
        )
        print(f"speedup     : {report['speedup']}x")
