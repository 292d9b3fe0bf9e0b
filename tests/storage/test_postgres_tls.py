"""PostgreSQL over TLS with certificates, as managed PostgreSQL (RDS, Cloud SQL, a company CA)
asks for it: ``?sslmode=verify-full&sslrootcert=/etc/ssl/corp-ca.pem``.

The URL's ``sslrootcert``, ``sslcert``, ``sslkey`` were refused as unknown parameters. Here
a throw-away cluster (``tls_pg`` in conftest.py, started once per session, the machine's server left
alone) speaks TLS with a certificate for ``localhost`` only, from a CA made in the test; its
pg_hba takes nothing but TLS, and a client certificate from ``shop_cert``. A certificate the
client refuses is the URL's to fix: one line and exit 2, never 75 (an outage).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from tls_cluster import (
    CERT_USER,
    KEY_PASSPHRASE,
    TlsCluster,
)

from engine.bus import EventBus
from engine.events import EventBase
from storage.store import SqlEventStore
from tui.commands.common import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def shopfloor(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1", "HOME": str(home)}
    for name in ("SHOPFLOOR_DB", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args, "--db", db],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a command refused with, exit 2 (bad input, not an outage)."""
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


async def stores_a_run(url: str, emit_little_run: Callable[[EventBus], list[EventBase]]) -> None:
    """Open a store at ``url``, append a whole little run and read it back."""
    run_id = f"r-tls-{secrets.token_hex(4)}"
    async with await SqlEventStore.open(url) as store:
        emitted = emit_little_run(EventBus(run_id))
        await store.append(emitted)
        assert await store.read(run_id) == emitted
        followed = [event async for event in store.tail(run_id)]  # LISTEN on its own connection
        assert followed == emitted


async def test_verify_full_with_the_ca_that_signed_the_server_stores_a_run(
    tls_pg: TlsCluster, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    """The DSN every operator hands out; pg_hba takes only TLS, so storing is over TLS."""
    await stores_a_run(tls_pg.url(sslmode="verify-full", sslrootcert=tls_pg.ca), emit_little_run)


def test_verify_full_with_another_ca_is_one_line_and_exit_2(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    url = tls_pg.url(sslmode="verify-full", sslrootcert=tls_pg.other_ca)
    line = refused(shopfloor(tmp_path, url, "runs"))
    assert f"the certificate of the server at localhost:{tls_pg.port} was refused" in line
    assert "is sslrootcert the CA that signed it?" in line


def test_verify_full_to_an_address_the_certificate_does_not_name_is_one_line_and_exit_2(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    """The server's certificate is for localhost; the URL says 127.0.0.1."""
    url = tls_pg.url(host="127.0.0.1", sslmode="verify-full", sslrootcert=tls_pg.ca)
    line = refused(shopfloor(tmp_path, url, "runs"))
    assert "the server's certificate is not for '127.0.0.1'" in line
    assert "sslmode=verify-ca" in line


async def test_sslcrl_is_checked_as_libpq_checks_it(
    tls_pg: TlsCluster, emit_little_run: Callable[[EventBus], list[EventBase]], tmp_path: Path
) -> None:
    """A revocation list from the server's CA: connects while it revokes nothing, refuses
    the server once it revokes the server's certificate."""
    clean = tls_pg.url(sslmode="verify-full", sslrootcert=tls_pg.ca, sslcrl=tls_pg.crl)
    await stores_a_run(clean, emit_little_run)
    revoked = tls_pg.url(
        sslmode="verify-full", sslrootcert=tls_pg.ca, sslcrl=tls_pg.crl_revoking_server
    )
    line = refused(shopfloor(tmp_path, revoked, "runs"))
    assert "was refused (certificate revoked)" in line


async def test_verify_ca_and_require_with_a_root_certificate_check_the_chain_not_the_name(
    tls_pg: TlsCluster, emit_little_run: Callable[[EventBus], list[EventBase]], tmp_path: Path
) -> None:
    """As libpq: ``require`` with a root certificate behaves as ``verify-ca``."""
    for mode in ("verify-ca", "require"):
        url = tls_pg.url(host="127.0.0.1", sslmode=mode, sslrootcert=tls_pg.ca)
        await stores_a_run(url, emit_little_run)
        wrong = tls_pg.url(host="127.0.0.1", sslmode=mode, sslrootcert=tls_pg.other_ca)
        assert "was refused" in refused(shopfloor(tmp_path, wrong, "runs")), mode


async def test_a_client_certificate_logs_in_where_the_server_requires_one(
    tls_pg: TlsCluster, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    url = tls_pg.url(
        user=CERT_USER,
        sslmode="verify-full",
        sslrootcert=tls_pg.ca,
        sslcert=tls_pg.client.cert,
        sslkey=tls_pg.client.key,
    )
    await stores_a_run(url, emit_little_run)


async def test_an_encrypted_client_key_opens_with_sslpassword(
    tls_pg: TlsCluster, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    url = tls_pg.url(
        user=CERT_USER,
        sslmode="verify-full",
        sslrootcert=tls_pg.ca,
        sslcert=tls_pg.client.cert,
        sslkey=tls_pg.client_key_encrypted,
        sslpassword=quote_plus(KEY_PASSPHRASE),
    )
    await stores_a_run(url, emit_little_run)


def test_without_the_client_certificate_the_login_is_one_line_and_exit_2(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    url = tls_pg.url(user=CERT_USER, sslmode="verify-full", sslrootcert=tls_pg.ca)
    line = refused(shopfloor(tmp_path, url, "runs"))
    assert line.endswith("connection requires a valid client certificate"), line


def test_client_certificate_files_from_the_environment_log_in_as_libpqs_do(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    """$PGSSLROOTCERT, $PGSSLCERT, $PGSSLKEY, $PGSSLMODE: asyncpg reads them as libpq does."""
    env = {
        **os.environ,
        "SHOPFLOOR_HOME": str(tmp_path),
        "HOME": str(tmp_path),
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": str(tls_pg.ca),
        "PGSSLCERT": str(tls_pg.client.cert),
        "PGSSLKEY": str(tls_pg.client.key),
    }
    env.pop("SHOPFLOOR_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "runs", "--db", tls_pg.url(user=CERT_USER)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
