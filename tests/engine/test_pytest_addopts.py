"""Where a project's pytest addopts come from, and which a missing plugin's are."""

from __future__ import annotations

from pathlib import Path

from engine.pytest_addopts import ini_addopts, unrecognized_addopts

SAID = "ERROR: usage: __main__.py [options]\n__main__.py: error: unrecognized arguments: {}\n"


def test_addopts_are_read_from_the_file_pytest_reads_first(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\naddopts = --cov=a\n")
    assert ini_addopts(tmp_path) == "--cov=a"
    (tmp_path / "tox.ini").write_text("[pytest]\naddopts = --timeout 5\n")
    assert ini_addopts(tmp_path) == "--timeout 5"
    (tmp_path / "pyproject.toml").write_text('[tool.pytest]\naddopts = ["-ra", "--cov=b"]\n')
    assert ini_addopts(tmp_path) == "-ra --cov=b"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    assert ini_addopts(tmp_path) is None  # pytest.ini wins even without addopts


def test_only_the_configurations_unknown_options_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-ra --cov=w --cov-report html --doctest-modules"\n'
    )
    said = SAID.format("--cov=w --cov-report")
    assert unrecognized_addopts(said, tmp_path) == (
        "-ra --doctest-modules",
        ["--cov=w", "--cov-report", "html"],
    )
    assert unrecognized_addopts(SAID.format("--bogus"), tmp_path) is None  # the command's own
    assert unrecognized_addopts("2 failed in 0.1s\n", tmp_path) is None
