"""The commands a run prints are commands on the database the run used.

Measured with a real ``shopfloor demo --db other.db`` stopped by SIGTERM: it said
`shopfloor resume RUN` and, for its escalation, `shopfloor answer esc-1 ... --run RUN`;
pasted, both said "no run matches" (they act on the data home's database). The systemd
STATUS lines said the same commands. Now each carries ``--db`` (storage.paths.db_option:
the SQLite path, or the URL with its password masked), and pasted, they act on other.db.
Over TLS, the certificate files the URL names relative to where the run started are named
absolute in them, so they act on it from any folder.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from notify_listener import listening
from sqlalchemy.engine import make_url
from tls_cluster import CERT_USER, TlsCluster

from tui.commands.exit_codes import EXIT_OK

ROOT = Path(__file__).resolve().parents[2]
WAITING = re.compile(r"waiting for a human: (shopfloor answer \S+) (\S+)( --run .*), or ")


def environ(home: Path, **more: str) -> dict[str, str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1", **more}
    env.pop("SHOPFLOOR_DB", None)
    return env


def paste(home: Path, command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as a person pasting it into a shell in ``cwd`` would (``shopfloor`` ->
    the CLI)."""
    words = shlex.split(command)
    assert words[0] == "shopfloor", command
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *words[1:]],
        cwd=cwd,
        env=environ(home),
        capture_output=True,
        text=True,
        timeout=180,
    )


def stopped_at_its_escalation(
    home: Path, out: Path, db: str, cwd: Path = ROOT, **env: str
) -> tuple[str, str, str]:
    """A demo on ``db`` started in ``cwd``, waiting for a human, stopped by SIGTERM: the
    answer command its console printed (its first option picked), the closing line's resume
    command, and all it said."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "demo",
            "--headless",
            "--out",
            str(out),
            "--escalations",
            "wait",
            "--speed",
            "1000",  # the SIM's latencies, not what this test is about
            "--db",
            db,
        ],
        cwd=cwd,
        env=environ(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            found = WAITING.search(line)
            if found is not None:
                break
        else:
            pytest.fail("".join(lines[-20:]))
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = "".join(lines) + rest
    assert proc.returncode == 130, said[-2000:]  # stopped by a person: resumable
    option = found.group(2).split("|")[0]
    answer = f"{found.group(1)} {option}{found.group(3)}"
    resume = said.splitlines()[-1].split("`")[1]
    return answer, resume, said


@pytest.mark.timeout(300)
def test_the_printed_answer_and_resume_act_on_the_database_the_run_used(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home, db = tmp_path / "home", tmp_path / "other.db"
    share_gate_cache(home)  # the gates' verdicts are not what this is about
    with listening() as (address, heard):
        answer, resume, said = stopped_at_its_escalation(
            home, tmp_path / "repo", str(db), NOTIFY_SOCKET=address
        )
        time.sleep(0.2)
    run = resume.split()[2]
    assert f"--run {run} --db {db}" in answer, said[-2000:]  # was: no --db
    assert resume == f"shopfloor resume {run} --db {db}", said[-2000:]
    statuses = [text for _, text in heard.messages]
    assert any("waiting: shopfloor answer esc-1 " in s and f" --db {db}" in s for s in statuses)
    assert statuses[-1].endswith(f"; stopping, resumable: shopfloor resume {run} --db {db}")

    answered = paste(home, answer)
    assert answered.returncode == EXIT_OK, answered.stderr  # was: no run matches
    assert f"`shopfloor resume {run} --db {db}` takes it" in answered.stdout
    resumed = paste(home, resume)
    assert resumed.returncode == EXIT_OK, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "shipped branch: " in resumed.stdout
    assert not (home / "shopfloor.db").exists()  # the default database was never used

    status = paste(home, f"shopfloor status {run} --db {db}")
    assert status.returncode == EXIT_OK and "shipped" in status.stdout, status.stderr


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_on_postgresql_the_printed_commands_never_show_the_password(
    tmp_path: Path, empty_pg_url: str, share_gate_cache: Callable[[Path], None]
) -> None:
    """The real server (trust: any password is accepted, and none may be shown)."""
    home = tmp_path / "home"
    share_gate_cache(home)  # the gates' verdicts are not what this is about
    url = make_url(empty_pg_url).set(password="s3cret").render_as_string(hide_password=False)
    answer, resume, said = stopped_at_its_escalation(home, tmp_path / "repo", url)
    parts = make_url(empty_pg_url)
    shown = f"postgresql+asyncpg://{parts.username}:***@{parts.host}:{parts.port}/{parts.database}"
    assert "s3cret" not in said
    run = resume.split()[2]
    assert resume == f"shopfloor resume {run} --db '{shown}'", said[-2000:]
    assert answer.endswith(f"--run {run} --db '{shown}'"), answer
    answered = paste(home, answer)  # the masked password is accepted: the server trusts
    assert answered.returncode == EXIT_OK, answered.stderr
    assert "s3cret" not in answered.stdout + answered.stderr
    resumed = paste(home, resume)
    assert resumed.returncode == EXIT_OK, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "s3cret" not in resumed.stdout + resumed.stderr
    assert not (home / "shopfloor.db").exists()


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_over_tls_the_printed_commands_name_the_certificates_wherever_they_are_pasted(
    tmp_path: Path, tls_pg: TlsCluster, share_gate_cache: Callable[[Path], None]
) -> None:
    """A demo on a server that takes only TLS, checked with verify-full, logged in with a
    client certificate (pg_hba ``cert``), its files named relative to the folder it started
    in: the run and its storage writer connect, and the printed commands, pasted in another
    folder, act on that database. They said ``sslrootcert=ca.crt``: there, "cannot read the
    root certificate ca.crt"."""
    home, there, elsewhere = tmp_path / "home", tls_pg.ca.parent, tmp_path / "elsewhere"
    elsewhere.mkdir()
    share_gate_cache(home)  # the gates' verdicts are not what this is about
    files = {"sslrootcert": tls_pg.ca, "sslcert": tls_pg.client.cert, "sslkey": tls_pg.client.key}
    relative = {name: path.relative_to(there) for name, path in files.items()}
    db = tls_pg.url(user=CERT_USER, sslmode="verify-full", **relative)
    answer, resume, said = stopped_at_its_escalation(home, tmp_path / "repo", db, cwd=there)
    printed = shlex.split(resume)[-1]
    assert shlex.split(answer)[-1] == printed, answer
    shown = make_url(printed)
    assert shown.host == "localhost" and shown.username == CERT_USER, said[-2000:]
    assert shown.query == {"ssl": "verify-full", **{n: str(p) for n, p in files.items()}}

    answered = paste(home, answer, cwd=elsewhere)
    assert answered.returncode == EXIT_OK, answered.stderr
    resumed = paste(home, resume, cwd=elsewhere)
    assert resumed.returncode == EXIT_OK, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "shipped branch: " in resumed.stdout
