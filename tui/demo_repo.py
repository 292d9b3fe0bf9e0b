"""The bundled examples, and the fresh git repository a ``demo`` runs in.

A demo copies an example's seed into a new repository in the data folder and points its
twin at a copy of the example's DNA, so nothing is ever written into the bundled examples.
Kept out of the composition root (tui/compose.py), which runs what this prepares.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from storage.paths import data_home
from tui.config import Settings
from tui.run_plan import SetupError


def examples_dir() -> Path:
    """The bundled examples folder (beside the packages in a checkout)."""
    here = Path(__file__).resolve().parent.parent / "examples"
    if not here.is_dir():
        raise SetupError(f"bundled examples not found at {here}")
    return here


def example_config(example: str) -> Path | None:
    """The example's own shopfloor.toml, if it ships one."""
    path = examples_dir() / example / "shopfloor.toml"
    return path if path.is_file() else None


def demo_dna(example: str, settings: Settings) -> Settings:
    """Point a demo's twin at its own copy of the example's DNA, outside the source tree.

    Accepted decisions and proposals are written beside the DNA file; a demo must never write
    into the bundled examples, so the first demo of an example copies its DNA to the data
    folder and later demos of it keep learning there.
    """
    if settings.twin_dna is None or not settings.twin_dna.is_relative_to(examples_dir()):
        return settings
    copy = data_home() / "demos" / "dna" / f"{example}.toml"
    if not copy.is_file():
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(settings.twin_dna, copy)
        except OSError as exc:  # a read-only data folder, a full disk
            raise SetupError(
                f"cannot copy the example's DNA to {copy}: {exc.strerror or exc}"
            ) from exc
    return replace(settings, twin_dna=copy)


def demo_playbook(example: str) -> Path:
    """The bundled example's playbook (SetupError naming those bundled if there is none)."""
    playbook = examples_dir() / example / "playbook.yaml"
    if not playbook.is_file():
        names = sorted(p.name for p in examples_dir().iterdir() if (p / "playbook.yaml").is_file())
        raise SetupError(f"no example named {example!r}; bundled: {', '.join(names)}")
    return playbook


def prepare_demo_repo(example: str, out: Path | None) -> tuple[Path, str, Path]:
    """Copy an example's seed into a fresh git repository; returns (repo, request, playbook)."""
    source = demo_playbook(example).parent
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
        out = data_home() / "demos" / f"{example}-{stamp}"
    if out.exists() and not out.is_dir():
        raise SetupError(f"demo folder {out} is a file")
    if out.exists() and any(out.iterdir()):
        raise SetupError(f"demo folder {out} exists and is not empty")
    try:
        shutil.copytree(source / "seed", out, dirs_exist_ok=True)
    except OSError as exc:
        raise SetupError(f"cannot create demo folder {out}: {exc.strerror or exc}") from exc
    env = {
        "GIT_AUTHOR_NAME": "shopfloor demo",
        "GIT_AUTHOR_EMAIL": "demo@shopfloor.invalid",
        "GIT_COMMITTER_NAME": "shopfloor demo",
        "GIT_COMMITTER_EMAIL": "demo@shopfloor.invalid",
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", f"Seed of the {example} example"],
    ):
        subprocess.run(argv, cwd=out, check=True, env=env, capture_output=True)
    request = (source / "request.md").read_text(encoding="utf-8").strip()
    return out, request, source / "playbook.yaml"
