"""A generated plan of N tasks, the size users run overnight, for the SIM provider.

It writes a seed repository (a git repository holding an empty ``mesh`` package), a request,
a shopfloor.toml and a playbook whose blueprint has N tasks in a DAG: a few roots that fan out,
fan-in tasks that need three others, interleaved chains N/3 long. Task ``mNN`` writes
``mesh/mNN.py`` (``value_NN()``: its number plus its dependencies' values) and
``tests/test_mNN.py``; each engineer turn is scripted as the bundled playbooks script them:
the test first, a red run, the code, a green run, finish. A few tasks fail their first attempt
on a gate (a wrong value the tests gate catches, an unused import the lint gate catches), and
two roots edit the same line of ``mesh/__init__.py``, so the one that lands second conflicts in
the merge queue, and two tasks add test modules of one name, so the later one's tests fail
("import file mismatch"); each retry plays only when the failure reached the engineer's prompt.

A generator, not a side-by-side benchmark (so ``make bench`` skips it): run the plan it writes
and time it. Measured on two shared cores (load 3-7), headless, --speed 1000: 36 tasks ship in
62-81 s (peak RSS 96 MB, 2,210 events, 0.9 MB of SQLite), 72 tasks in 3 min 47 s (100 MB,
4,226 events, 1.7 MB); a task on the critical path takes about 4 s (engineer 1.3, task gates
1.9, merge 1.0) at task 5 as at task 65, so the wall time is the longest chain times that.

    python bench/_big_plan.py --tasks 36 --out DIR [--chains 3] [--seed 7]
    shopfloor run --repo DIR/repo --request-file DIR/request.md --playbook DIR/playbook.yaml \
        --config DIR/shopfloor.toml --speed 1000
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the packages, not bench/tui.py

from tui.argtypes import positive_int

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@shopfloor.invalid",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
MODULUS = 1009

SEED_FILES = {
    "README.md": "# mesh\n\nA generated package: each module adds its number to its "
    "dependencies' values.\nRun the tests with `python -m pytest`.\n",
    ".gitignore": "__pycache__/\n*.pyc\n.pytest_cache/\n.shopfloor/\n",
    "pyproject.toml": '[project]\nname = "mesh"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    'dependencies = []\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
    "mesh/__init__.py": '"""A generated package of small modules."""\n',
}
CONFIG = """\
[engine]
workers = 4
max_attempts = 3

[gates]
pytest_autoload_plugins = false
test_timeout_s = 300
"""


@dataclass(frozen=True)
class Plan:
    """The generated DAG: each task's dependencies, value, and how its first attempt fails."""

    deps: dict[str, list[str]]
    values: dict[str, int]
    fails: dict[str, str]
    """Task id -> "tests" or "lint": the gate its first attempt fails."""
    conflicting: tuple[str, str] = ("m01", "m02")
    clashing: tuple[str, str] = ("m03", "m04")
    """Two tasks that each add tests/extra_<task>/test_extra.py: each tree passes alone, but
    pytest refuses two test modules of one name ("import file mismatch"): the second is red on
    the merged tree, or on its own when it starts after the first landed (m04 waits on m01,
    whose conflict usually delays it); its retry moves its file to a name of the task's own (the
retry's worktree holds the tests the failed attempt wrote: the engine keeps them)."""
    """Two roots that both edit mesh/__init__.py's one line: whichever lands second
    conflicts in the merge queue, and its retry, on the new tip, writes both names."""


def name(i: int) -> str:
    return f"m{i:02d}"


def make_plan(tasks: int, seed: int = 7, chains: int = 3) -> Plan:
    """``chains`` roots (m00, m01, ...); every later task extends the chain ``chains`` back
    (so chains are about tasks/chains long), the first ones also hang off m00 (fan-out),
    every sixth joins the two before it too (fan-in), and a seeded third also takes a random
    earlier task."""
    if tasks < 12:  # the failing, conflicting and clashing tasks are distinct from m12 on
        raise ValueError(f"a plan needs at least 12 tasks, got {tasks}")
    if chains < 1 or tasks < chains + 1:
        raise ValueError(f"a plan of {chains} chain(s) needs at least {chains + 1} tasks")
    rng = random.Random(seed)
    deps: dict[str, list[str]] = {}
    values: dict[str, int] = {}
    for i in range(tasks):
        picked: set[int] = set()
        if i >= chains:
            picked.add(i - chains)
            if i < 2 * chains + 3:
                picked.add(0)
            if i % 6 == 0:
                picked.update((i - 1, i - 2))
            if rng.random() < 0.33:
                picked.add(rng.randrange(i))
        deps[name(i)] = [name(j) for j in sorted(picked)]
        values[name(i)] = (i + sum(values[d] for d in deps[name(i)])) % MODULUS
    ids = list(deps)
    fails = {ids[len(ids) // 3]: "tests", ids[len(ids) // 2]: "lint"}
    fails[ids[-4]] = "tests"
    return Plan(deps, values, fails)


def module_source(task: str, plan: Plan, *, wrong: bool = False, unused: bool = False) -> str:
    number = int(task[1:])
    deps = plan.deps[task]
    lines = [f'"""Module {number} of the generated plan."""', ""]
    if unused:
        lines.append("import os")
    lines += [f"from mesh.{d} import value_{d[1:]}" for d in deps]
    if unused or deps:
        lines.append("")
    terms = " + ".join([str(number + (1 if wrong else 0)), *(f"value_{d[1:]}()" for d in deps)])
    lines += [
        "",
        f"def value_{task[1:]}() -> int:",
        f'    """{number} plus the values of its dependencies, modulo {MODULUS}."""',
        f"    return ({terms}) % {MODULUS}",
        "",
    ]
    return "\n".join(lines)


def test_source(task: str, plan: Plan) -> str:
    suffix = task[1:]
    source = (
        f"from mesh.{task} import value_{suffix}\n\n\n"
        f"def test_value_{suffix}():\n"
        f"    assert value_{suffix}() == {plan.values[task]}\n"
    )
    if task in plan.conflicting:
        source = f"import mesh\n{source}\n\ndef test_{task}_is_a_root():\n"
        source += f'    assert "{task}" in mesh.ROOT_TASKS\n'
    return source


def package_source(roots: Sequence[str]) -> str:
    """mesh/__init__.py as a conflicting task writes it."""
    return f"{SEED_FILES['mesh/__init__.py']}\nROOT_TASKS = {list(roots)!r}\n"


def extra_test_path(task: str, *, renamed: bool) -> str:
    """The second test file of a clashing task: one name for both at first, then its own."""
    return f"tests/extra_{task}/test_extra{'_' + task if renamed else ''}.py"


def _attempt(
    task: str,
    plan: Plan,
    *,
    wrong: bool = False,
    unused: bool = False,
    roots: Sequence[str] = (),
    renamed: bool = False,
) -> list[Any]:
    test_path, code_path = f"tests/test_{task}.py", f"mesh/{task}.py"
    run = {"tool": "run_tests", "args": {"args": [test_path]}}
    tests = [
        {"tool": "write_file", "args": {"path": test_path, "content": test_source(task, plan)}}
    ]
    if task in plan.clashing:
        extra = f"from mesh.{task} import value_{task[1:]}\n\n\ndef test_extra():\n"
        extra += f"    assert value_{task[1:]}() >= 0\n"
        if renamed:  # moved: the retry's worktree holds the first attempt's tests
            old = extra_test_path(task, renamed=False)
            tests.append({"tool": "run", "args": {"argv": ["rm", "-f", old]}})
        tests.append(
            {
                "tool": "write_file",
                "args": {"path": extra_test_path(task, renamed=renamed), "content": extra},
            }
        )
    code = [
        {
            "tool": "write_file",
            "args": {
                "path": code_path,
                "content": module_source(task, plan, wrong=wrong, unused=unused),
            },
        }
    ]
    if roots:
        code.append(
            {
                "tool": "write_file",
                "args": {"path": "mesh/__init__.py", "content": package_source(roots)},
            }
        )
    return [
        {
            "say": f"Tests first: value_{task[1:]}() is {plan.values[task]}.",
            "calls": tests,
        },
        {"say": f"Red run: mesh.{task} does not exist yet.", "calls": [run]},
        {
            "say": "Failing on the missing module, as expected. Writing it.",
            "calls": code,
        },
        {"say": "Re-running the test.", "calls": [run]},
        {
            "say": "Done.",
            "calls": [
                {
                    "tool": "finish",
                    "args": {"summary": f"Added {code_path} and {test_path}."},
                }
            ],
        },
    ]


def playbook(plan: Plan) -> dict[str, Any]:
    """The playbook as YAML-ready data: blueprint and the engineer's scripts."""
    tasks = [
        {
            "id": task,
            "title": f"Module {task}",
            "description": f"mesh/{task}.py: value_{task[1:]}() returns {int(task[1:])} plus "
            f"the values of {', '.join(deps) or 'nothing'}, modulo {MODULUS}.",
            "depends_on": deps,
            "files": [f"mesh/{task}.py", f"tests/test_{task}.py"],
            "test_plan": f"value_{task[1:]}() equals {plan.values[task]}.",
        }
        for task, deps in plan.deps.items()
    ]
    engineer: dict[str, Any] = {}
    for task in plan.deps:
        kind = plan.fails.get(task)
        if task in plan.conflicting:
            first = _attempt(task, plan, roots=[task])
            expect = "Merge conflict"
            retry = _attempt(task, plan, roots=plan.conflicting)
        elif task in plan.clashing:
            first = _attempt(task, plan)
            expect = "import file mismatch"
            retry = _attempt(task, plan, renamed=True)
        elif kind is not None:
            first = _attempt(task, plan, wrong=kind == "tests", unused=kind == "lint")
            expect = f"test_value_{task[1:]}" if kind == "tests" else "F401"
            retry = _attempt(task, plan)
        else:
            engineer[task] = {"attempts": [{"turns": _attempt(task, plan)}]}
            continue
        engineer[task] = {
            "attempts": [{"turns": first}, {"expect_in_prompt": [expect], "turns": retry}]
        }
    return {
        "name": f"mesh-{len(plan.deps)}",
        "mode": "create",
        "timing": {"median_s": 0.8, "sigma": 0.35, "seed": 7},
        "blueprint": {
            "spec": f"A package, mesh, of {len(plan.deps)} small modules; each module's value "
            "is its number plus its dependencies' values. Standard library only; every module "
            "has its own pytest file.",
            "acceptance_criteria": ["`python -m pytest` passes."],
            "tasks": tasks,
        },
        "engineer": engineer,
    }


def write_plan(out: Path, tasks: int, seed: int = 7, chains: int = 3) -> Plan:
    """Write ``out``/repo (a git repository), request.md, shopfloor.toml and playbook.yaml."""
    plan = make_plan(tasks, seed, chains)
    repo = out / "repo"
    for path, text in SEED_FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "Seed of the generated plan"],
    ):
        subprocess.run(argv, cwd=repo, check=True, env=GIT_ENV, capture_output=True)
    (out / "request.md").write_text(
        f"Build mesh: {tasks} small modules, each adding its number to its dependencies' "
        "values, each with a pytest file.\n",
        encoding="utf-8",
    )
    (out / "shopfloor.toml").write_text(CONFIG, encoding="utf-8")
    (out / "playbook.yaml").write_text(
        yaml.safe_dump(playbook(plan), sort_keys=False, width=100), encoding="utf-8"
    )
    return plan


def depth(plan: Plan) -> int:
    """Tasks on the longest chain."""
    level: dict[str, int] = {}
    for task, deps in plan.deps.items():
        level[task] = 1 + max((level[d] for d in deps), default=0)
    return max(level.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=positive_int, default=36)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--chains", type=positive_int, default=3, help="roots, and interleaved chains"
    )
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    args = parser.parse_args(argv)
    if args.tasks < args.chains + 1:
        parser.error(f"--tasks: must be at least --chains + 1: {args.tasks!r}")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out: {args.out} is not empty")
    plan = write_plan(args.out, args.tasks, args.seed, args.chains)
    fan_out = max(sum(t in d for d in plan.deps.values()) for t in plan.deps)
    fan_in = max(len(d) for d in plan.deps.values())
    print(
        f"{args.tasks} tasks, longest chain {depth(plan)}, max fan-out {fan_out}, "
        f"max fan-in {fan_in}, first attempts failing: {plan.fails}"
    )


if __name__ == "__main__":
    main()
