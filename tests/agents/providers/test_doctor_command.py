"""``shopfloor doctor`` against loopback servers: OK rows with latency and tokens, FAIL rows
with a one-line reason, exit 1 when anything fails, and never a key on screen."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from provider_loopback import LoopbackServer
from provider_wires import CANARY, WIRES
from rich.console import Console

from engine.loop import loop_name
from tui.cli import build_parser, main
from tui.commands.doctor import cmd_doctor


def run_doctor(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["doctor", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_doctor_checks_every_provider_family_on_its_loopback_server(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for wire in WIRES.values():
        for name, value in wire.env(server.url).items():
            monkeypatch.setenv(name, value)
    specs = [WIRES[n].spec(server.url) for n in ("anthropic", "gemini", "openai")]
    # Replies are shaped per API, so each family is checked with its own wire, one at a time.
    outputs = []
    for name, spec in zip(("anthropic", "gemini", "openai"), specs, strict=True):
        server.replies.clear()
        server.queue(WIRES[name].text("OK"))
        code, out = run_doctor(["--model", spec, "--timeout", "5"], capsys)
        assert code == 0, out
        outputs.append(out)
    for name, out in zip(("anthropic", "gemini", "openai"), outputs, strict=True):
        assert out.startswith("OK") and f"provider={name}" in out and "FAIL" not in out
        assert "tokens=19/5" in out  # in (incl. cache reads) / out
        assert "replied 'OK'" in out
        assert "sandbox: " in out
        assert f"event loop: {loop_name()}" in out
        assert CANARY not in out
    assert any(seen.path.endswith(":generateContent") for seen in server.seen)


def test_doctor_fails_clearly_on_a_bad_spec_a_missing_key_and_a_dead_server(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", CANARY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    server.queue(WIRES["gemini"].error(403, f"API key {CANARY} not valid"))
    code, out = run_doctor(
        [
            "--model",
            "mistral:large",
            "--model",
            "anthropic:claude-sonnet-4-6",
            "--model",
            "gemini:gemini-2.5-pro",
            "--model",
            "openai:qwen@http://127.0.0.1:9/v1",
            "--timeout",
            "2",
        ],
        capsys,
    )
    assert code == 1
    assert out.count("FAIL") == 4
    assert "bad model spec 'mistral:large'" in out
    assert "ANTHROPIC_API_KEY" in out
    assert "HTTP 403" in out
    assert "connection failed" in out
    assert "0 of 4 model(s) OK" in out
    assert CANARY not in out


def test_doctor_shows_no_key_a_gateway_echoes_nor_a_password_in_its_url(
    server: LoopbackServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """A gateway that answers with the key it was sent, behind a URL with a password: the
    row quoted the reply and the spec as given."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    password = "pw-" + "Zq8" * 6
    url = server.url.replace("http://", f"http://gateway:{password}@")
    server.queue(WIRES["openai"].text(f"OK, you are {CANARY}"))
    code, out = run_doctor(["--model", f"openai:qwen@{url}/v1", "--timeout", "5"], capsys)
    assert code == 0, out
    assert out.startswith(f"OK   openai:qwen@http://***@{server.url.removeprefix('http://')}/v1")
    assert "replied 'OK, you are [REDACTED]'" in out
    assert CANARY not in out and password not in out


def test_doctor_reads_the_models_of_a_config_file_and_checks_cli_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    config = tmp_path / "shopfloor.toml"
    config.write_text('[models]\nplanner = "cli:codex"\nengineer = "cli:codex"\n')
    code, out = run_doctor(["--config", str(config)], capsys)
    assert code == 1
    assert "cli:codex" in out and "roles=planner,engineer" in out
    assert "command not found: codex" in out

    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\necho 'codex-cli 0.99.0'\n")
    fake.chmod(0o755)
    code, out = run_doctor(["--config", str(config)], capsys)
    assert code == 0, out
    assert "codex-cli 0.99.0" in out and "1 of 1 model(s) OK" in out


def test_doctor_checks_the_agent_commands_the_config_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """``[providers.cli.NAME]`` was not read: an agent of the user's own was "unknown", and
    Claude Code installed outside PATH was "command not found" where the run would find it.
    An agent that is there but cannot start is one line, not a traceback."""
    git = shutil.which("git")
    assert git is not None
    monkeypatch.setenv("PATH", str(Path(git).parent))  # git, but no claude
    claude = tmp_path / "opt" / "claude"
    claude.parent.mkdir()
    claude.write_text("#!/bin/sh\necho '2.1.0 (Claude Code)'\n")
    claude.chmod(0o755)
    mine = tmp_path / "mine.py"
    mine.write_text("print('not executable')\n")
    config = tmp_path / "shopfloor.toml"
    config.write_text(
        '[models]\nengineer = "cli:claude"\nplanner = "cli:mine"\n'
        f'[providers.cli.claude]\nargv = ["{claude}", "-p", "{{prompt}}"]\n'
        f'[providers.cli.mine]\nargv = ["{mine}", "{{prompt}}"]\n'
    )
    code, out = run_doctor(["--config", str(config)], capsys)
    assert code == 1 and "Traceback" not in out
    assert f"found {claude} (2.1.0 (Claude Code))" in out
    assert f"cannot start {mine}: Permission denied" in out
    assert "1 of 2 model(s) OK" in out


def test_doctor_checks_each_link_of_a_fallback_chain_and_its_coding_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """A chain was checked as one provider: its coding agents were sent the ping as a run
    ("no worktree to run in": FAIL for an agent that is installed), and a chain whose first
    link answered hid a fallback that is not there."""
    monkeypatch.setenv("PATH", str(tmp_path))
    codex = tmp_path / "codex"
    codex.write_text("#!/bin/sh\necho 'codex-cli 0.99.0'\n")
    codex.chmod(0o755)
    config = tmp_path / "shopfloor.toml"
    config.write_text('[models]\nengineer = "cli:codex | cli:claude"\n')
    code, out = run_doctor(["--config", str(config), "--repo", str(tmp_path)], capsys)
    assert code == 1 and "Traceback" not in out and "no worktree" not in out, out
    rows = [line for line in out.splitlines() if line.startswith(("OK", "FAIL"))]
    assert rows[0].startswith("OK   cli:codex  roles=engineer  ") and "codex-cli 0.99.0" in rows[0]
    assert rows[1].startswith("FAIL cli:claude  roles=engineer (fallback)  ")
    assert rows[1].endswith("command not found: claude")
    assert "1 of 2 model(s) OK" in out


def test_doctor_names_the_python_the_gates_would_use_and_what_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from tests.gates.test_project_python import make_venv

    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "app.py").write_text("")
    (repo / "tests" / "test_app.py").write_text("def test_ok() -> None:\n    pass\n")
    venv_python = make_venv(repo / ".venv", with_pytest=False)
    code, out = run_doctor(["--model", "sim:", "--repo", str(repo)], capsys)
    assert code == 0, out
    assert (
        f"python for the tests and mypy: {venv_python} (Python {platform.python_version()}, "
        "the repository's .venv); pytest NOT installed, mypy not installed (the types gate "
        "runs shopfloor's own on its packages)"
    ) in out.replace("\n", " ")
    assert f"tests: pytest is not installed in {repo / '.venv'}" in out

    config = tmp_path / "shopfloor.toml"
    config.write_text('[gates]\npython = "nowhere/bin/python"\n[models]\nplanner = "sim:"\n')
    code, out = run_doctor(["--config", str(config), "--repo", str(repo)], capsys)
    assert code == 1 and "Traceback" not in out
    assert f"python: [gates] python: {repo / 'nowhere/bin/python'} does not exist" in out
    code, out = run_doctor(["--model", "sim:", "--repo", str(tmp_path / "gone")], capsys)
    assert code == 1 and f"python: repository not found: {tmp_path / 'gone'}" in out


def test_doctor_says_git_refuses_the_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """An sdist unpacked by root keeps its author's uid: git's safe.directory check refuses
    the repository and a run stops at once, but doctor said "1 of 1 model(s) OK", exit 0."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give the repository to another user")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[safe]\n\tdirectory = /nowhere\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    code, out = run_doctor(["--model", "sim:", "--repo", str(repo)], capsys)
    assert code == 0 and "git refuses" not in out
    os.chown(repo, 12345, 12345)  # owned by someone else
    code, out = run_doctor(["--model", "sim:", "--repo", str(repo)], capsys)
    assert code == 1 and "Traceback" not in out
    said = " ".join(out.split())
    assert f"repository: git refuses {repo}: detected dubious ownership" in said
    assert f"call: git config --global --add safe.directory {repo}" in said
    code, out = run_doctor(["--model", "sim:", "--repo", str(tmp_path)], capsys)
    assert code == 0 and "git refuses" not in out  # no repository at all: not said


def test_doctor_warns_of_a_key_in_a_coding_agents_argv_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    token = "gw-local-7f3a9c2e5b1d4f60"
    config = tmp_path / "shopfloor.toml"
    config.write_text(
        '[models]\nplanner = "sim:"\n'
        f'[providers.cli.aider]\nargv = ["aider", "--api-key", "{token}", "{{prompt}}"]\n'
    )
    _code, out = run_doctor(["--config", str(config)], capsys)
    warned = [line for line in out.splitlines() if line.startswith("[providers.cli.aider]")]
    assert len(warned) == 1 and "(--api-key)" in warned[0] and "ps" in warned[0]
    assert token not in out


async def test_doctor_says_a_configured_model_its_provider_retires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """gemini-2.5-pro still answers after 2026-12-01, as gemini-3.8-flash billed at its rates:
    its ping would say OK. Doctor says so from 30 days before; the default models get no
    such line. The date is given, not read from the clock."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "shopfloor.toml"
    config.write_text('[models]\ncritic = "gemini:gemini-2.5-pro"\nqc = "sim:"\n')

    async def doctor(argv: list[str], today: date) -> str:
        console = Console(record=True, width=400)
        args = build_parser("doctor").parse_args(["doctor", "--repo", str(tmp_path), *argv])
        await cmd_doctor(args, console, today=today)
        return console.export_text()

    out = await doctor(["--config", str(config)], date(2026, 11, 24))
    assert (
        "WARNING: gemini:gemini-2.5-pro is retired by Google on 2026-12-01 (requests go to "
        "gemini-3.8-flash, billed at its rates); set [models] critic to gemini:gemini-3.8-flash"
    ) in out
    assert "retired" not in await doctor(["--config", str(config)], date(2026, 10, 31))
    assert "retired" not in await doctor([], date(2026, 11, 24))  # the defaults (the SIM)
