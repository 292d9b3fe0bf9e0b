"""Benchmark: re-running the gates on an unchanged tree, with the gate cache vs without; and
a first (uncached) run of the set one gate after another vs as engine.gate_runner runs it.

A small real Python repository is generated and committed; the Python profile's gates (ruff,
pytest, bandit, detect-secrets, vulture, shrinkage) run on it through the process sandbox.
Each cache mode runs the set twice; what is compared is the second run — the one a retry, a
merge of an unchanged tree or the final verification does in a real run. The serial and
overlapped runs alternate (``--rounds`` pairs) and their medians are compared.

    python bench/gates.py [--modules 20] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``gates`` package: drop the folder so the real package is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from engine.gate_runner import run_gates  # noqa: E402
from engine.protocols import Gate  # noqa: E402
from gates.cache import GateCache  # noqa: E402
from gates.config import GatesConfig  # noqa: E402
from gates.profiles import build_gates  # noqa: E402
from gates.sandbox import ProcessSandbox  # noqa: E402

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@shopfloor.invalid",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}

MODULE = '''"""Module {i}."""


def total_{i}(values: list[int]) -> int:
    """Sum of values plus {i}."""
    return sum(values) + {i}
'''

TEST = """from pkg.mod{i} import total_{i}


def test_total_{i}() -> None:
    assert total_{i}([1, 2]) == {expected}
"""


def make_repo(path: Path, modules: int) -> None:
    (path / "pkg").mkdir(parents=True)
    (path / "tests").mkdir()
    (path / "pyproject.toml").write_text(
        '[project]\nname = "bench"\nversion = "0"\n[tool.pytest.ini_options]\npythonpath = ["."]\n'
    )
    (path / "pkg" / "__init__.py").write_text("")
    for i in range(modules):
        (path / "pkg" / f"mod{i}.py").write_text(MODULE.format(i=i))
        (path / "tests" / f"test_mod{i}.py").write_text(TEST.format(i=i, expected=3 + i))
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "base"],
    ):
        subprocess.run(argv, cwd=path, env=GIT_ENV, check=True, capture_output=True)


async def timed_run(gates: list[Gate], repo: Path) -> tuple[float, bool]:
    started = time.monotonic()
    results = [await gate.check(repo) for gate in gates]
    return time.monotonic() - started, all(r.passed for r in results)


async def overlapped_run(gates: list[Gate], repo: Path) -> tuple[float, bool]:
    started = time.monotonic()
    results = await run_gates(gates, repo, scope="task", emit=lambda event: None)
    return time.monotonic() - started, all(r.passed for r in results)


async def main(args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="shopfloor-bench-gates-"))
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        repo = root / "repo"
        make_repo(repo, args.modules)
        env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        plain = build_gates(repo, GatesConfig(), sandbox, test_env=env).task
        cache = GateCache()
        cached = build_gates(repo, GatesConfig(), sandbox, test_env=env, cache=cache).task
        first_plain, ok_plain = await timed_run(plain, repo)
        again_plain, _ = await timed_run(plain, repo)
        first_cached, ok_cached = await timed_run(cached, repo)
        again_cached, _ = await timed_run(cached, repo)
        serial: list[float] = []
        overlapped: list[float] = []
        for _ in range(args.rounds):  # alternated: the machine's load hits both alike
            serial.append((await timed_run(plain, repo))[0])
            overlapped.append((await overlapped_run(plain, repo))[0])
    finally:
        sandbox.close()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "gates": [g.name for g in plain],
        "modules": args.modules,
        "all_passed": ok_plain and ok_cached,
        "without_cache": {"first_s": round(first_plain, 3), "rerun_s": round(again_plain, 3)},
        "with_cache": {"first_s": round(first_cached, 3), "rerun_s": round(again_cached, 3)},
        "cache": cache.stats(),
        "rerun_speedup": round(again_plain / max(again_cached, 1e-6), 1),
        "first_run": {
            "rounds": args.rounds,
            "serial_median_s": round(statistics.median(serial), 3),
            "overlapped_median_s": round(statistics.median(overlapped), 3),
            "speedup": round(
                statistics.median(serial) / max(statistics.median(overlapped), 1e-6), 2
            ),
        },
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=20, help="modules (and tests) generated")
    parser.add_argument("--rounds", type=int, default=3, help="serial/overlapped pairs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.modules < 1 or args.rounds < 1:
        parser.error("--modules and --rounds must be at least 1")
    return args


if __name__ == "__main__":
    options = parse()
    report = asyncio.run(main(options))
    if options.json:
        print(json.dumps(report))
    else:
        plain, cached = report["without_cache"], report["with_cache"]
        assert isinstance(plain, dict) and isinstance(cached, dict)
        print(f"gates: {', '.join(report['gates'])}  ({report['modules']} modules)")  # type: ignore[arg-type]
        print(f"without cache: first {plain['first_s']:.2f}s, re-run {plain['rerun_s']:.2f}s")
        print(f"with cache   : first {cached['first_s']:.2f}s, re-run {cached['rerun_s']:.3f}s")
        print(f"re-run speedup: {report['rerun_speedup']}x  cache {report['cache']}")
        first = report["first_run"]
        assert isinstance(first, dict)
        print(
            f"first run, median of {first['rounds']}: one by one {first['serial_median_s']:.2f}s,"
            f" overlapped {first['overlapped_median_s']:.2f}s  ({first['speedup']}x)"
        )
