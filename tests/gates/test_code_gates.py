"""The tool gates on tiny real repositories: each catches its problem with file and line, and
passes a clean tree."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gates.command_gate import CommandGate, NodeScriptGate
from gates.mypy_gate import MypyGate
from gates.python_tools import BanditGate, RuffGate, VultureGate
from gates.sandbox import ProcessSandbox
from gates.secrets_gate import SecretsGate
from gates.tool_gate import ReportFile, extract_json, located_lines

MakeRepo = Callable[[dict[str, str]], Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """Write files (dedented) into a new directory per call and return it."""
    made: list[Path] = []

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / f"repo{len(made)}"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        made.append(root)
        return root

    return make


CLEAN = {
    "pkg/__init__.py": "",
    "pkg/core.py": '''
        """Adds numbers."""


        def add(a: int, b: int) -> int:
            """Sum of two ints."""
            return a + b
    ''',
    "tests/test_core.py": """
        from pkg.core import add


        def test_add() -> None:
            assert add(1, 2) == 3
    """,
}


async def test_ruff_finds_a_lint_error_with_its_line(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({**CLEAN, "pkg/util.py": "import os\n\n\ndef f():\n    return undefined\n"})
    result = await RuffGate(process_sandbox).check(repo)
    assert not result.passed
    where = {(f.file, f.line, f.message.split()[0]) for f in result.findings}
    assert ("pkg/util.py", 1, "F401") in where
    assert ("pkg/util.py", 5, "F821") in where
    assert result.counts["findings"] == 2
    assert result.summary == (
        "2 lint problem(s) (ruff's classic rules E4,E7,E9,F: the repository configures no ruff)"
    )
    assert not (repo / ".ruff_cache").exists()


async def test_ruff_reports_and_leaves_the_code_alone_when_the_repo_says_fix(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # click's pyproject.toml has `fix = true` under [tool.ruff]: the gate's `ruff check`
    # removed the unused import from the tree it judged and said "clean".
    util = "import os\n\nX = 1\n"
    repo = make_repo({**CLEAN, "pyproject.toml": "[tool.ruff]\nfix = true\n", "pkg/util.py": util})
    result = await RuffGate(process_sandbox).check(repo)
    assert not result.passed
    assert [(f.file, f.line, f.message.split()[0]) for f in result.findings] == [
        ("pkg/util.py", 1, "F401")
    ]
    assert (repo / "pkg/util.py").read_text(encoding="utf-8") == util


async def test_ruff_passes_a_clean_repo(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    result = await RuffGate(process_sandbox).check(make_repo(CLEAN))
    assert result.passed, result.failure_context()
    assert result.summary.startswith("clean (ruff's classic rules E4,E7,E9,F")


MODERN = {
    "pkg/__init__.py": "",
    "pkg/opt.py": "from typing import Optional\nimport sys\n\n\ndef f(x: Optional[int]) -> None:\n"
    "    print(x, sys.argv)\n",
}
"""Code ruff's classic rules pass and its newer defaults do not (I001, UP045)."""


async def test_ruff_without_configuration_uses_the_classic_rules_not_hundreds(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # A repository with no ruff configuration got ruff's current defaults (some 400 rules):
    # 1,512 findings such as UP045 and I001 on a real one, which no task could clear.
    result = await RuffGate(process_sandbox).check(make_repo(MODERN))
    assert result.passed, result.failure_context()
    assert "classic rules E4,E7,E9,F" in result.summary


async def test_ruff_configured_anywhere_in_the_repo_keeps_its_own_rules(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    own = {**MODERN, "ruff.toml": "[lint]\nselect = ['UP']\n"}
    result = await RuffGate(process_sandbox).check(make_repo(own))
    assert [f.message.split()[0] for f in result.findings] == ["UP045"]
    assert result.summary == "1 lint problem(s)"
    # A monorepo project's own [tool.ruff]: a --select would override its selection.
    nested = {f"services/api/{k}": v for k, v in MODERN.items()}
    nested["services/api/pyproject.toml"] = "[tool.ruff.lint]\nselect = ['I']\n"
    result = await RuffGate(process_sandbox).check(make_repo(nested))
    assert [f.message.split()[0] for f in result.findings] == ["I001"]


async def test_mypy_finds_a_type_error(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    bad = 'def name(n: int) -> str:\n    return n\n\n\nx: int = "one"\n'
    repo = make_repo({**CLEAN, "pkg/bad.py": bad})
    result = await MypyGate(process_sandbox, timeout_s=120).check(repo)
    assert not result.passed
    found = {(f.file, f.line) for f in result.findings}
    assert found == {("pkg/bad.py", 2), ("pkg/bad.py", 5)}
    assert any("[return-value]" in f.message for f in result.findings)
    clean = await MypyGate(process_sandbox, timeout_s=120).check(make_repo(CLEAN))
    assert clean.passed, clean.failure_context()


async def test_bandit_blocks_shell_injection_but_not_low_noise(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    code = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    repo = make_repo({**CLEAN, "pkg/shell.py": code})
    result = await BanditGate(process_sandbox).check(repo)
    assert not result.passed
    first = result.findings[0]
    assert (first.file, first.line) == ("pkg/shell.py", 5)
    assert first.message.startswith("B602 (high severity")
    assert result.counts["advisory"] >= 1  # the subprocess import (low severity) is advisory
    clean = await BanditGate(process_sandbox).check(make_repo(CLEAN))
    assert clean.passed, clean.failure_context()


async def test_bandit_reads_the_repos_own_configuration(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # bandit reads [tool.bandit] only when given -c: a repository's exclude_dirs and skips
    # were ignored, and the gate failed on the folder its maintainers keep out.
    risky = (
        "import subprocess\n\n\ndef run(cmd: str) -> None:\n    subprocess.call(cmd, shell=True)\n"
    )
    config = """
        [tool.bandit]
        exclude_dirs = ["vendored"]
        skips = ["B101"]
    """
    asserted = "def check(x: int) -> None:\n    assert x\n"
    files = {"vendored/shell.py": risky, "pkg/check.py": asserted, "pyproject.toml": config}
    result = await BanditGate(process_sandbox, min_severity="low").check(
        make_repo({**CLEAN, **files})
    )
    assert result.passed, result.failure_context()
    assert result.findings == []


async def test_secrets_finds_a_hard_coded_key_without_printing_it(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    key = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    repo = make_repo({**CLEAN, "pkg/settings.py": f'AWS_ACCESS = "{key}"\n'})
    result = await SecretsGate(process_sandbox).check(repo)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("pkg/settings.py", 1)]
    assert "AWS Access Key" in result.findings[0].message
    assert key not in result.failure_context()
    clean = await SecretsGate(process_sandbox).check(make_repo(CLEAN))
    assert clean.passed, clean.failure_context()


async def test_a_pinned_commit_in_a_pre_commit_config_is_no_secret(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # click's .pre-commit-config.yaml pins each hook to a commit: four "Hex High Entropy
    # String" findings failed its audit's secrets gate. The same digest in code still counts.
    sha = hashlib.sha1(b"v0.15.9").hexdigest()
    config = f"""
        repos:
          - repo: https://example.org/ruff-pre-commit
            rev: {sha}  # frozen: v0.15.9
            hooks:
              - id: ruff
          - repo: https://example.org/hooks
            rev: "{sha}"
    """
    repo = make_repo(
        {**CLEAN, ".pre-commit-config.yaml": config, "pkg/token.py": f'TOKEN = "{sha}"\n'}
    )
    result = await SecretsGate(process_sandbox).check(repo)
    assert [(f.file, f.line) for f in result.findings] == [("pkg/token.py", 1)]


async def test_secrets_accepted_in_the_baseline_do_not_block(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    key = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    repo = make_repo({**CLEAN, "pkg/settings.py": f'AWS_ACCESS = "{key}"\n'})
    scan = await process_sandbox.run(["detect-secrets", "scan", "--all-files", "pkg"], repo)
    (repo / ".secrets.baseline").write_text(scan.output)
    result = await SecretsGate(process_sandbox).check(repo)
    assert result.passed, result.failure_context()
    assert result.counts["baseline"] == 1


async def test_vulture_finds_unreachable_code(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    code = "def f() -> int:\n    return 1\n    print('never')\n"
    repo = make_repo({**CLEAN, "pkg/dead.py": code})
    result = await VultureGate(process_sandbox).check(repo)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("pkg/dead.py", 3)]
    assert "unreachable code" in result.findings[0].message
    clean = await VultureGate(process_sandbox).check(make_repo(CLEAN))
    assert clean.passed, clean.failure_context()


async def test_vulture_reads_what_the_repo_excludes_and_scans(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # The gate's --exclude replaced [tool.vulture]'s: generated code the repository keeps
    # out of vulture was reported as dead code, and '.' read folders its paths leave out.
    dead = "def f() -> int:\n    return 1\n    print('never')\n"
    config = """
        [tool.vulture]
        exclude = ["pkg/generated/"]
        paths = ["pkg"]
    """
    files = {"pkg/generated/api.py": dead, "scripts/tool.py": dead, "pkg/dead.py": dead}
    repo = make_repo({**CLEAN, **files, "pyproject.toml": config})
    result = await VultureGate(process_sandbox).check(repo)
    assert [(f.file, f.line) for f in result.findings] == [("pkg/dead.py", 3)]
    loose = make_repo({**CLEAN, **files, "pyproject.toml": "[tool.vulture]\nmin_confidence = 90\n"})
    found = await VultureGate(process_sandbox).check(loose)
    assert {f.file for f in found.findings} == set(files)


async def test_custom_command_passes_on_exit_zero_and_locates_failures(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({**CLEAN, "docs/index.md": "# Docs\n"})
    script = "import sys; print('docs/index.md:1: heading too short'); sys.exit(2)"
    red = await CommandGate(process_sandbox, name="docs", argv=["python", "-c", script]).check(repo)
    assert not red.passed
    assert red.summary == "exit 2"
    assert red.findings[0].message.endswith("exited 2: docs/index.md:1: heading too short")
    assert (red.findings[1].file, red.findings[1].line) == ("docs/index.md", 1)
    green = await CommandGate(process_sandbox, name="ok", argv=["true"]).check(repo)
    assert green.passed and green.summary == "passed (exit 0)"


async def test_custom_command_that_is_missing_or_slow_fails_clearly(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo(CLEAN)
    missing = CommandGate(process_sandbox, name="x", argv=["no-such-tool-shopfloor"])
    result = await missing.check(repo)
    assert not result.passed
    assert result.summary == (
        "no-such-tool-shopfloor could not start: "
        "shopfloor sandbox: command not found: no-such-tool-shopfloor"
    )
    process_sandbox.kill_grace_s = 0.2
    slow = CommandGate(process_sandbox, name="slow", argv=["sleep", "30"], timeout_s=0.5)
    timed = await slow.check(repo)
    assert not timed.passed
    assert timed.summary == "sleep did not finish within 0.5s and was killed"


def test_bad_custom_gate_configuration_is_one_line(process_sandbox: ProcessSandbox) -> None:
    with pytest.raises(ValueError, match=r"^gate 'x': argv must be a non-empty list"):
        CommandGate(process_sandbox, name="x", argv=[])
    with pytest.raises(ValueError, match=r"^gate 'x': timeout_s must be positive"):
        CommandGate(process_sandbox, name="x", argv=["true"], timeout_s=0)


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
async def test_node_test_script_failure_is_caught(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    package = '{"name": "t", "version": "1.0.0", "scripts": {"test": "node test.js"}}'
    failing = "const assert = require('assert');\nassert.strictEqual(1 + 1, 3);\n"
    repo = make_repo({"package.json": package, "test.js": failing})
    gate = NodeScriptGate(process_sandbox, script="test", timeout_s=60)
    result = await gate.check(repo)
    assert not result.passed
    assert gate.name == "node-test"
    assert any(f.file == "test.js" and f.line == 2 for f in result.findings), result.findings
    (repo / "test.js").write_text("console.log('ok');\n")
    assert (await gate.check(repo)).passed
    lint = await NodeScriptGate(process_sandbox, script="lint").check(repo)
    assert lint.passed and "no 'lint' script" in lint.summary


def test_json_is_found_after_warnings_and_locations_stay_inside(tmp_path: Path) -> None:
    assert extract_json('warning: x\n{"a": 1}\n') == {"a": 1}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.ts").write_text("x\n")
    text = "src/m.ts(3,5): error TS2322\n/etc/passwd:1: nope\nmissing.py:2: gone\n"
    found = located_lines(text, tmp_path)
    assert [(f.file, f.line) for f in found] == [("src/m.ts", 3)]


async def test_lint_and_security_reports_larger_than_the_output_cap_are_read_whole(
    make_repo: MakeRepo,
) -> None:
    # rich's 1,512 ruff findings are 1.1 MB of JSON and its bandit report 455 KB: cut at the
    # sandbox's output cap, none parsed, and the gates failed with "cannot read ...".
    imports = "".join(f"import os as os{i}\n" for i in range(40))
    asserts = "".join(f"assert os{i}\n" for i in range(0, 40, 2))  # the odd ones are unused
    digests = "".join(
        f'DIGEST_{i} = "{hashlib.sha1(str(i).encode()).hexdigest()}"\n' for i in range(40)
    )  # rich's benchmark results: 5,510 hex strings detect-secrets takes for secrets, 1.6 MB
    repo = make_repo(
        {"pkg/__init__.py": "", "pkg/many.py": imports + asserts, "data/digests.txt": digests}
    )
    sandbox = ProcessSandbox(use_bwrap=False, output_limit=2000)
    try:
        lint = await RuffGate(sandbox).check(repo)
        security = await BanditGate(sandbox, min_severity="low", min_confidence="low").check(repo)
        secrets = await SecretsGate(sandbox).check(repo)
    finally:
        sandbox.close()
    assert {f.line for f in secrets.findings} == set(range(1, 41)), secrets.summary
    unused = {f.line for f in lint.findings if f.message.startswith("F401")}
    assert unused == {i + 1 for i in range(1, 40, 2)}, lint.summary
    assert security.counts["findings"] == 20, security.summary
    assert {f.message.split()[0] for f in security.findings} == {"B101"}
    assert not (repo / ".shopfloor").exists()


async def test_gates_writing_reports_side_by_side_each_read_their_own(
    make_repo: MakeRepo,
) -> None:
    """ruff, bandit and detect-secrets run side by side (engine.gate_runner), each writing its
    report into the workspace's report folder: the first to finish removed the folder under
    the others, whose tools then had nowhere to write, and their gates read nothing."""
    repo = make_repo({"pkg/__init__.py": "", "pkg/a.py": "import os\nassert os\n"})
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        first = ReportFile(repo, "one", ".out")
        second = ReportFile(repo, "two", ".out")
        first.prepare().write_text("1")
        second.prepare()
        assert first.collect() == "1"
        assert second.path.parent.is_dir()  # still there for the report not yet written
        second.path.write_text("2")
        assert second.collect() == "2"
        assert not (repo / ".shopfloor").exists()  # the last one out removed it
        results = await asyncio.gather(
            *(RuffGate(sandbox).check(repo) for _ in range(3)),
            *(
                BanditGate(sandbox, min_severity="low", min_confidence="low").check(repo)
                for _ in range(3)
            ),
        )
    finally:
        sandbox.close()
    assert [r.summary for r in results[:3]] == [results[0].summary] * 3
    assert all(r.counts.get("findings") == 1 for r in results[3:]), [r.summary for r in results]
    assert not (repo / ".shopfloor").exists()
