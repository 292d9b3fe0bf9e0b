"""The benchmarks refuse a count that makes no sense on the command line, in argparse's one
line, instead of failing deep inside a measurement with a traceback."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = [
    ("scheduler", ["--overhead-tasks", "0"], "--overhead-tasks: must be at least 1: '0'"),
    ("scheduler", ["--overhead-runs", "-2"], "--overhead-runs: must be at least 1: '-2'"),
    ("scheduler", ["--seeds", "0"], "--seeds: must be at least 1: '0'"),
    ("tui", ["--agents", "0"], "--agents: must be at least 1: '0'"),
    ("tui", ["--lines", "0"], "--lines: must be at least 1: '0'"),
    ("tui", ["--rounds", "0"], "--rounds: must be at least 1: '0'"),
    ("tui", ["--others", "-1"], "--others: must not be negative: '-1'"),
    ("tui", ["--agents", "many"], "--agents: not a whole number: 'many'"),
    ("context", ["--budget", "-1"], "--budget: must not be negative: '-1'"),
    ("context_cost", ["--files", "0"], "--files: must be at least 1: '0'"),
    ("context_cost", ["--repo", "/nowhere"], "--repo: not a git checkout: /nowhere"),
    ("_big_plan", ["--out", "x", "--chains", "0"], "--chains: must be at least 1: '0'"),
    ("retries", ["--tasks", "0"], "--tasks: must be at least 1: '0'"),
    ("_big_plan", ["--out", "x", "--tasks", "3", "--chains", "3"], "--tasks: must be at least"),
]


@pytest.mark.parametrize(("bench", "argv", "expected"), CASES, ids=[" ".join(c[1]) for c in CASES])
def test_a_bench_refuses_a_meaningless_count(
    bench: str, argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main = importlib.import_module(f"bench.{bench}").main
    with pytest.raises(SystemExit) as info:
        result = main(argv)
        if inspect.iscoroutine(result):  # bench/tui.py's main is async; it parses first
            result.send(None)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_a_flood_too_short_for_a_key_press_reports_no_latency_rather_than_failing() -> None:
    from bench.tui import median, p95

    assert median([]) != median([])  # NaN, like p95 of no samples
    assert p95([]) != p95([]) and median([3.0, 1.0, 2.0]) == 2.0


def test_the_overhead_bench_runs_the_real_factory_to_its_end(capsys: pytest.CaptureFixture[str]):
    """The bench's in-memory workspaces stand in for GitWorkspaces: when the engine calls
    them differently (``commit_all(..., note=...)``), the bench failed only when someone ran
    it. A few tasks through it here keep the stand-in honest."""
    import json

    main = importlib.import_module("bench.scheduler").main
    main(["--only-overhead", "--overhead-tasks", "20", "--overhead-runs", "1", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["overhead"]["tasks"] == 20 and printed["overhead_us_per_task"] > 0


def test_the_cases_with_retries_are_the_same_graphs_with_longer_tasks() -> None:
    """The retried cases must differ from the plain ones in the tasks' times alone: the same
    graph draw, each task's time at least its first attempt's."""
    import random

    from engine.dag import Dag

    bench = importlib.import_module("bench.scheduler")
    plain_rng, retried_rng = random.Random("7-layered"), random.Random("7-layered")
    plain_dag = Dag.build(bench.layered(200, plain_rng))
    retried_dag = Dag.build(bench.layered(200, retried_rng))
    assert plain_dag.order == retried_dag.order
    plain = bench.latencies(plain_dag, random.Random(1))
    retried = bench.latencies(retried_dag, random.Random(1), bench.RETRY_RATE)
    assert all(retried[t] >= plain[t] for t in plain_dag.order[:1])  # the first draw agrees
    assert sum(retried.values()) > sum(plain.values())
    assert bench.latencies(plain_dag, random.Random(1), 0.0) == plain


def _events(*rows: tuple[str, dict[str, object]]) -> list[dict[str, object]]:
    return [{"type": kind, **fields} for kind, fields in rows]


def test_the_retries_bench_counts_each_attempts_tokens_from_the_log() -> None:
    """Task a fails once (its first attempt 100 tokens, the retry 150 with its reviewer's
    50), task b passes at once (200): one clean pass is 200 + 200 tokens, the retry 200."""
    from bench.retries import measure

    def call(agent: str, tokens: int) -> tuple[str, dict[str, object]]:
        return ("LLMCallFinished", {"agent_id": agent, "input_tokens": tokens, "simulated": True})

    def agent(agent_id: str, task: str | None, attempt: int) -> tuple[str, dict[str, object]]:
        return ("AgentStarted", {"agent_id": agent_id, "task_id": task, "attempt": attempt})

    events = _events(
        agent("planner", None, 0),
        call("planner", 1000),
        agent("engineer:a:a1", "a", 1),
        call("engineer:a:a1", 60),
        call("engineer:a:a1", 40),
        agent("engineer:b:a1", "b", 1),
        call("engineer:b:a1", 200),
        ("Merged", {"task_id": "b", "attempt": 1}),
        agent("engineer:a:a2", "a", 2),
        call("engineer:a:a2", 150),
        agent("task_reviewer:a:a2", "a", 2),
        call("task_reviewer:a:a2", 50),
        ("Merged", {"task_id": "a", "attempt": 2}),
        ("RunFinished", {"outcome": "shipped"}),
    )
    case = measure("two", events)
    assert (case["tasks"], case["attempts"], case["retries"]) == (2, 3, 1)
    assert (case["pass_tokens"], case["retry_tokens"], case["run_tokens"]) == (400, 200, 1500)
    assert case["savings_vs_whole_project_retry"] == 0.5 and case["retry_growth"] == 2.0
    assert case["failed_share"] == round(100 / 1500, 4)
    assert case["retried_tasks"] == {"a": [100, 200]}
    with pytest.raises(SystemExit, match="failed, not shipped"):
        measure("red", [*events[:-1], {"type": "RunFinished", "outcome": "failed"}])
