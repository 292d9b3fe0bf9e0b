"""bench/_big_plan.py's generated plan is one the SIM can play: the playbook loads, the DAG has
the shape its docstring promises, the scripted code passes its scripted tests, and exactly the
tasks meant to fail their first attempt do, on the gate they are meant to fail; the two roots
that edit the same line retry on a merge conflict with both their names; the two that add
test modules of one name fail together and retry by moving theirs to their own names.

(Playing the whole 36-task plan through the CLI takes 60-80 s on two busy cores, too slow for
the suite: bench/_big_plan.py's docstring says how to run it.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from agents.playbook import Playbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._big_plan import depth, write_plan


def _files(attempt: dict[str, object]) -> dict[str, str]:
    return {
        call["args"]["path"]: call["args"]["content"]
        for turn in attempt["turns"]  # type: ignore[attr-defined]
        for call in turn["calls"]
        if call["tool"] == "write_file"
    }


def _pytest(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_generated_plan_is_playable_and_fails_where_it_means_to(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, 36)
    book = Playbook.load(tmp_path / "playbook.yaml")
    assert book.blueprint is not None and len(book.blueprint.tasks) == 36
    assert depth(plan) == 13  # three chains interleaved, plus the seeded extra edges
    assert max(len(d) for d in plan.deps.values()) >= 3  # fan-in
    assert sum("m00" in d for d in plan.deps.values()) >= 5  # fan-out
    assert sorted(plan.fails.values()) == ["lint", "tests", "tests"]

    raw = yaml.safe_load((tmp_path / "playbook.yaml").read_text())["engineer"]
    repo = tmp_path / "repo"
    for task in plan.deps:  # the last attempt of every task: what lands
        for path, text in _files(raw[task]["attempts"][-1]).items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
    assert "40 passed" in _pytest(repo).stdout  # one per task, two roots', two extra modules

    for task, gate in plan.fails.items():
        first = raw[task]["attempts"][0]
        retry = raw[task]["attempts"][1]
        files = _files(first)
        assert retry["expect_in_prompt"] == [
            f"test_value_{task[1:]}" if gate == "tests" else "F401"
        ]
        source = files[f"mesh/{task}.py"]
        if gate == "lint":
            assert "import os\n" in source
        else:
            (repo / f"mesh/{task}.py").write_text(source)
            result = _pytest(repo).stdout
            assert f"FAILED tests/test_{task}.py::test_value_{task[1:]} - assert" in result
            (repo / f"mesh/{task}.py").write_text(_files(retry)[f"mesh/{task}.py"])

    for task in plan.conflicting:
        first, retry = raw[task]["attempts"]
        assert "ROOT_TASKS = ['" + task + "']" in _files(first)["mesh/__init__.py"]
        assert retry["expect_in_prompt"] == ["Merge conflict"]
        assert "ROOT_TASKS = ['m01', 'm02']" in _files(retry)["mesh/__init__.py"]

    extra = [_files(raw[t]["attempts"][0])[f"tests/extra_{t}/test_extra.py"] for t in plan.clashing]
    for task, text in zip(plan.clashing, extra, strict=True):
        (repo / f"tests/extra_{task}/test_extra.py").write_text(text)
        assert raw[task]["attempts"][1]["expect_in_prompt"] == ["import file mismatch"]
    assert "import file mismatch" in _pytest(repo).stdout

    # A retry's worktree holds the tests its failed attempt wrote (engine.carried_tests): the
    # retry moves its clashing module to its own name, as pytest asks, and the tree is green.
    task = plan.clashing[1]
    for turn in raw[task]["attempts"][1]["turns"]:
        for call in turn["calls"]:
            if call["tool"] == "run":
                subprocess.run(call["args"]["argv"], cwd=repo, check=True)
            elif call["tool"] == "write_file":
                (repo / call["args"]["path"]).parent.mkdir(parents=True, exist_ok=True)
                (repo / call["args"]["path"]).write_text(call["args"]["content"])
    assert not (repo / f"tests/extra_{task}/test_extra.py").exists()
    assert "41 passed" in _pytest(repo).stdout  # and the first clashing task's extra module
