"""Which database a command uses: --db, then $SHOPFLOOR_DB, then the data home's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import paths
from storage.errors import StorageError
from storage.paths import data_home, default_db_url, normalize_db_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test here reads the real environment or writes into the real user data folder."""
    monkeypatch.delenv("SHOPFLOOR_HOME", raising=False)
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    platform_dir = tmp_path / "platform" / "shopfloor"
    monkeypatch.setattr(paths.platformdirs, "user_data_dir", lambda appname: str(platform_dir))


def test_data_home_is_created_under_shopfloor_home(monkeypatch, tmp_path):
    home = tmp_path / "deep" / "home"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    assert data_home() == home
    assert home.is_dir()


def test_data_home_falls_back_to_the_platform_folder(tmp_path):
    home = data_home()
    assert home == tmp_path / "platform" / "shopfloor"
    assert home.is_dir()


def test_data_home_that_cannot_be_created_is_one_line_error(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SHOPFLOOR_HOME", str(blocker / "home"))
    with pytest.raises(StorageError) as info:
        data_home()
    assert str(info.value) == f"cannot create data folder {blocker / 'home'}: {blocker} is a file"


def test_default_is_a_sqlite_file_in_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    assert default_db_url() == f"sqlite+aiosqlite:///{tmp_path / 'home' / 'shopfloor.db'}"


def test_env_beats_default_and_flag_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOPFLOOR_DB", "postgresql+asyncpg://shop@db.internal/shopfloor")
    assert default_db_url() == "postgresql+asyncpg://shop@db.internal/shopfloor"
    explicit = f"sqlite+aiosqlite:///{tmp_path / 'flag.db'}"
    assert default_db_url(explicit) == explicit


def test_empty_env_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOPFLOOR_DB", "  ")
    assert default_db_url().endswith("/home/shopfloor.db")


def test_plain_paths_become_absolute_sqlite_urls(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert default_db_url("foo.db") == f"sqlite+aiosqlite:///{tmp_path / 'foo.db'}"
    monkeypatch.setenv("SHOPFLOOR_DB", "runs/team.db")
    assert default_db_url() == f"sqlite+aiosqlite:///{tmp_path / 'runs' / 'team.db'}"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert normalize_db_url("~/x.db") == f"sqlite+aiosqlite:///{tmp_path / 'user' / 'x.db'}"


def test_sync_schemes_get_their_async_driver():
    assert normalize_db_url("sqlite:////srv/shop.db") == "sqlite+aiosqlite:////srv/shop.db"
    assert (
        normalize_db_url("postgresql://shop:s3cret@db:5432/runs")
        == "postgresql+asyncpg://shop:s3cret@db:5432/runs"
    )
    assert normalize_db_url("postgres://db/runs") == "postgresql+asyncpg://db/runs"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/shop", "unsupported database URL scheme 'mysql'"),
        ("sqlite+pysqlite:///x.db", "unsupported database URL scheme 'sqlite+pysqlite'"),
        ("http://example.com/db", "unsupported database URL scheme 'http'"),
        ("://nothing", "malformed database URL"),
        ("", "empty database URL"),
    ],
)
def test_bad_urls_are_refused_in_one_line(url, expected):
    with pytest.raises(StorageError) as info:
        default_db_url(url)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert "sqlite+aiosqlite:///" in message  # says what would work


def test_bad_env_url_is_refused_too(monkeypatch):
    monkeypatch.setenv("SHOPFLOOR_DB", "oracle://scott:tiger@host/db")
    with pytest.raises(StorageError, match="unsupported database URL scheme 'oracle'"):
        default_db_url()
