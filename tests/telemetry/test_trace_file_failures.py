"""A ``--trace-file`` that is no regular file, or that stops taking writes.

Measured before: ``shopfloor abandon RUN --trace-file /dev/full`` read the "file" for the
spans it held (``span_ids_in``), an endless run of zero bytes with no line end, and was
killed by the kernel at 22 GB; on a full disk, every span was a traceback on stderr, then the
abandon itself ended in one (exit 1) after the run was abandoned, without saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import telemetry_sample
from demo_process import ROOT
from test_abandoned_run_trace import killed_run, stored_state

from engine.events import Outcome
from telemetry.span_export import span_ids_in
from tui.cli import main

RUN = telemetry_sample.RUN_ID
TRACE = 0x0123456789ABCDEF0123456789ABCDEF


@pytest.fixture(autouse=True)
def no_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)


@pytest.mark.timeout(10)
def test_a_trace_file_that_is_a_pipe_is_not_read(tmp_path: Path) -> None:
    """Which spans a pipe holds cannot be known: not read (it waited for a writer for ever;
    a device such as /dev/full was read for ever)."""
    fifo = tmp_path / "spans"
    os.mkfifo(fifo)
    assert span_ids_in(fifo, TRACE) is None


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full: every write fails")
def test_an_abandon_whose_trace_file_is_full_says_so_in_one_line(tmp_path: Path) -> None:
    """Every write fails as on a full disk: one line says the spans are dropped, and the
    abandon goes on and says what it did (exit 0)."""
    db = tmp_path / "runs.db"
    killed_run(db, {}, tmp_path / "trace.jsonl")
    script = (
        "import sys\nfrom tui.cli import main\n"
        f"sys.exit(main(['abandon', {RUN!r}, '--db', {str(db)!r}, '--trace-file', '/dev/full']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "traces: cannot write trace file /dev/full (No space left on device); "
        "its spans are dropped from here\n"
    )
    assert f"run {RUN} abandoned: it will not be resumed" in done.stdout
    assert stored_state(db).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    "name", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_an_otlp_endpoint_that_is_no_url_is_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    """Before: a traceback from urlsplit (``ValueError: Invalid IPv6 URL``), for a run as for
    an abandon. Now one line naming the variable, not its value (it may hold a password),
    and the run is left as it was."""
    db = tmp_path / "runs.db"
    killed_run(db, {}, tmp_path / "trace.jsonl")
    capsys.readouterr()
    monkeypatch.setenv(name, "http://user:s3cret@[::1")
    assert main(["abandon", RUN, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err == f"shopfloor: ${name} is not a URL: Invalid IPv6 URL\n"
    assert stored_state(db).outcome is Outcome.RUNNING
