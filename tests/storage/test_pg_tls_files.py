"""The TLS files a PostgreSQL URL (or libpq's environment) names are checked before the first
connection: a file asyncpg would load that is missing or unreadable, a private key others may
read (libpq refuses it), a key that does not open the certificate — each one line naming the
file and the parameter, exit 2. Under the connection asyncpg's FileNotFoundError read as an
outage (exit 75), and the ssl module's "PEM lib" named no file. No server is needed: the
check comes first, so the URLs point at a port nothing listens on.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tls_cluster import Issued, encrypted_key, issue

from storage.connect import make_engine
from storage.errors import StorageError, lost_connection
from storage.paths import normalize_db_url, safe_url
from storage.pg_tls import check_tls_files, system_context
from tui.commands.exit_codes import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]
PG_ENV = ("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLCRL")


@pytest.fixture(autouse=True)
def no_libpq_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the machine's $PGSSL* or ~/.postgresql/ reaches these tests."""
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def client(tmp_path: Path) -> Issued:
    ca = issue(tmp_path, "ca", "a CA")
    files, _, _ = issue(tmp_path, "client", "shop", (ca[1], ca[2]))
    return files


def refusal(url: str) -> str:
    """The one-line error opening ``url`` gives."""
    with pytest.raises(StorageError) as info:
        engine = make_engine(normalize_db_url(url))
        pytest.fail(f"opened {engine.url}")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_missing_root_certificate_names_the_file_and_the_parameter(tmp_path: Path) -> None:
    missing = tmp_path / "corp-ca.pem"
    message = refusal(f"postgresql://db/runs?sslmode=verify-full&sslrootcert={missing}")
    assert message == (
        f"cannot read the root certificate {missing} (sslrootcert in the PostgreSQL URL): "
        "No such file or directory"
    )


def test_a_client_certificate_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    message = refusal(f"postgresql://db/runs?sslcert={tmp_path}")
    assert message == (
        f"cannot read the client certificate {tmp_path} (sslcert in the PostgreSQL URL): "
        "Is a directory"
    )


def test_a_missing_client_key_names_it(tmp_path: Path, client: Issued) -> None:
    key = tmp_path / "nope.key"
    message = refusal(f"postgresql://db/runs?sslmode=require&sslcert={client.cert}&sslkey={key}")
    assert message.startswith(f"cannot read the client key {key} (sslkey in the PostgreSQL URL)")


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o620])
def test_a_client_key_with_group_or_world_access_is_refused_as_libpq_refuses_it(
    client: Issued, mode: int
) -> None:
    client.key.chmod(mode)
    message = refusal(f"postgresql://db/runs?sslcert={client.cert}&sslkey={client.key}")
    allowed = "640" if os.geteuid() == 0 else "600"  # libpq lets root's key be group-read
    assert message == (
        f"the client key {client.key} (sslkey in the PostgreSQL URL) has group or world access "
        f"(mode {mode:04o}), which libpq refuses too: chmod {allowed} {client.key}"
    )


def test_a_client_key_of_mode_0600_is_taken(client: Issued) -> None:
    client.key.chmod(0o600)
    url = normalize_db_url(f"postgresql://db/runs?sslcert={client.cert}&sslkey={client.key}")
    make_engine(url).sync_engine.dispose()


def test_a_key_its_group_may_read_is_taken_only_when_root_owns_it(client: Issued) -> None:
    """libpq's exception, for system-wide keys read through a supplementary group."""
    client.key.chmod(0o640)
    url = f"postgresql://db/runs?sslcert={client.cert}&sslkey={client.key}"
    if client.key.stat().st_uid == 0:
        make_engine(normalize_db_url(url)).sync_engine.dispose()
    else:
        assert "has group or world access (mode 0640)" in refusal(url)


def test_a_key_that_is_not_the_certificates_is_one_line(tmp_path: Path, client: Issued) -> None:
    other, _, _ = issue(tmp_path, "other", "someone else")
    message = refusal(f"postgresql://db/runs?sslcert={client.cert}&sslkey={other.key}")
    assert message.startswith(
        f"cannot use the client certificate {client.cert} (sslcert in the PostgreSQL URL) "
        f"with the client key {other.key} (sslkey in the PostgreSQL URL): "
    )
    assert message.endswith("is the key the certificate's, and sslpassword its passphrase?")


def test_an_encrypted_key_without_its_passphrase_is_one_line_without_it(tmp_path: Path) -> None:
    """OpenSSL said "[SSL] PEM lib (_ssl.c:3926)" for a missing and a wrong passphrase alike."""
    files, _, key = issue(tmp_path, "client", "shop")
    locked = encrypted_key(key, tmp_path / "locked.key", "right horse")
    base = f"postgresql://db/runs?sslcert={files.cert}&sslkey={locked}"
    assert refusal(base) == (
        f"cannot use the client certificate {files.cert} (sslcert in the PostgreSQL URL) with "
        f"the client key {locked} (sslkey in the PostgreSQL URL): the key is encrypted and the "
        "URL gives no sslpassword (its passphrase)"
    )
    message = refusal(base + "&sslpassword=wrong-battery")
    assert message.endswith(
        "(sslkey in the PostgreSQL URL): sslpassword is not the key's passphrase"
    )
    assert "wrong-battery" not in message
    make_engine(normalize_db_url(base + "&sslpassword=right+horse")).sync_engine.dispose()
    other, _, _ = issue(tmp_path, "other", "someone else")
    mismatch = f"postgresql://db/runs?sslcert={other.cert}&sslkey={locked}&sslpassword=right+horse"
    assert "KEY_VALUES_MISMATCH; is the key the certificate's" in refusal(mismatch)


@pytest.mark.parametrize("holds", ["der", "key", "nothing"])
def test_a_client_certificate_or_key_that_is_no_pem_says_which(
    tmp_path: Path, client: Issued, holds: str
) -> None:
    """OpenSSL said "[SSL] PEM lib (_ssl.c:3905)" for each, naming no file."""
    bad = tmp_path / "client.cer"
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    bad.write_bytes(ca.public_bytes(serialization.Encoding.DER) if holds == "der" else b"x\n")
    bad.chmod(0o600)
    if holds == "key":
        message = refusal(f"postgresql://db/runs?sslcert={client.cert}&sslkey={bad}")
        assert message.endswith(
            "(sslkey in the PostgreSQL URL): the client key file holds no PEM private key "
            "(-----BEGIN PRIVATE KEY-----)"
        )
        return
    message = refusal(f"postgresql://db/runs?sslcert={bad}&sslkey={client.key}")
    assert message.endswith(
        "(sslkey in the PostgreSQL URL): the certificate file holds no PEM certificate "
        f"(-----BEGIN CERTIFICATE-----); from DER: openssl x509 -inform der -in {bad} "
        f"-out {tmp_path / 'client.pem'}"
    )


@pytest.mark.parametrize(
    ("param", "what", "holds"),
    [
        ("sslrootcert", "root certificate", "der"),  # a Windows CA's .cer, as exported
        ("sslrootcert", "root certificate", "key"),  # the key named for the CA
        ("sslcrl", "certificate revocation list", "text"),
    ],
)
def test_a_root_certificate_or_crl_that_holds_none_names_the_file_and_the_parameter(
    tmp_path: Path, client: Issued, param: str, what: str, holds: str
) -> None:
    """asyncpg loads them under the connection: OpenSSL's "[X509:
    NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)" named no file."""
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    bad = tmp_path / f"bad.{holds}"
    if holds == "der":
        bad.write_bytes(ca.public_bytes(serialization.Encoding.DER))
    elif holds == "key":
        bad.write_bytes(client.key.read_bytes())
    else:
        bad.write_text("revoked: nothing\n")
    root = bad if param == "sslrootcert" else tmp_path / "ca.crt"
    query = f"sslmode=verify-ca&sslrootcert={root}" + (f"&sslcrl={bad}" if bad != root else "")
    message = refusal(f"postgresql://db/runs?{query}")
    tool = "crl" if param == "sslcrl" else "x509"
    assert message == (
        f"cannot use the {what} {bad} ({param} in the PostgreSQL URL): no certificate or crl "
        "found; it must be PEM, as libpq's is (-----BEGIN ...-----); from DER: "
        f"openssl {tool} -inform der -in {bad} -out {tmp_path / 'bad.pem'}"
    )


def test_verify_full_with_no_ca_anywhere_says_which_parameter_names_one() -> None:
    message = refusal("postgresql://db/runs?sslmode=verify-full")
    assert message.startswith("sslmode=verify-full checks the server's certificate against a CA")
    assert "sslrootcert=/path/to/ca.pem" in message


def test_libpqs_default_root_certificate_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """~/.postgresql/root.crt, which asyncpg loads for require when no CA is named: one it
    could not read (here a folder) was an IsADirectoryError under the connection, exit 75."""
    default = tmp_path / "home" / ".postgresql" / "root.crt"
    default.mkdir(parents=True)
    message = refusal("postgresql://db/runs?sslmode=require")
    assert message == (
        f"cannot read the root certificate {default} (libpq's default for sslrootcert): "
        "Is a directory"
    )


def test_a_pgsslmode_that_is_no_mode_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncpg said "`sslmode` parameter must be one of: ...", of a URL with no sslmode."""
    monkeypatch.setenv("PGSSLMODE", "on")
    assert refusal("postgresql://db/runs") == (
        "$PGSSLMODE='on' is not an SSL mode "
        "(one of disable, allow, prefer, require, verify-ca, verify-full)"
    )


@pytest.mark.parametrize("mode", ["require", "verify-ca", "prefer"])
def test_sslrootcert_system_with_a_mode_weaker_than_verify_full_is_refused_as_libpq_does(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = refusal(f"postgresql://db/runs?sslmode={mode}&sslrootcert=system")
    assert message.startswith(
        f"sslmode={mode} does not go with sslrootcert=system (sslrootcert in the PostgreSQL URL)"
    )
    monkeypatch.setenv("PGSSLMODE", mode)
    monkeypatch.setenv("PGSSLROOTCERT", "system")
    assert "($PGSSLROOTCERT)" in refusal("postgresql://db/runs")


def test_sslrootcert_system_alone_means_verify_full_against_the_system_store() -> None:
    """No file named 'system' is looked for: asyncpg gets an SSLContext that checks the
    chain against the system's CAs and the host name, though the URL names no sslmode."""
    query = {"sslrootcert": "system"}
    check_tls_files(query)
    context = system_context(query)
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert system_context({"sslrootcert": "/etc/ssl/corp-ca.pem"}) is None


def test_files_are_not_read_when_the_url_turns_tls_off(tmp_path: Path) -> None:
    missing = tmp_path / "gone.pem"
    url = f"postgresql://db/runs?sslmode=disable&sslrootcert={missing}&sslcert={missing}"
    make_engine(normalize_db_url(url)).sync_engine.dispose()


def test_the_key_passphrase_is_masked_where_the_url_is_shown() -> None:
    url = normalize_db_url("postgresql://shop:pw@db/runs?sslpassword=s3cret&sslmode=require")
    assert safe_url(url) == "postgresql+asyncpg://shop:***@db/runs?ssl=require&sslpassword=***"


def test_the_files_a_url_names_are_shown_as_written() -> None:
    """SQLAlchemy renders a query percent-encoded: the line saying why a database could not be
    opened read ``sslrootcert=%2Fetc%2Fssl%2Fcorp-ca.pem``."""
    url = normalize_db_url("postgresql://db/runs?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem")
    assert (
        safe_url(url) == "postgresql+asyncpg://db/runs?ssl=verify-full&sslrootcert=/etc/ssl/ca.pem"
    )


@pytest.fixture
def environment_without_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    env["HOME"] = str(tmp_path / "home")
    env.pop("SHOPFLOOR_DB", None)
    yield env


@pytest.mark.parametrize("where", ["url", "environment"])
def test_a_missing_root_certificate_exits_2_not_75(
    tmp_path: Path, closed_port: int, environment_without_home: dict[str, str], where: str
) -> None:
    """$PGSSLROOTCERT naming no file reached asyncpg's load_verify_locations under the
    connection: a FileNotFoundError, which read as an outage."""
    missing = tmp_path / "corp-ca.pem"
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/x?sslmode=verify-full"
    env = environment_without_home
    if where == "url":
        url += f"&sslrootcert={missing}"
        source = "sslrootcert in the PostgreSQL URL"
    else:
        env["PGSSLROOTCERT"] = str(missing)
        source = "$PGSSLROOTCERT"
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "runs", "--db", url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"shopfloor: cannot read the root certificate {missing} ({source}): "
        "No such file or directory"
    )


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), False),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
    ],
)
def test_a_refused_server_certificate_is_no_outage_to_wait_out(
    error: OSError, outage: bool
) -> None:
    """Before, a reconnect that met a server certificate the URL's CA did not sign (an
    ``OSError`` like a reset) waited the whole outage window before the run stopped."""
    wrapped = StorageError("could not reach the database")
    wrapped.__cause__ = error
    assert lost_connection(wrapped) is outage
    assert lost_connection(error) is outage
