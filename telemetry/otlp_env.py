"""Whether the environment names an OTLP collector for traces, and which endpoint.

Read apart from ``telemetry.span_export`` (which loads the OpenTelemetry SDK, some 40 ms) so a
command that traces only when asked (``shopfloor abandon``) can tell without paying for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def otlp_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The traces endpoint the OTLP exporter posts to, as the standard variables name it,
    without any user or password it carries (it is shown in the log).

    Raises ValueError, naming the variable but not its value (it may carry a password), when
    it cannot be a URL (``http://[::1``)."""
    env = os.environ if environ is None else environ
    name, url = OTLP_ENV[1], env.get(OTLP_ENV[1], "").strip()
    if not url:
        name, url = OTLP_ENV[0], env.get(OTLP_ENV[0], "").strip().rstrip("/") + "/v1/traces"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"${name} is not a URL: {exc}") from None
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names an OTLP endpoint to export traces to."""
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in OTLP_ENV)
