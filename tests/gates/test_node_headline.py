"""A failed Node script's headline names what failed, not the runner's last line.

uvu ends with ``Duration: 40.63ms`` and ts-scripts with ``❌ "vitest run ." exited with 1``:
that was the gate's headline, the first line a retry's context and the console showed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gates.command_gate import NodeScriptGate
from gates.node_output import HEADLINE_CHARS
from gates.sandbox import ProcessSandbox

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")

VITEST = """
 RUN  v3.2.7 /w

 \u276f src/index.spec.ts (376 tests | 2 failed) 367ms
   ✓ path-to-regexp > PathError > should contain original path 1ms
   \u00d7 path-to-regexp > parse '/' > should parse the path 3ms
     → expected TokenData{ tokens: [ { …(2) } ] } to deeply equal 'BROKEN'
   \u00d7 path-to-regexp > parse '/:a' > should parse the path 1ms
     → expected TokenData{ tokens: [ …(2) ] } to deeply equal 'BROKEN'

⎯⎯⎯⎯⎯⎯ Failed Tests 2 ⎯⎯⎯⎯⎯⎯⎯

 FAIL  src/index.spec.ts > path-to-regexp > parse '/' > should parse the path
AssertionError: expected TokenData{ tokens: [ { …(2) } ] } to deeply equal 'BROKEN'

 Test Files  1 failed (1)
      Tests  2 failed | 374 passed (376)
   Duration  1.60s (transform 386ms, setup 0ms)
❌ "vitest run ." exited with 1
"""
UVU = """\x1b[1mindex.js\x1b[22m
\x1b[31m✘ \x1b[39m\x1b[90m• \x1b[39m\x1b[90m• \x1b[39m  (2 / 3)

  \x1b[41m FAIL \x1b[49m "exports"
    Expected values to be strictly equal:  (is)

        ++1    (Expected)
        --2    (Actual)

  Total:     32
  Passed:    31
  Skipped:   0
  Duration:  40.63ms
"""


def package_printing(root: Path, output: str) -> Path:
    root.mkdir()
    (root / "out.txt").write_text(output, encoding="utf-8")
    script = "node -e \"process.stdout.write(require('fs').readFileSync('out.txt', 'utf8'))\""
    scripts = {"test": f"{script} && exit 1"}
    (root / "package.json").write_text(json.dumps({"name": "p", "scripts": scripts}))
    return root


@pytest.mark.parametrize(
    ("output", "said"),
    [
        (
            VITEST,
            "\u00d7 path-to-regexp > parse '/' > should parse the path 3ms — → expected "
            "TokenData{ tokens: [ { …(2) } ] } to deeply equal 'BROKEN' — "
            "Tests 2 failed | 374 passed (376)",
        ),
        (UVU, 'FAIL "exports" — Expected values to be strictly equal: (is) — 1 of 32 failed'),
    ],
    ids=["vitest", "uvu"],
)
async def test_the_headline_names_the_failing_test_its_error_and_the_count(
    tmp_path: Path, process_sandbox: ProcessSandbox, output: str, said: str
) -> None:
    repo = package_printing(tmp_path / "repo", output)
    result = await NodeScriptGate(process_sandbox, script="test").check(repo)
    assert not result.passed
    headline = result.findings[0].message
    assert headline == f"npm run --silent test exited 1: {said}", headline


async def test_a_long_headline_is_bounded_and_a_plain_failure_keeps_its_last_line(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    long = f"FAIL  a.spec.ts > {'x' * 400}\nError: {'y' * 400}\n 3 failed\n"
    result = await NodeScriptGate(process_sandbox, script="test").check(
        package_printing(tmp_path / "long", long)
    )
    message = result.findings[0].message.split(": ", 1)[1]
    assert len(message) <= HEADLINE_CHARS and message.endswith("3 failed"), message
    plain = await NodeScriptGate(process_sandbox, script="test").check(
        package_printing(tmp_path / "plain", "Try to reduce size or increase limit\n")
    )
    assert plain.findings[0].message.endswith(": Try to reduce size or increase limit")
