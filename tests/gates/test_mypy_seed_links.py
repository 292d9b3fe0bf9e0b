"""A mypy cache published as a seed comes from a merge candidate's workspace, where the
merged code runs beside mypy (a test's conftest.py in the tests gate, a mypy plugin the
configuration names): it could put in the cache folder a link to a file (or be a link to a
folder) of the host, and the seed stored a copy of what the link led to, which the next
attempts' runs then found in their own workspace. Links are never copied into a seed, and a
cache folder that is no folder inside the workspace is not published."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.protocols import CommandResult
from gates.mypy_seed import MypySeeds, run_mypy

SECRET = "aws_secret_access_key = canary-5c2a\n"


def stored(seeds: Path) -> str:
    """Everything the seed store holds, as text."""
    return "".join(path.read_text(errors="replace") for path in seeds.rglob("*") if path.is_file())


def test_a_link_in_the_cache_is_not_copied_into_the_seed(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET)
    cache = tmp_path / "made"
    (cache / "3.12").mkdir(parents=True)
    (cache / "3.12" / "app.data.json").write_text("{}")
    (cache / "3.12" / "leak.json").symlink_to(tmp_path / "secret")
    seeds = MypySeeds(tmp_path / "seeds")
    assert seeds.publish("k", cache, tmp_path / "merge", started=1.0)
    assert "canary-5c2a" not in stored(tmp_path / "seeds")
    assert seeds.prime("k", tmp_path / "into", tmp_path / "attempt")
    assert sorted(p.name for p in (tmp_path / "into" / "3.12").iterdir()) == ["app.data.json"]


class SwappingSandbox:
    """Plays the merged code beside mypy: the cache folder becomes a link to the host's."""

    def __init__(self, outside: Path) -> None:
        self.outside = outside

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        cache = argv[argv.index("--cache-dir") + 1]
        os.makedirs(cache, exist_ok=True)
        os.rename(cache, cache + ".gone")
        os.symlink(self.outside, cache, target_is_directory=True)
        return CommandResult(tuple(argv), 0, "", 0.01)


async def test_a_cache_folder_swapped_for_a_link_is_not_published(tmp_path: Path) -> None:
    outside = tmp_path / "home" / ".aws"
    outside.mkdir(parents=True)
    (outside / "credentials").write_text(SECRET)
    workspace = tmp_path / "merge"
    workspace.mkdir()
    seeds = MypySeeds(tmp_path / "seeds")
    result = await run_mypy(
        SwappingSandbox(outside),
        ["mypy", "."],
        workspace,
        workspace,
        timeout_s=30,
        env=None,
        seeds=seeds,
        key="k",
        publish=True,
    )
    assert result.returncode == 0
    assert seeds.published == 0 and "canary-5c2a" not in stored(tmp_path / "seeds")
    assert (outside / "credentials").read_text() == SECRET  # nothing removed there
