"""A throw-away PostgreSQL cluster that speaks TLS, and the certificates to talk to it.

The machine's own server (127.0.0.1:5432) is never reconfigured: :func:`start_tls_cluster`
runs ``initdb`` into a fresh folder and ``pg_ctl`` on a free loopback port with ``ssl=on``,
a server certificate for ``localhost`` only (so ``127.0.0.1`` is a host name mismatch) from a
CA made here, which also signs the client certificate. ``initdb`` refuses to run as root; as
root, the cluster runs as the ``postgres`` user, in a folder it owns.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_USER = "shop_cert"
"""The role that must log in with a client certificate (pg_hba ``cert``; its CN names it)."""
KEY_PASSPHRASE = "open sesame"
PASSWORD_USER, PASSWORD = "shop_pw", "s3cret pw"
"""The role that must log in with a password (pg_hba ``scram-sha-256``), and its password."""
SERVER_NAME = "localhost"
"""The only name the server's certificate holds: ``127.0.0.1`` does not match it."""


def pg_bin(tool: str) -> Path | None:
    """The newest installed PostgreSQL's ``tool`` (initdb, pg_ctl), or None."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=_version)
    if found:
        return Path(found[-1])
    on_path = shutil.which(tool)
    return Path(on_path) if on_path else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsCluster:
    port: int
    ca: Path
    """The CA that signed the server's and the client's certificates."""
    other_ca: Path
    """A CA that signed neither."""
    client: Issued
    """A certificate for :data:`CERT_USER` from :attr:`ca`, its key mode 0600."""
    stranger: Issued
    """A certificate for :data:`CERT_USER` from :attr:`other_ca`, which the server (trusting
    :attr:`ca` only) refuses in the handshake."""
    client_key_encrypted: Path
    """The client's key encrypted with :data:`KEY_PASSPHRASE`."""
    crl: Path
    """The CA's revocation list, revoking nothing."""
    crl_revoking_server: Path
    """The CA's revocation list that revokes the server's certificate."""

    def url(self, user: str = "postgres", host: str = SERVER_NAME, **query: object) -> str:
        """A URL of the cluster's database of ``user`` (``postgres``'s is ``postgres``)."""
        params = "&".join(f"{name}={value}" for name, value in query.items())
        return f"postgresql://{user}@{host}:{self.port}/{user}" + (f"?{params}" if params else "")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def encrypted_key(key: ec.EllipticCurvePrivateKey, path: Path, passphrase: str) -> Path:
    """``key`` written to ``path`` encrypted with ``passphrase`` (mode 0600)."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    path.chmod(0o600)
    return path


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Issued(cert_path, key_path)


def issue(
    folder: Path,
    stem: str,
    common_name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    names: Sequence[x509.GeneralName] = (),
) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``common_name`` signed by ``issuer`` (a CA of its own when None),
    written as ``<stem>.crt`` and ``<stem>.key`` (mode 0600) into ``folder``."""
    key = _key()
    now = dt.datetime.now(dt.UTC)
    signer_name, signer_key = (
        (issuer[0].subject, issuer[1]) if issuer else (_name(common_name), key)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(signer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    cert = builder.sign(signer_key, hashes.SHA256())
    return _write(folder, stem, cert, key), cert, key


def revocation_list(
    path: Path, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], *revoked: int
) -> Path:
    """A CRL from ``ca`` revoking the certificates of the serial numbers ``revoked``."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca[0].subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=1))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(minutes=5))
            .build()
        )
    path.write_bytes(builder.sign(ca[1], hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


_HBA = f"""\
local   all  all                  trust
hostssl all  {CERT_USER}  127.0.0.1/32  cert
host    all  {PASSWORD_USER}  127.0.0.1/32  scram-sha-256
hostssl all  all          127.0.0.1/32  trust
"""


class ClusterProcess:
    """A running throw-away cluster; :meth:`stop` stops it and removes its folder."""

    def __init__(self, folder: Path, pg_ctl: Path, as_postgres: bool) -> None:
        self.folder = folder
        self.data = folder / "data"
        self._pg_ctl = pg_ctl
        self._as_postgres = as_postgres

    def run(self, *command: str | Path) -> None:
        args = [str(part) for part in command]
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}{tail}")

    def stop(self) -> None:
        try:
            self.run(self._pg_ctl, "stop", "-D", self.data, "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_tls_cluster(client_folder: Path) -> tuple[TlsCluster, ClusterProcess]:
    """Initialise and start the cluster; the client's files go into ``client_folder``."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("initdb")
    as_postgres = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="shopfloor-tls-pg-"))
    cluster = ClusterProcess(folder, pg_ctl, as_postgres)
    try:
        ca_files, ca_cert, ca_key = issue(client_folder, "ca", "shopfloor test CA", None)
        other_ca, other_cert, other_key = issue(client_folder, "other-ca", "some other CA", None)
        stranger, _, _ = issue(client_folder, "stranger", CERT_USER, (other_cert, other_key))
        client, _, client_key = issue(client_folder, "client", CERT_USER, (ca_cert, ca_key))
        locked = encrypted_key(client_key, client_folder / "client-locked.key", KEY_PASSPHRASE)
        server, server_cert, _ = issue(
            folder, "server", SERVER_NAME, (ca_cert, ca_key), [x509.DNSName(SERVER_NAME)]
        )
        crl = revocation_list(client_folder / "ca.crl", (ca_cert, ca_key))
        revoking = revocation_list(
            client_folder / "ca-revoking-server.crl", (ca_cert, ca_key), server_cert.serial_number
        )
        shutil.copy(ca_files.cert, folder / "ca.crt")
        if as_postgres:
            owner = pwd.getpwnam("postgres")
            for path in (folder, *folder.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        cluster.run(initdb, "-D", cluster.data, "-U", "postgres", "-A", "trust", "-N")
        port = free_port()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{folder}'",
            "ssl": "on",
            "ssl_cert_file": f"'{server.cert}'",
            "ssl_key_file": f"'{server.key}'",
            "ssl_ca_file": f"'{folder / 'ca.crt'}'",
            "fsync": "off",
            "max_connections": "20",
            "shared_buffers": "16MB",
        }
        conf = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (cluster.data / "postgresql.conf").open("a") as config:
            config.write(conf)
        (cluster.data / "pg_hba.conf").write_text(_HBA)
        cluster.run(pg_ctl, "start", "-D", cluster.data, "-l", folder / "server.log", "-w")
        psql = pg_ctl.with_name("psql")
        for sql in (
            f"CREATE ROLE {CERT_USER} LOGIN",
            f"CREATE DATABASE {CERT_USER} OWNER {CERT_USER}",
            f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {PASSWORD_USER} OWNER {PASSWORD_USER}",
        ):
            cluster.run(psql, "-h", folder, "-p", str(port), "-U", "postgres", "-qc", sql)
    except BaseException:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    clients = (client, stranger, locked)
    return TlsCluster(port, ca_files.cert, other_ca.cert, *clients, crl, revoking), cluster
