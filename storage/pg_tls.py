"""libpq's TLS parameters (``sslrootcert``, ``sslcert``, ``sslkey``, ``sslpassword``,
``sslcrl``) on the way from a shopfloor URL to asyncpg.

asyncpg builds its SSLContext the libpq way itself: ``verify-ca`` checks the chain,
``verify-full`` the host name too, ``require`` with a root certificate behaves as
``verify-ca``; a parameter the URL leaves out is read from ``$PGSSLROOTCERT``, ``$PGSSLCERT``,
``$PGSSLKEY``, ``$PGSSLCRL`` (``$PGSSLMODE`` when there is no ``sslmode``), then from
``~/.postgresql/``, as libpq does. It takes these parameters only from a DSN's query, though,
and SQLAlchemy's dialect calls ``connect()`` with keywords, none of which they are. So the
engine hands them over as a DSN that is nothing but that query; the host, port, user and
database stay keywords, which asyncpg prefers to a DSN's.

What asyncpg leaves to the caller is checked here, before the first connection, each a
one-line :class:`StorageError` naming the file and what named it: a file it would load that is
missing or unreadable, ``~/.postgresql/``'s included (its FileNotFoundError or
IsADirectoryError under the connection read as an outage, exit 75), no root certificate at
all for a ``verify-*`` mode, a client certificate that its key or ``sslpassword`` does not
open, a root certificate or revocation list that holds none (not PEM: a DER file, a key), a
``$PGSSLMODE`` that is no mode, and — as libpq refuses it — a private key with group
or world access.

``sslrootcert=system`` (libpq 16's "the system's trusted CAs") asyncpg would take for a file
named ``system``: for it the engine hands asyncpg an SSLContext of its own
(:func:`system_context`), ``verify-full`` as libpq implies, and refuses a weaker sslmode.
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from storage.errors import StorageError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's (and asyncpg's) values of ``sslmode``."""
SYSTEM_ROOT = "system"
"""libpq's (16+) ``sslrootcert`` for the system's trusted CAs, which implies ``verify-full``."""
TLS_PARAMS = ("sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl")
"""libpq's TLS parameters a PostgreSQL URL may carry, by libpq's (and asyncpg's) names."""

_ENV = {
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}
"""Where asyncpg (like libpq) looks for a file the URL does not name."""
_DEFAULT = {
    "sslrootcert": "root.crt",
    "sslcert": "postgresql.crt",
    "sslkey": "postgresql.key",
    "sslcrl": "root.crl",
}
"""The file in ``~/.postgresql/`` asyncpg (like libpq) loads when it exists and nothing is
named."""
_WHAT = {
    "sslrootcert": "root certificate",
    "sslcert": "client certificate",
    "sslkey": "client key",
    "sslcrl": "certificate revocation list",
}
_VERIFYING = ("require", "verify-ca", "verify-full")
"""The modes in which asyncpg loads the root certificate and the revocation list."""


def tls_dsn(query: Mapping[str, object]) -> str | None:
    """The DSN that carries the URL's TLS parameters to asyncpg, or None when it has none.

    ``query`` is the URL's (already checked) query; the DSN holds no host, user or
    password, only ``?sslrootcert=...&...``.
    """
    named = {name: value for name in TLS_PARAMS if isinstance(value := query.get(name), str)}
    return f"postgresql://?{urlencode(named)}" if named else None


@dataclass(frozen=True)
class TlsFile:
    """A TLS file asyncpg will load: where it is, and which setting named it."""

    param: str
    path: str
    source: str

    def __str__(self) -> str:
        return f"{_WHAT[self.param]} {self.path} ({self.source})"


def _named(param: str, query: Mapping[str, object]) -> TlsFile | None:
    value = query.get(param)
    if isinstance(value, str) and value:
        return TlsFile(param, value, f"{param} in the PostgreSQL URL")
    env = os.environ.get(_ENV[param], "")
    if env:
        return TlsFile(param, env, f"${_ENV[param]}")
    return None


def _default(param: str) -> TlsFile | None:
    try:
        path = Path.home() / ".postgresql" / _DEFAULT[param]
    except (RuntimeError, KeyError):  # no home folder: asyncpg skips the default too
        return None
    return TlsFile(param, str(path), f"libpq's default for {param}") if path.exists() else None


def client_certificate(query: Mapping[str, object]) -> tuple[TlsFile | None, TlsFile | None]:
    """The client certificate and key asyncpg presents for this URL (``query`` in asyncpg's
    names), each None when none is named and libpq's default file does not exist."""
    cert = _named("sslcert", query) or _default("sslcert")
    key = _named("sslkey", query) or _default("sslkey")
    return cert, key


def check_tls_files(query: Mapping[str, object]) -> None:
    """Raise a one-line :class:`StorageError` naming the file and the parameter when a file
    asyncpg would load for this URL is missing, unreadable or (a private key) open to others.

    ``query`` is the URL's query in asyncpg's names (``ssl`` for ``sslmode``).
    """
    explicit = query.get("ssl") or os.environ.get("PGSSLMODE")
    if explicit is not None and explicit not in SSL_MODES:  # the URL's was checked already
        raise StorageError(
            f"$PGSSLMODE={explicit!r} is not an SSL mode (one of {', '.join(SSL_MODES)})"
        )
    root = _system_root(query)
    if root is not None and explicit not in (None, "verify-full"):
        raise StorageError(
            f"sslmode={explicit} does not go with sslrootcert=system ({root.source}), as libpq "
            "says too: the system's CAs sign certificates for any host, so only verify-full "
            "(the default with sslrootcert=system) checks the server's name"
        )
    mode = explicit or ("verify-full" if root is not None else "prefer")
    if mode == "disable":
        return
    if mode in _VERIFYING:
        for param in ("sslrootcert", "sslcrl"):
            file = _named(param, query) or _default(param)
            if file is not None and file != root:
                _readable(file)
                _trusted(file)
        if mode != "require" and _named("sslrootcert", query) is None:
            if _default("sslrootcert") is None:
                raise StorageError(
                    f"sslmode={mode} checks the server's certificate against a CA and none is "
                    "given: name the CA's certificate file with sslrootcert=/path/to/ca.pem in "
                    "the PostgreSQL URL (or $PGSSLROOTCERT, or ~/.postgresql/root.crt)"
                )
    cert = _named("sslcert", query) or _default("sslcert")
    if cert is None:
        return
    _readable(cert)
    key = _named("sslkey", query) or _default("sslkey")
    if key is not None:
        _readable(key)
        _private(key)
    password = query.get("sslpassword")
    _loadable(cert, key, password if isinstance(password, str) else "")


def _system_root(query: Mapping[str, object]) -> TlsFile | None:
    """``sslrootcert=system`` (or ``$PGSSLROOTCERT=system``), or None."""
    root = _named("sslrootcert", query)
    return root if root is not None and root.path == SYSTEM_ROOT else None


def system_context(query: Mapping[str, object]) -> ssl.SSLContext | None:
    """The SSLContext for ``sslrootcert=system`` (None for any other root certificate):
    libpq's "the system's trusted CAs", with ``verify-full``'s checks.

    asyncpg would look for a file named ``system``; this context trusts OpenSSL's default
    verify paths instead (``$SSL_CERT_FILE`` and ``$SSL_CERT_DIR`` when set, as for libpq),
    checks the server's host name, and carries what asyncpg would otherwise load from the
    URL: the revocation list and the client certificate. Call it after
    :func:`check_tls_files`, which has said in one line what does not load.
    """
    if _system_root(query) is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    crl = _named("sslcrl", query) or _default("sslcrl")
    if crl is not None:
        context.load_verify_locations(cafile=crl.path)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN  # as asyncpg does with sslcrl
    cert, key = client_certificate(query)
    if cert is not None:
        password = query.get("sslpassword")
        context.load_cert_chain(
            cert.path,
            keyfile=key.path if key else None,
            password=lambda: password if isinstance(password, str) else "",
        )
    return context


def _readable(file: TlsFile) -> None:
    try:
        with open(file.path, "rb"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"cannot read the {file}: {reason}") from exc


def _trusted(file: TlsFile) -> None:
    """Load a root certificate or revocation list as asyncpg will, to say which file holds
    none: there, OpenSSL's "no certificate or crl found" under the connection named none."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=file.path)
    except ssl.SSLError as exc:
        said = (exc.reason or str(exc)).lower().replace("_", " ")
        raise StorageError(
            f"cannot use the {file}: {said}; it must be PEM, as libpq's is (-----BEGIN ...-----); "
            f"from DER: {_from_der(file)}"
        ) from exc


def _from_der(file: TlsFile) -> str:
    """The openssl command that writes a DER certificate (or CRL) ``file`` as PEM beside it."""
    der = Path(file.path)
    pem = der.with_suffix(".pem")
    pem = pem if pem != der else der.with_name(f"{der.stem}-converted.pem")
    tool = "crl" if file.param == "sslcrl" else "x509"
    return f"openssl {tool} -inform der -in {der} -out {pem}"


def _private(key: TlsFile) -> None:
    """libpq's rule for a private key file: a regular file, with no access for group or
    others — except that a file root owns may be read by its group (``0640``)."""
    status = os.stat(key.path)
    if not stat.S_ISREG(status.st_mode):
        raise StorageError(f"the {key} is not a regular file")
    others = stat.S_IWGRP | stat.S_IXGRP | stat.S_IRWXO if status.st_uid == 0 else 0o077
    if status.st_mode & others:
        allowed = "640" if status.st_uid == 0 else "600"
        raise StorageError(
            f"the {key} has group or world access (mode {stat.S_IMODE(status.st_mode):04o}), "
            f"which libpq refuses too: chmod {allowed} {key.path}"
        )


def _loadable(cert: TlsFile, key: TlsFile | None, password: str) -> None:
    """Load the certificate and its key as asyncpg will, to say which files do not fit:
    there, the ssl module's "PEM lib" under the connection says neither."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(
            cert.path, keyfile=key.path if key else None, password=lambda: password
        )
    except ssl.SSLError as exc:
        files = f"{cert} with the {key}" if key else f"{cert}, which holds no key (no sslkey)"
        mismatch = exc.reason == "KEY_VALUES_MISMATCH"  # each loaded: they are no pair
        why = (None if mismatch else _unfit(cert, key or cert, password)) or (
            f"{exc.reason or exc}; is the key the certificate's, and sslpassword its passphrase?"
        )
        raise StorageError(f"cannot use the {files}: {why}") from exc


def _unfit(cert: TlsFile, key: TlsFile, password: str) -> str | None:
    """Which file did not load, by what it holds (OpenSSL said "PEM lib" for each), or None."""
    held = {}
    for file in (cert, key):
        with open(file.path, "rb") as pem:
            held[file.param] = pem.read()
    if not re.search(rb"-----BEGIN (TRUSTED )?CERTIFICATE-----", held["sslcert"]):
        return (
            "the certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
            f"from DER: {_from_der(cert)}"
        )
    if not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", held[key.param]):
        return f"the {_WHAT[key.param]} file holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
    if re.search(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED", held[key.param]):
        if not password:
            return "the key is encrypted and the URL gives no sslpassword (its passphrase)"
        return "sslpassword is not the key's passphrase"
    return None
