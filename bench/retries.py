"""Benchmark: what an error costs — a task's retry against seed 000's whole-project redo.

Seed 000 moved from one model call for the whole project to a DAG "with per-file retry" and
reports "up to 70% token savings on errors". Here a failure costs a retry of the one task
that failed, with its failure's context in the prompt. This bench runs real factories
headless (the SIM provider, labelled SIM, with real prompts, git worktrees, gates and merge
queue; the SIM counts tokens from the text it is sent and sends, four characters a token)
and reads every model call's tokens from the stored event log, per task attempt:

- ``pass_tokens``: one clean pass of the build, the tokens of each task's merged attempt
  (engineer and task reviewer) — what redoing the whole project costs once;
- ``retry_tokens``: the tokens of every attempt after a failed one (the errors' cost here);
- ``savings_vs_whole_project_retry``: 1 - retry_tokens / (retries x pass_tokens), against
  redoing the whole build once per error, as a single-call generator must;
- ``retry_growth``: the median, over the retries, of a retry's tokens over the failed
  attempt's (the failure's context a retry carries, and its extra turns);
- ``failed_share``: the failed attempts' tokens over the whole run's (critic to judge).

Cases: the bundled inventory demo (6 tasks; pricing's first attempt has a rounding bug its
tests catch) and a generated plan (bench/_big_plan.py: first attempts failing the tests and
lint gates, a merge conflict, a test-module clash).

Usage: python bench/retries.py [--json] [--tasks N] [--speed X]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._big_plan import write_plan  # noqa: E402
from tui.argtypes import positive_float, positive_int  # noqa: E402

SEED_000_CLAIM = "up to 70% token savings on errors (retry per file instead of entire project)"


def shopfloor(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"shopfloor {args[0]} exited {proc.returncode}: " + " | ".join(tail))
    return proc.stdout


def events_of(db: str, env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    listed = json.loads(shopfloor(["runs", "--json", "--limit", "1", "--db", db], env, cwd))
    rows = listed["runs"] if isinstance(listed, dict) else listed
    run_id = rows[0]["run_id"]
    out = shopfloor(["export", run_id, "--db", db], env, cwd)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def measure(name: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens per task attempt, from the stored events alone."""
    owner: dict[str, tuple[str, int] | None] = {}
    per_attempt: dict[tuple[str, int], int] = defaultdict(int)
    total = 0
    merged: dict[str, int] = {}
    outcome = ""
    simulated = False
    for e in events:
        kind = e["type"]
        if kind == "AgentStarted":
            task = e.get("task_id")
            owner[e["agent_id"]] = (task, int(e.get("attempt") or 0)) if task else None
            simulated = simulated or bool(e.get("simulated"))
        elif kind == "LLMCallFinished":
            tokens = (
                e.get("input_tokens", 0)
                + e.get("cache_read_tokens", 0)
                + e.get("cache_write_tokens", 0)
                + e.get("output_tokens", 0)
            )
            total += tokens
            key = owner.get(e["agent_id"])
            if key is not None:
                per_attempt[key] += tokens
        elif kind == "Merged":
            merged[e["task_id"]] = int(e["attempt"])
        elif kind == "RunFinished":
            outcome = e.get("outcome", "")
    if outcome != "shipped":
        raise SystemExit(f"{name}: the run ended {outcome or 'without finishing'}, not shipped")
    pass_tokens = sum(per_attempt[(task, attempt)] for task, attempt in merged.items())
    retried = [(t, a) for (t, a) in per_attempt if a > 1]
    retry_tokens = sum(per_attempt[key] for key in retried)
    failed = [(t, a) for (t, a) in per_attempt if a < merged.get(t, 0)]
    growth = [per_attempt[(t, a)] / per_attempt[(t, a - 1)] for t, a in retried]
    whole = len(retried) * pass_tokens
    return {
        "name": name,
        "simulated": simulated,
        "tasks": len(merged),
        "attempts": len(per_attempt),
        "retries": len(retried),
        "run_tokens": total,
        "pass_tokens": pass_tokens,
        "retry_tokens": retry_tokens,
        "whole_project_retry_tokens": whole,
        "savings_vs_whole_project_retry": round(1 - retry_tokens / whole, 4) if whole else None,
        "retry_growth": round(statistics.median(growth), 3) if growth else None,
        "failed_share": round(sum(per_attempt[k] for k in failed) / total, 4) if total else None,
        # Each retried task's tokens, attempt by attempt.
        "retried_tasks": {
            t: [per_attempt[(t, a)] for a in range(1, merged[t] + 1)]
            for t in sorted({t for t, _ in retried})
        },
    }


def run_demo(work: Path, env: dict[str, str], speed: str) -> dict[str, Any]:
    db = f"sqlite+aiosqlite:///{work / 'demo.db'}"
    shopfloor(["demo", "--out", str(work / "demo"), "--speed", speed, "--db", db], env, ROOT)
    return measure("inventory-demo", events_of(db, env, ROOT))


def run_plan(work: Path, env: dict[str, str], tasks: int, speed: str) -> dict[str, Any]:
    out = work / f"mesh-{tasks}"
    write_plan(out, tasks)
    db = f"sqlite+aiosqlite:///{work / 'plan.db'}"
    shopfloor(
        [
            "run",
            "--repo",
            str(out / "repo"),
            "--request-file",
            str(out / "request.md"),
            "--playbook",
            str(out / "playbook.yaml"),
            "--config",
            str(out / "shopfloor.toml"),
            "--speed",
            speed,
            "--db",
            db,
        ],
        env,
        out,
    )
    return measure(f"generated-{tasks}", events_of(db, env, out))


def line(c: dict[str, Any]) -> str:
    return (
        f"{c['name']:>16} {'SIM ' if c['simulated'] else ''}{c['tasks']} tasks,"
        f" {c['retries']} retries: a retry {c['retry_tokens'] / max(1, c['retries']):,.0f} tokens"
        f" vs a whole-build redo {c['pass_tokens']:,} -> savings"
        f" {c['savings_vs_whole_project_retry']:.1%} (seed 000: up to 70%);"
        f" a retry x{c['retry_growth']:.2f} its failed attempt;"
        f" failed attempts {c['failed_share']:.1%} of the run's tokens"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON report only")
    parser.add_argument("--tasks", type=positive_int, default=18, help="the generated plan's")
    parser.add_argument("--speed", type=positive_float, default=1000.0, help="SIM latency divisor")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shopfloor-bench-retries-") as tmp:
        work = Path(tmp)
        # Its own data directory and git identity: nothing of the user's is read or written.
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(work / "data"),
            "XDG_CONFIG_HOME": str(work / "config"),
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@shopfloor.invalid",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@shopfloor.invalid",
        }
        env.pop("SHOPFLOOR_DB", None)
        speed = str(args.speed)
        cases = [run_demo(work, env, speed), run_plan(work, env, args.tasks, speed)]
    report = {"cases": cases, "seed_000": SEED_000_CLAIM}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for c in cases:
            print(line(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
