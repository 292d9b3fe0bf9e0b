"""Context selection: repo map, BM25 ranking, the blueprint's files, learnings, the budget."""

from __future__ import annotations

from pathlib import Path

from agents.context import (
    BM25,
    estimate_tokens,
    python_symbols,
    rank_files,
    repo_map,
    select_context,
    tokenize,
)
from agents.roles.engineer import build_prompt, select_job_context
from engine.blueprint import Blueprint, Task
from engine.protocols import EngineerJob

FILES = {
    "shop/pricing.py": (
        "from decimal import Decimal\n\n"
        "class Discount:\n    def apply(self, amount): ...\n\n"
        "def add_tax(amount: Decimal, rate: Decimal) -> Decimal:\n"
        '    """Tax on an amount, rounded half-up to the cent."""\n'
        "    return amount * rate\n"
    ),
    "shop/stock.py": (
        "class Inventory:\n    def adjust(self, sku, delta): ...\n    def _x(self): ...\n"
    ),
    "shop/csv_io.py": (
        "import csv\n\ndef read_items(stream):\n    return list(csv.reader(stream))\n"
    ),
    "README.md": "# Shop\nA shop with stock and pricing.\n",
    "docs/big.txt": "filler words here " * 4000,
}


def make_repo(root: Path) -> Path:
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def test_tokenize_splits_identifiers():
    assert tokenize("add_tax(TaxRate) 42x") == ["add", "tax", "tax", "rate", "42"]


def test_repo_map_lists_python_symbols_and_other_files(tmp_path: Path):
    root = make_repo(tmp_path)
    text = repo_map(root, ["shop/stock.py", "README.md"])
    assert text.splitlines() == ["shop/stock.py: class Inventory(adjust)", "README.md"]
    assert python_symbols("def (:") == ["(does not parse)"]


def test_bm25_prefers_the_document_with_the_rarer_matching_term():
    index = BM25([["tax", "cent"], ["stock", "sku"], ["tax", "stock"]])
    scores = [index.score(["cent", "tax"], i) for i in range(3)]
    assert scores[0] > scores[2] > scores[1] == 0


def test_ranking_picks_the_relevant_file(tmp_path: Path):
    root = make_repo(tmp_path)
    ranked = rank_files(root, sorted(FILES), "Add a tax rate that is rounded half-up to the cent")
    assert ranked[0][0] == "shop/pricing.py"
    assert "shop/csv_io.py" not in [rel for rel, _ in ranked]


def test_selection_respects_the_budget_and_puts_named_files_first(tmp_path: Path):
    root = make_repo(tmp_path)
    pack = select_context(
        root,
        "tax rounding for the pricing module",
        named_files=["shop/stock.py", "missing.py"],
        learnings=["Money is Decimal, never float"],
        budget_tokens=400,
    )
    assert pack.tokens <= 400
    assert pack.files[0] == "shop/stock.py"
    assert "shop/pricing.py" in pack.files
    assert "docs/big.txt" not in pack.files  # far over the budget
    assert pack.repo_map and "## Repository map" in pack.text
    assert pack.text.startswith("## Learnings from earlier runs\n- Money is Decimal")
    assert ".git/config" not in pack.text


def test_the_failure_context_is_reserved_from_the_budget(tmp_path: Path):
    root = make_repo(tmp_path)
    failure = "E   AssertionError: " + "x" * 1200
    query = "tax on stock adjust and csv read items"
    full = select_context(root, query, budget_tokens=300)
    squeezed = select_context(root, query, failure=failure, budget_tokens=300)
    assert estimate_tokens(failure) > 150
    assert squeezed.reserved == 150  # at most half the budget goes to the failure
    assert squeezed.tokens + squeezed.reserved <= 300
    assert len(squeezed.files) < len(full.files)


def test_the_engineer_prompt_carries_the_selected_context(tmp_path: Path):
    root = make_repo(tmp_path)
    blueprint = Blueprint(
        spec="A shop",
        tasks=[
            Task(id="stock", title="Stock", files=["shop/stock.py"]),
            Task(
                id="report",
                title="Valuation report with tax",
                depends_on=["stock"],
                files=["shop/report.py"],
                test_plan="tax is added",
            ),
        ],
    )
    job = EngineerJob("run", blueprint.tasks[1], blueprint, root, 1, 3)
    pack = select_job_context(job, 2000)
    assert pack.files[0] == "shop/stock.py"  # the dependency's file, named by the blueprint
    prompt = build_prompt(job, pack.text)
    assert "selected for this task" in prompt and "class Inventory" in prompt
    assert "selected for this task" not in build_prompt(job)
