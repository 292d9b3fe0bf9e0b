"""A custom gate's cache key knows which installation of its program runs: a rustup update
(new clippy lints) or a new default toolchain judges the same tree afresh."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gates.command_gate import CommandGate
from gates.sandbox import ProcessSandbox


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_rustup_update_changes_the_cargo_gates_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cargo_home, rustup_home = tmp_path / "cargo", tmp_path / "rustup"
    executable(cargo_home / "bin" / "cargo")
    rustc = executable(rustup_home / "toolchains" / "stable" / "bin" / "rustc")
    (rustup_home / "settings.toml").write_text('default_toolchain = "stable"\n')
    monkeypatch.setenv("CARGO_HOME", str(cargo_home))
    monkeypatch.setenv("RUSTUP_HOME", str(rustup_home))
    monkeypatch.setenv("PATH", f"{cargo_home / 'bin'}{os.pathsep}/usr/bin:/bin")
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        gate = CommandGate(sandbox, name="clippy", argv=["cargo", "clippy"])
        before = gate.fingerprint()
        assert gate.fingerprint() == before  # stable while nothing changes
        executable(rustc, "#!/bin/sh\necho rustc 1.96.0\n")  # rustup update
        updated = gate.fingerprint()
        assert updated != before
        (rustup_home / "settings.toml").write_text('default_toolchain = "nightly"\n')
        assert gate.fingerprint() != updated  # rustup default nightly
    finally:
        sandbox.close()
