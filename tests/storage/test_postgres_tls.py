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
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from asyncpg.exceptions import ConnectionDoesNotExistError
from tls_cluster import (
    CERT_USER,
    KEY_PASSPHRASE,
    PASSWORD,
    PASSWORD_USER,
    TlsCluster,
    free_port,
)

from engine.bus import EventBus
from engine.events import EventBase
from storage.errors import DatabaseUnreachable, StorageError, unreachable
from storage.paths import db_option, parse_db_url
from storage.pg_cert_refusal import refused_certificate
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def shopfloor(
    home: Path, db: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1", "HOME": str(home)}
    env.update(extra_env or {})
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


def _stranger_url(tls_pg: TlsCluster, user: str = CERT_USER) -> str:
    return tls_pg.url(
        user=user,
        sslmode="verify-full",
        sslrootcert=tls_pg.ca,
        sslcert=tls_pg.stranger.cert,
        sslkey=tls_pg.stranger.key,
    )


def test_a_client_certificate_the_server_refuses_is_one_line_and_exit_2_not_75(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    """Under TLS 1.3 the server's "unknown ca" alert comes after the handshake, as the
    connection lost (or reset, the alert dropped): it read as an outage, exit 75."""
    line = refused(shopfloor(tmp_path, _stranger_url(tls_pg), "runs"))
    assert f"the server at localhost:{tls_pg.port} refused the client certificate" in line
    assert "(tlsv1 alert unknown ca)" in line
    assert f"the client certificate {tls_pg.stranger.cert} (sslcert in the PostgreSQL URL)" in line
    assert f"with the client key {tls_pg.stranger.key}" in line


async def test_the_refusal_is_told_every_time_though_the_alert_races_a_reset(
    tls_pg: TlsCluster,
) -> None:
    """About one connection in four the server's kernel resets the connection before the
    alert is read: opening must still say the certificate was refused, never unreachable —
    for a user the server takes without a certificate too (pg_hba ``trust``)."""
    for attempt in range(16):
        url = _stranger_url(tls_pg, user=CERT_USER if attempt % 2 else "postgres")
        with pytest.raises(StorageError) as info:
            await SqlEventStore.open(url)
        assert not isinstance(info.value, DatabaseUnreachable), (attempt, info.value)
        assert "refused the client certificate (tlsv1 alert unknown ca)" in str(info.value)


async def test_a_reset_is_asked_again_and_only_an_alert_makes_it_a_refusal(
    tls_pg: TlsCluster,
) -> None:
    """The reset that dropped the alert, as asyncpg raises it (the server is real): the second
    handshake hears the server's verdict. The same reset from a port nothing listens on stays
    an outage."""
    lost = ConnectionDoesNotExistError("connection was closed in the middle of operation")
    lost.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    said = await refused_certificate(parse_db_url(_stranger_url(tls_pg)), lost)
    assert said is not None
    assert said.startswith(f"the server at localhost:{tls_pg.port} refused the client")
    gone = _stranger_url(tls_pg).replace(f":{tls_pg.port}/", f":{free_port()}/")
    assert await refused_certificate(parse_db_url(gone), lost) is None
    assert unreachable(lost)


def system_store(ca: Path, tmp_path: Path) -> dict[str, str]:
    """An environment whose "system's trusted CAs" (OpenSSL's default verify paths, as for
    libpq) are ``ca`` alone."""
    empty = tmp_path / "no-certs"
    empty.mkdir(exist_ok=True)
    return {"SSL_CERT_FILE": str(ca), "SSL_CERT_DIR": str(empty)}


async def test_sslrootcert_system_verifies_the_server_against_the_system_store(
    tls_pg: TlsCluster,
    emit_little_run: Callable[[EventBus], list[EventBase]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """libpq's ``sslrootcert=system``, no sslmode (it means verify-full), with the cluster's
    CA as the system's: it was refused, asyncpg looking for a file named 'system'. With a
    client certificate too: the context carries it."""
    for name, value in system_store(tls_pg.ca, tmp_path).items():
        monkeypatch.setenv(name, value)
    await stores_a_run(tls_pg.url(sslrootcert="system"), emit_little_run)
    await stores_a_run(tls_pg.url(sslmode="verify-full", sslrootcert="system"), emit_little_run)
    with_cert = tls_pg.url(
        user=CERT_USER, sslrootcert="system", sslcert=tls_pg.client.cert, sslkey=tls_pg.client.key
    )
    await stores_a_run(with_cert, emit_little_run)


def test_sslrootcert_system_refuses_a_server_the_system_store_does_not_vouch_for(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    """The system's CAs without the cluster's: the certificate is refused in one line
    (exit 2, not an outage); and verify-full's name check holds (127.0.0.1 is not named).
    Before, with no sslmode, asyncpg's default 'prefer' connected checking nothing."""
    stranger = system_store(tls_pg.other_ca, tmp_path)
    line = refused(
        shopfloor(tmp_path, tls_pg.url(sslrootcert="system"), "runs", extra_env=stranger)
    )
    assert f"the certificate of the server at localhost:{tls_pg.port} was refused" in line
    trusted = system_store(tls_pg.ca, tmp_path)
    by_address = tls_pg.url(host="127.0.0.1", sslrootcert="system")
    line = refused(shopfloor(tmp_path, by_address, "runs", extra_env=trusted))
    assert "the server's certificate is not for '127.0.0.1'" in line


def test_a_masked_password_pasted_back_says_to_put_the_real_one_back(
    tls_pg: TlsCluster, tmp_path: Path
) -> None:
    """Printed commands show a URL's password as ``***`` (it never reaches a screen or a log):
    pasted as printed, the login fails, and the line says why and what works instead, where
    the server's own words were only "password authentication failed for user"."""
    where = f"localhost:{tls_pg.port}/{PASSWORD_USER}?sslmode=verify-full&sslrootcert={tls_pg.ca}"
    real = f"postgresql://{PASSWORD_USER}:{quote(PASSWORD, safe='')}@{where}"
    assert shopfloor(tmp_path, real, "runs").returncode == 0
    printed = shlex.split(db_option(real))[1]
    assert PASSWORD not in printed and f"{PASSWORD_USER}:***@" in printed
    line = refused(shopfloor(tmp_path, printed, "runs"))
    assert "the URL's password is ***" in line and "PGPASSWORD" in line, line
    assert PASSWORD not in line
    bare = f"postgresql://{PASSWORD_USER}@{where}"
    with_variable = shopfloor(tmp_path, bare, "runs", extra_env={"PGPASSWORD": PASSWORD})
    assert with_variable.returncode == 0, with_variable.stderr
    wrong = refused(shopfloor(tmp_path, real.replace(quote(PASSWORD, safe=""), "nope"), "runs"))
    assert "***" not in wrong.split(": ", 1)[1], wrong  # a wrong password is not the mask's
