"""Telling a client certificate the PostgreSQL server refused from the server being down.

Under TLS 1.3 the server judges the client's certificate only after the client has finished
its side of the handshake, so its refusal — a TLS alert, "tlsv1 alert unknown ca", "sslv3
alert bad certificate", "tlsv13 alert certificate required" — arrives on the client's first
read, and asyncpg reports the connection lost: ConnectionDoesNotExistError (08003), the
SSLError as its cause (:func:`storage.errors.tls_alert` finds it). Worse, the alert races
asyncpg's startup message: when that reaches a server process that has already closed the
socket, the server's kernel answers with a reset, the alert in flight is dropped, and all that
is left is "Connection reset by peer" — as from a server that went down (about one connection
in four here). So when opening a database over TLS ends in a reset, :func:`refused_certificate`
asks the server once more, with a handshake after which it writes nothing, and so reads the
server's verdict whole. Either way the user gets one line naming the certificate (or its
absence) instead of "try later".
"""

from __future__ import annotations

import asyncio
import os
import ssl
import struct

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from storage.errors import tls_alert
from storage.pg_tls import client_certificate

VERDICT_WAIT_S = 3.0
"""How long the second handshake waits for the server's verdict. A server that refuses the
certificate answers at once; one that takes it waits for a startup message that never comes."""

_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
"""PostgreSQL's SSLRequest: the client asks to speak TLS before anything else."""

_ABOUT_THE_CERTIFICATE = ("CERTIFICATE", "UNKNOWN_CA", "ACCESS_DENIED", "DECRYPT_ERROR")
"""Words in the OpenSSL reasons of the alerts a server sends for a client certificate it
refuses (unknown ca, bad/expired/revoked/unsupported certificate, certificate required...)."""


def refusal(url: URL, alert: ssl.SSLError) -> str:
    """What the server's TLS ``alert`` means for ``url``, in one line: which certificate
    (and key) the server refused, or that none was given."""
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    said = str(alert.reason or alert).lower().replace("_", " ")
    if not any(word in str(alert.reason) for word in _ABOUT_THE_CERTIFICATE):
        return f"the server at {where} ended the TLS handshake with an alert ({said})"
    cert, key = client_certificate(url.query)
    if cert is None:
        return (
            f"the server at {where} requires a client certificate and none was given ({said});"
            " name it with sslcert=/path/to/client.crt&sslkey=/path/to/client.key in the "
            "PostgreSQL URL (or $PGSSLCERT and $PGSSLKEY)"
        )
    files = f"{cert} with the {key}" if key else f"{cert}"
    return (
        f"the server at {where} refused the client certificate ({said}): the {files}; is it "
        "signed by a CA the server trusts (its ssl_ca_file), for this user, and still valid?"
    )


async def refused_certificate(url: URL, exc: BaseException) -> str | None:
    """The one line saying the server refused this URL's client certificate (or its lack),
    when that is why opening ``url`` failed with ``exc``; None otherwise."""
    alert = tls_alert(exc)
    if alert is None and _reset(exc):
        alert = await _verdict(url)
    return refusal(url, alert) if alert is not None else None


def _reset(exc: BaseException | None) -> bool:
    """Whether the connection was reset, or lost with no reason given, under ``exc``."""
    while exc is not None:
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            return True
        if str(getattr(exc, "sqlstate", "") or "") == "08003" and exc.__cause__ is None:
            return True  # connection_does_not_exist: lost, no cause
        exc = exc.orig if isinstance(exc, DBAPIError) else exc.__cause__
    return False


async def _verdict(url: URL) -> ssl.SSLError | None:
    """The TLS alert the server at ``url`` answers the URL's client certificate with, or None
    (it took the certificate, cannot be reached, or does not speak TLS there)."""
    host, mode = url.host or "localhost", url.query.get("ssl") or os.environ.get("PGSSLMODE")
    if host.startswith("/") or mode in ("disable", "allow"):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the client's certificate is in question, not the server's
    context.verify_mode = ssl.CERT_NONE
    cert, key = client_certificate(url.query)
    password = url.query.get("sslpassword")
    try:
        if cert is not None:
            context.load_cert_chain(
                cert.path,
                keyfile=key.path if key else None,
                password=lambda: password if isinstance(password, str) else "",
            )
        async with asyncio.timeout(VERDICT_WAIT_S):
            reader, writer = await asyncio.open_connection(host, url.port or 5432)
            try:
                writer.write(_SSL_REQUEST)
                if await reader.readexactly(1) != b"S":
                    return None
                await writer.start_tls(context, server_hostname=host)
                await reader.read(1)
            finally:
                writer.close()
    except ssl.SSLError as alert:
        return tls_alert(alert)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    return None
