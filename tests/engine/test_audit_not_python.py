"""An audit's Python-only checks say what they did not read.

Audited, a TypeScript repository's report said "Dead code (none found)" and "every module
is imported by a test": both checks read only ``.py`` files (vulture; the untested-modules
scan), so neither looked at a line of it. A Python project's ``web/`` front end is likewise
outside them."""

from __future__ import annotations

from pathlib import Path

from test_audit_snapshot import audit, committed

from gates.python_tools import VultureGate


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


WEB = {
    "web/package.json": '{"name": "web", "scripts": {"test": "uvu test"}}\n',
    "web/src/index.ts": "export function unused(): number {\n  return 1;\n}\n",
    "web/test/index.js": "console.log('ok');\n",
}


async def test_a_typescript_repository_is_said_not_analysed(tmp_path: Path) -> None:
    repo = committed(write(tmp_path / "ts", {k.removeprefix("web/"): v for k, v in WEB.items()}))
    report = await audit(repo)
    text = report.to_markdown()
    dead = text.split("## Dead code", 1)[1].split("## Untested modules", 1)[0]
    untested = text.split("## Untested modules", 1)[1]
    for section in (dead, untested):
        assert "not analysed: no Python in this repository" in section, section
    assert "none found" not in text and "imported by a test" not in text.split("##")[-1]
    assert report.not_python == ["."]


async def test_a_front_end_beside_python_is_said_not_analysed(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "app"\nversion = "0"\n',
        "app/core.py": "def used() -> int:\n    return 1\n",
        "tests/test_core.py": "from app.core import used\n\n\ndef test_used():\n"
        "    assert used() == 1\n",
        **WEB,
    }
    repo = committed(write(tmp_path / "mixed", files))
    report = await audit(repo, lambda sandbox: VultureGate(sandbox))
    text = report.to_markdown()
    dead = text.split("## Dead code", 1)[1].split("## Untested modules", 1)[0]
    untested = text.split("## Untested modules", 1)[1]
    assert "(none found in the Python code)" in dead, dead
    assert "(every Python module is imported by a test)" in untested, untested
    for section in (dead, untested):
        assert "(web/ not analysed: no Python there)" in section, section
