"""What the command line asks of a run's telemetry, and whether it asks for any.

Kept apart from :mod:`telemetry.session`, which loads Prometheus's client and the
OpenTelemetry SDK (~0.1 s of CPU): a run that serves no /metrics and exports no trace — the
default, every demo — needs neither, and its composition root asks
:meth:`TelemetryOptions.wanted` before it loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from telemetry.otlp_env import otlp_configured


@dataclass(frozen=True)
class TelemetryOptions:
    """What the command line asked of telemetry for a run."""

    metrics_port: int | None = None
    """Serve /metrics on this port for the life of the run (0 = any free port)."""
    metrics_host: str = "127.0.0.1"
    """Address to bind the metrics endpoint to."""
    metrics_linger_s: float = 0.0
    """Keep serving /metrics this long after the run ended (0: until a last scrape)."""
    trace_file: Path | None = None
    """Also write spans as JSON lines to this file."""
    otel_content: bool = False
    """Put the request and agents' completions on spans (off: metadata only)."""

    def wanted(self, environ: Mapping[str, str] | None = None) -> bool:
        """Whether the run has anything to serve or export: a /metrics port, a trace file,
        or an OTLP collector the environment names. Without any, nothing outside the
        process could see its metrics or spans, so there is nothing to keep."""
        return (
            self.metrics_port is not None or self.trace_file is not None or otlp_configured(environ)
        )
