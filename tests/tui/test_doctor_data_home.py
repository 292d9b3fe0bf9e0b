"""``shopfloor doctor`` says what the data home weighs, in all and by folder, the heaviest
first: a machine that runs factories every night sees where its disk went (demos, mypy
seeds, the gate cache, the database) without opening a database (engine.data_home)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.cli import main


def doctor_line(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["doctor", "--model", "sim:", "--repo", "."]) == 0
    out = capsys.readouterr().out
    return next(line for line in out.splitlines() if line.startswith("data home:"))


def test_doctor_weighs_the_data_home_by_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    (home / "demos" / "inventory-20261125-061917-9584").mkdir(parents=True)
    (home / "demos" / "inventory-20261125-061917-9584" / "big").write_bytes(b"x" * 2_500_000)
    (home / "gate-cache").mkdir()
    (home / "gate-cache" / "k.json").write_bytes(b"x" * 300_000)
    (home / "shopfloor.db").write_bytes(b"x" * 40_000)
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    line = doctor_line(capsys)

    head, _, parts = line.partition(": demos ")
    assert head.startswith(f"data home: {home}, 2.") and head.endswith(" MB")  # on disk
    assert [part.split()[0] for part in parts.split(", ")] == ["2.5", "gate-cache", "shopfloor.db"]
    assert parts.split(", ")[1].endswith(" KB") and parts.split(", ")[2].endswith(" KB")


def test_doctor_makes_no_data_home_it_only_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "never-run"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    monkeypatch.chdir(tmp_path)

    assert doctor_line(capsys) == f"data home: {home} (not made yet: the first run makes it)"
    assert not home.exists()
