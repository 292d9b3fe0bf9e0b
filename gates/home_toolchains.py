"""Toolchains installed in the user's home, made usable by the commands the sandbox runs.

A sandboxed command gets a private ``HOME`` and, under bubblewrap, the real home hidden (its
keys and tokens live there). rustup installs Rust there: ``~/.cargo/bin/cargo`` is a proxy
that finds its toolchain through ``$RUSTUP_HOME`` (default ``~/.rustup``). A Rust crate's
``cargo test`` gate therefore failed ``bwrap: execvp /root/.cargo/bin/cargo: No such file or
directory`` (exit 127) at the baseline, was red there, and so never blocked anything: a
crate whose tests failed shipped. Only the binaries and the toolchains are lent, read-only;
``~/.cargo`` itself (its ``credentials.toml``) stays hidden, and cargo's own cache goes to
the private home's ``.cargo``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class HomeToolchains:
    """Folders under the real home a command needs to read, and the variables naming them."""

    readable: tuple[Path, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def home_toolchains(home: Path, environ: Mapping[str, str]) -> HomeToolchains:
    """rustup's proxies (``$CARGO_HOME/bin``) and toolchains (``$RUSTUP_HOME``) when they lie
    in ``home``, with ``RUSTUP_HOME`` said so that the proxies find them from the private
    home. Nothing when rustup is not installed there."""
    cargo_home = Path(environ.get("CARGO_HOME") or home / ".cargo")
    rustup_home = Path(environ.get("RUSTUP_HOME") or home / ".rustup")
    readable: list[Path] = []
    env: dict[str, str] = {}
    if (rustup_home / "toolchains").is_dir():
        readable.append(rustup_home)
        env["RUSTUP_HOME"] = str(rustup_home)
    if (cargo_home / "bin").is_dir():
        readable.append(cargo_home / "bin")
    return HomeToolchains(tuple(readable), env)


def _stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return f"{path}:absent"
    return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


def program_stamp(program: str, environ: Mapping[str, str]) -> list[str]:
    """What tells one installation of ``program`` (a custom gate's command) from another,
    for the gate cache's key: the file it resolves to, and for a rustup proxy
    (``~/.cargo/bin/cargo``) each toolchain's ``rustc`` and rustup's settings (the default
    toolchain). A ``rustup update`` that brought new clippy lints reused the verdicts the
    old toolchain gave the same tree."""
    found = shutil.which(program, path=environ.get("PATH"))
    if found is None:
        return [f"{program}:not found"]
    real = Path(found).resolve()
    stamps = [_stamp(real)]
    cargo_bin = Path(environ.get("CARGO_HOME") or Path.home() / ".cargo") / "bin"
    if Path(found).parent == cargo_bin:
        rustup_home = Path(environ.get("RUSTUP_HOME") or Path.home() / ".rustup")
        stamps.append(_stamp(rustup_home / "settings.toml"))
        stamps += sorted(_stamp(p) for p in rustup_home.glob("toolchains/*/bin/rustc"))
    return stamps
