"""Bad input through the CLI, as a user mistypes it at 2 a.m.: one line on stderr naming the
problem and exit code 2 — never a traceback, never the API key, nothing written that was not
asked for.

Each case calls the CLI's ``main()`` in process, as the user's shell would call the console
script; the cases a whole process is needed for (a pipe closed by its reader, the storage
writer) live beside the commands' own tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine import loop as event_loop
from tui.cli import main

SECRET = "sk-ant-test-SECRET123"
NO_SUCH_USER = "~shopfloor-no-such-user-7f3a"


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder with the things users point at by mistake, a private data home, and
    an API key in the environment that must not be echoed."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 \xff\xfe build it")
    (tmp_path / "empty.md").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "engine-scalar.toml").write_text("engine = 3\n", encoding="utf-8")
    (tmp_path / "no-outage.toml").write_text("[storage]\noutage_wait_s = 0\n", encoding="utf-8")
    return tmp_path


def _demo_in_a_home_it_cannot_write(place: Path) -> list[str]:
    """A data folder whose ``demos`` is a file: the demo's DNA cannot be copied there (as on
    a read-only data folder, where it was a traceback)."""
    (place / "home").mkdir()
    (place / "home" / "demos").write_text("not a folder\n", encoding="utf-8")
    return ["demo", "--out", str(place / "demo")]


def _run(place: Path, *extra: str) -> list[str]:
    return ["run", "add a feature", "--repo", str(place / "a-folder"), *extra]


CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "empty request file",
        lambda p: ["run", "--request-file", str(p / "empty.md"), "--repo", str(p / "a-folder")],
        "is empty",
    ),
    (
        "a request given twice",
        lambda p: [
            *(
                "run",
                "Add x",
                "--request-file",
                str(p / "latin1.txt"),
                "--repo",
                str(p / "a-folder"),
            ),
        ],
        "give the request as an argument or with --request-file, not both ('Add x' and",
    ),
    (
        "a blank request",  # a run that asked for nothing was started
        lambda p: ["run", " \n ", "--repo", str(p / "a-folder")],
        "give the request as an argument or with --request-file",
    ),
    (
        "request file not UTF-8",
        lambda p: ["run", "--request-file", str(p / "latin1.txt"), "--repo", str(p / "a-folder")],
        "is not UTF-8 text",
    ),
    ("config not UTF-8", lambda p: _run(p, "--config", str(p / "latin1.txt")), "not UTF-8 text"),
    (
        "config section not a table",
        lambda p: _run(p, "--config", str(p / "engine-scalar.toml")),
        "[engine] must be a table, got 3",
    ),
    (
        "outage window not positive",
        lambda p: _run(p, "--config", str(p / "no-outage.toml")),
        "[storage] outage_wait_s must be a positive number of seconds, got 0",
    ),
    ("playbook not UTF-8", lambda p: _run(p, "--playbook", str(p / "latin1.txt")), "not UTF-8"),
    (
        "audit report folder is a file",
        lambda p: _run(p, "--mode", "audit", "--out", str(p / "a-file")),
        "is a file; an audit's report needs a folder",
    ),
    (
        "demo DNA not copied",
        _demo_in_a_home_it_cannot_write,
        "cannot copy the example's DNA to ",
    ),
    ("demo folder is a file", lambda p: ["demo", "--out", str(p / "a-file")], "is a file"),
    (
        "repository is a file",
        lambda p: ["run", "add a feature", "--repo", str(p / "a-file")],
        "the repository is a file, not a folder",
    ),
    (
        "demo folder inside a file",
        lambda p: ["demo", "--out", str(p / "a-file" / "demo")],
        "cannot create demo folder",
    ),
    (
        "database is a folder",
        lambda p: ["runs", "--db", str(p / "a-folder")],
        "a-folder is a folder",
    ),
    (
        "database in an unknown user's home",
        lambda p: ["runs", "--db", f"{NO_SUCH_USER}/shop.db"],
        f"cannot find the home folder of '{NO_SUCH_USER}'",
    ),
    (
        "DNA not UTF-8",
        lambda p: ["dna", "show", "--dna", str(p / "latin1.txt")],
        "is not UTF-8 text",
    ),
    (
        "DNA's config not UTF-8",
        lambda p: ["dna", "path", "--config", str(p / "latin1.txt")],
        "is not UTF-8 text",
    ),
    (
        "init into a file's folder",
        lambda p: ["init", "--repo", str(p / "a-folder"), "--output", str(p / "a-file" / "x")],
        "cannot write",
    ),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_on_stderr(
    place: Path, capsys: pytest.CaptureFixture[str], argv, expected: str
) -> None:
    before = sorted(p.relative_to(place) for p in place.rglob("*"))
    assert main(argv(place)) == 2
    out, err = capsys.readouterr()
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    assert expected in err
    assert SECRET not in out + err
    # Nothing was made on the way to the refusal: no run, no repository, no stray file.
    made = sorted(p.relative_to(place) for p in place.rglob("*"))
    assert [p for p in made if p not in before and p.parts[0] != "home"] == []
    assert not list((place / "home").rglob("*.db"))


ENVIRONMENTS = [
    ("SHOPFLOOR_LOOP", "bogus", "SHOPFLOOR_LOOP='bogus' is not an event loop"),
    ("SHOPFLOOR_HOME", f"{NO_SUCH_USER}/data", "cannot find the home folder"),
    ("SHOPFLOOR_DB", f"{NO_SUCH_USER}/shop.db", "cannot find the home folder"),
    ("EDITOR", 'vi "unclosed', "cannot parse the editor command"),
    ("SHOPFLOOR_OUTAGE_WAIT_S", "0", "$SHOPFLOOR_OUTAGE_WAIT_S must be a positive number"),
]


@pytest.mark.parametrize(
    ("name", "value", "expected"), ENVIRONMENTS, ids=[e[0] for e in ENVIRONMENTS]
)
def test_a_bad_environment_variable_is_one_line(
    place: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv(name, value)
    argv = {
        "EDITOR": ["dna", "edit", "--dna", str(place / "dna.toml")],
        "SHOPFLOOR_OUTAGE_WAIT_S": _run(place),  # read with the settings of a run
    }.get(name, ["runs"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    assert expected in err and SECRET not in err


PARSER_CASES = [
    (["run", "x", "--repo", ".", "--speed", "nan"], "--speed: must be a positive number"),
    (["run", "x", "--repo", ""], "--repo: an empty path (an unset variable?)"),
    (["run", "x", "--repo", ".", "--escalation-timeout", "inf"], "must be a positive number"),
    (["runs", "--limit", "0"], "--limit: must be at least 1"),
    (["runs", "--limit", "-1"], "--limit: must be at least 1"),
    (["runs", "--since", "99999999999999999999d"], "not an age or a date"),
    (["db", "prune", "--older-than", "0d"], "a duration must be more than zero"),
    (["db", "prune", "--older-than", "99999999999999999999d"], "duration too long"),
    (["learnings", "prune", "--older-than", "0m"], "a duration must be more than zero"),
    # A negative age reaches the AGE type (argparse took ``-1d`` for an option: "expected one
    # argument"), which says what is wrong with it, given as one word or two.
    (["db", "prune", "--older-than", "-1d"], "--older-than: a duration must be more than zero"),
    (["db", "prune", "--older-than=-1d"], "--older-than: a duration must be more than zero"),
    (["learnings", "prune", "--older-than", "-2w"], "a duration must be more than zero: '-2w'"),
    (["runs", "--since", "-1d"], "--since: not an age or a date: '-1d'"),
]


@pytest.mark.parametrize(
    ("argv", "expected"), PARSER_CASES, ids=[" ".join(c[0]) for c in PARSER_CASES]
)
def test_out_of_range_arguments_are_refused_by_the_parser(
    place: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(place)  # a `--repo ""` let through would run on the current folder
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()  # no usage before it
    assert line.startswith("shopfloor: ") and expected in line, line
    command = " ".join(argv[:2] if argv[1] == "prune" else argv[:1])
    assert line.endswith(f"(shopfloor {command} --help)"), line


def test_an_age_older_than_the_calendar_means_every_run(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--json", "--since", "999999999d"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


@pytest.mark.parametrize("mode", ["update", "create"])
def test_an_audit_playbook_on_a_run_that_plans_is_refused_at_once(
    place: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """`run --mode update --playbook <an audit's>` ran humanize's whole baseline (six gates,
    33 s) and then failed 'planner failed: SIM playbook ... scripts no blueprint'."""
    repo = make_repo(place / "repo", {"app.py": "X = 1\n", "tests/test_app.py": "import app\n"})
    audit = Path(__file__).resolve().parents[2] / "examples" / "audit" / "playbook.yaml"
    argv = ["run", "Add a flag", "--repo", str(repo), "--mode", mode, "--playbook", str(audit)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == (
        f"shopfloor: the SIM playbook 'audit' scripts no blueprint (an audit's), so this {mode}"
        " run could not plan: give --mode audit, or a playbook with a blueprint\n"
    )
    assert "gate" not in out  # refused before the baseline
    assert git(repo, "branch", "--list", "shopfloor/*") == ""


@pytest.mark.parametrize("held", [b"x", b"todo\n", b"SQLite format 3\x00 but not quite"])
def test_a_file_that_is_no_database_is_refused_and_left_as_it_was(
    place: Path, capsys: pytest.CaptureFixture[str], held: bytes
) -> None:
    # SQLite took a file of fewer than 8 bytes for a new database and wrote one over it.
    named = place / "notes.txt"
    named.write_bytes(held)
    assert main(["runs", "--db", str(named)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    assert "notes.txt" in err and "database" in err
    assert named.read_bytes() == held


@pytest.mark.parametrize(
    "line",
    ["limits = 4", "limits = [1]", "limits = nan", 'limits = "x"', "cli = inf", 'cli = "claude"'],
)
def test_a_provider_table_given_as_a_value_is_one_line(
    place: Path, capsys: pytest.CaptureFixture[str], line: str
) -> None:
    # dict(4) in the [providers] reader: a TypeError's traceback, or a ValueError's
    # "dictionary update sequence element #0 has length 1" that named no key.
    config = place / "providers.toml"
    config.write_text(f"[providers]\n{line}\n", encoding="utf-8")
    assert main(_run(place, "--config", str(config))) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    key = line.partition(" ")[0]
    assert f"[providers] {key} must be a table of tables" in err


@pytest.mark.parametrize("key", ["retry_base_delay_s", "usage_limit_wait_s"])
def test_a_provider_wait_of_inf_is_refused(
    place: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    # retry_base_delay_s = inf was taken: the first retry of a model call waited for ever.
    config = place / "providers.toml"
    config.write_text(f"[providers]\n{key} = inf\n", encoding="utf-8")
    assert main(_run(place, "--config", str(config))) == 2
    err = capsys.readouterr().err
    assert err == f"shopfloor: {config}: [providers] {key} must be a number of seconds, not inf\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("test_timeout_s = nan", "[gates] test_timeout_s must be a positive number, got nan"),
        ("test_timeout_s = inf", "[gates] test_timeout_s must be a positive number, got inf"),
        ("shrinkage_max_share = nan", "[gates] shrinkage_max_share must be a positive number"),
        ("shrinkage_max_share = 2", "[gates] shrinkage_max_share must be a share within (0, 1]"),
        ("shrinkage_min_deleted = -1", "[gates] shrinkage_min_deleted must not be negative"),
        (
            "custom = [{name = 'g', argv = ['true'], timeout_s = nan}]",
            "[gates] custom[0] (g): timeout_s must be a positive number, got nan",
        ),
    ],
)
def test_a_gate_number_out_of_range_is_refused_when_the_config_is_read(
    place: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    # NaN passed "<= 0" (a gate with no time limit); a share above 1 or a negative count
    # passed the file and raised a ValueError's traceback where the gates were built.
    config = place / "gates.toml"
    config.write_text(f"[gates]\n{line}\n", encoding="utf-8")
    assert main(_run(place, "--config", str(config))) == 2
    err = capsys.readouterr().err
    assert err.startswith("shopfloor: ") and err.count("\n") == 1, err
    assert expected in err
