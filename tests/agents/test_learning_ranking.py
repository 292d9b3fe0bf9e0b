"""Which earlier learnings a task gets: ranked by BM25, relevant only on distinctive words,
bounded; and the DNA file written back exactly as it reads."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.dna import DnaDecision, OwnerDNA
from agents.dna_proposals import dump_dna, save_dna
from agents.learnings import Lesson, common_words, lessons_from_records, rank_lessons
from tui.config import Settings
from tui.memory import ModeError, resolve_mode

ROUNDING = Lesson(
    "r1-L1", "trap", "pricing rounds half cents down; use ROUND_HALF_UP", ("pricing",)
)
CSV = Lesson("r1-L2", "trap", "csv export drops the quoted comma in names", ("csv_io",))


def test_a_task_gets_the_lessons_that_share_its_distinctive_words() -> None:
    query = "Pricing: line totals rounded half up to the cent"
    assert rank_lessons([CSV, ROUNDING], query) == [ROUNDING]
    assert rank_lessons([CSV, ROUNDING], "Load and save a CSV file with quoted names") == [CSV]
    assert rank_lessons([CSV, ROUNDING], "Add a logo to the about page") == []


def test_generic_and_project_wide_words_do_not_make_a_lesson_relevant() -> None:
    generic = Lesson("L9", "trap", "task needed 2 attempts; first failure: tests failed")
    assert rank_lessons([generic], "task tests attempts failure first") == []
    project = Lesson("L8", "trap", "inventory widget crashed", ("inventory",))
    common = common_words(["inventory stock", "inventory pricing", "inventory widget export"])
    assert "inventory" in common
    assert rank_lessons([project], "inventory widget export", ignore=common) == []
    assert rank_lessons([project], "inventory widget export") == [project]


def test_at_most_limit_lessons_best_first() -> None:
    lessons = [
        Lesson(f"L{i}", "rule", "pricing discount tax " + "pricing " * i) for i in range(1, 8)
    ]
    ranked = rank_lessons(lessons, "pricing discount tax", limit=3)
    assert len(ranked) == 3


def test_lessons_come_from_records_newest_text_wins() -> None:
    old = SimpleNamespace(learning_id="a", kind="trap", text="same", tags=("x",), source="s")
    new = SimpleNamespace(learning_id="b", kind="trap", text="same", tags=(), source="s")
    assert [x.learning_id for x in lessons_from_records([old, new])] == ["b"]


def test_the_dna_is_written_back_exactly_and_keeps_its_header(tmp_path: Path) -> None:
    path = tmp_path / "owner.toml"
    path.write_text('# my DNA\n# keep me\ndecisions = ["Chose \\"SQLite\\""]\n')
    dna = OwnerDNA(
        owner={"name": "Zoë"},
        decisions=[
            'Chose "SQLite"',
            DnaDecision(question="Ship it?\nReally", decision="accept", kind="twin", note="ok"),
        ],
        redlines=["No network"],
    )
    save_dna(path, dna)
    assert path.read_text().startswith("# my DNA\n# keep me\n")
    assert OwnerDNA.load(path) == dna
    assert "[owner]" in dump_dna(dna).split("redlines")[1]  # the table comes last
    assert dna.precedent("ship it?  really", "twin") is not None
    assert dna.precedent("ship it?  really", "review") is None


def test_the_mode_comes_from_the_flag_the_playbook_or_the_repository(tmp_path: Path) -> None:
    class Workspaces:
        path = tmp_path

        def tracked_files(self) -> list[str]:
            return ["README.md", "app.py"]

    (tmp_path / "app.py").write_text("print('hi')\n")
    ws = Workspaces()
    assert resolve_mode("audit", Settings(), ws) == "audit"  # type: ignore[arg-type]
    assert resolve_mode(None, Settings(), ws) == "update"  # type: ignore[arg-type]
    units = Path(__file__).resolve().parents[2] / "examples" / "inventory" / "playbook.yaml"
    assert resolve_mode(None, Settings(playbook=units), ws) == "create"  # type: ignore[arg-type]
    with pytest.raises(ModeError, match="unknown mode 'rewrite'"):
        resolve_mode("rewrite", Settings(), ws)  # type: ignore[arg-type]
