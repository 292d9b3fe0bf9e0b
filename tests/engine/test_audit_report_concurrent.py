"""Two audits writing their reports to one ``--out`` folder at the same time.

Each report is ``audit.md`` and ``audit.json``. Written in place, two audits at once left a
file that began with one report and ended with the other's tail, and a person (or a CI step)
reading the folder meanwhile got a truncated file. Each file must always be one whole
report, and once both are done the two files must be the same audit's. The writers are two
real processes; the test reads the folder all the while.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.audit_report import AuditGate, AuditReport
from engine.protocols import Finding

WRITER = """\
import sys
from pathlib import Path
from engine.audit import AuditReport
report = AuditReport.model_validate_json(Path(sys.argv[1]).read_text())
for _ in range(int(sys.argv[3])):
    report.write(Path(sys.argv[2]))
"""


def report(run_id: str, findings: int) -> AuditReport:
    gate = AuditGate(
        name="lint",
        passed=False,
        summary=f"{findings} problems",
        findings=[
            Finding(message=f"{run_id} E501 line too long", file=f"m{n}.py", line=n)
            for n in range(findings)
        ],
    )
    return AuditReport(run_id=run_id, request="audit", repo="/repo", commit="abc", gates=[gate])


def test_two_audits_into_one_folder_never_mix_their_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    reports = {"r-big": report("r-big", 6000), "r-small": report("r-small", 1500)}
    markdown = {r.to_markdown() for r in reports.values()}
    writers = []
    for run_id, one in reports.items():
        source = tmp_path / f"{run_id}.json"
        source.write_text(one.model_dump_json())
        writers.append(
            subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(out), "60"])
        )
    torn: list[str] = []
    while any(w.poll() is None for w in writers):
        try:
            md = (out / "audit.md").read_text(encoding="utf-8")
            js = (out / "audit.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            continue  # not written yet
        if md not in markdown:
            torn.append(f"audit.md of {len(md)} characters")
        try:
            json.loads(js)
        except ValueError:
            torn.append(f"audit.json of {len(js)} characters")
    assert [w.wait() for w in writers] == [0, 0]
    assert torn == []
    md = (out / "audit.md").read_text(encoding="utf-8")
    written = AuditReport.model_validate_json((out / "audit.json").read_text(encoding="utf-8"))
    assert md == reports[written.run_id].to_markdown()  # the pair is one audit's
    assert sorted(p.name for p in out.iterdir()) == ["audit.json", "audit.md"]
