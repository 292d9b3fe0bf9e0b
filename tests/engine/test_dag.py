"""Dag: a buildable plan gets a stable order and critical paths; a bad plan a clear PlanError."""

from __future__ import annotations

from itertools import pairwise

import pytest

from engine.blueprint import Blueprint, Task
from engine.dag import Dag, PlanError


def plan(*tasks: Task) -> Blueprint:
    return Blueprint(spec="a plan", tasks=list(tasks))


def task(task_id: str, *deps: str, files: tuple[str, ...] = ()) -> Task:
    return Task(id=task_id, title=f"do {task_id}", depends_on=list(deps), files=list(files))


def plan_error(blueprint: Blueprint) -> str:
    with pytest.raises(PlanError) as caught:
        Dag.from_blueprint(blueprint)
    message = str(caught.value)
    assert "\n" not in message, f"PlanError message is not one line: {message!r}"
    return message


# -- a valid plan -----------------------------------------------------------------------


def test_order_puts_every_task_after_its_dependencies_and_keeps_blueprint_order_for_ties():
    # Listed "backwards": the order must still respect the dependencies.
    dag = Dag.from_blueprint(
        plan(
            task("cli", "core", "config"),
            task("docs"),
            task("core"),
            task("config", "core"),
        )
    )
    assert dag.order == ("docs", "core", "config", "cli")


def test_the_same_blueprint_is_built_once_an_equal_one_again():
    first = plan(task("a"), task("b", "a"))
    built = Dag.from_blueprint(first)
    assert Dag.from_blueprint(first) is built
    equal = plan(task("a"), task("b", "a"))
    assert Dag.from_blueprint(equal) is not built
    assert Dag.from_blueprint(equal) == built
    assert Dag.from_blueprint(first) is not built  # only the last one is kept


def test_a_bad_plan_is_refused_every_time_it_is_built():
    cyclic = plan(task("a", "b"), task("b", "a"))
    assert plan_error(cyclic) == plan_error(cyclic)


def test_critical_path_counts_the_longest_chain_to_a_sink_inclusive():
    dag = Dag.from_blueprint(
        plan(
            task("models"),
            task("store", "models"),
            task("api", "store"),
            task("cli", "api", "models"),
            task("docs"),
        )
    )
    assert dag.critical_path == {"models": 4, "store": 3, "api": 2, "cli": 1, "docs": 1}


def test_deps_and_dependents_are_the_two_directions_of_the_same_edges():
    dag = Dag.from_blueprint(plan(task("a"), task("b", "a"), task("c", "a")))
    assert dag.deps == {"a": frozenset(), "b": {"a"}, "c": {"a"}}
    assert dag.dependents == {"a": {"b", "c"}, "b": frozenset(), "c": frozenset()}


# -- bad plans ---------------------------------------------------------------------------


def test_a_cycle_is_refused_and_the_message_shows_the_cycle_path():
    message = plan_error(plan(task("a", "c"), task("b", "a"), task("c", "b"), task("free")))
    assert message == "the plan has a dependency cycle: a -> c -> b -> a"


def test_a_cycle_deep_in_the_graph_names_only_the_tasks_on_it():
    blueprint = plan(
        task("root"), task("x", "root", "z"), task("y", "x"), task("z", "y"), task("leaf", "z")
    )
    message = plan_error(blueprint)
    prefix = "the plan has a dependency cycle: "
    assert message.startswith(prefix)
    cycle = message.removeprefix(prefix).split(" -> ")
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"x", "y", "z"}
    for node, dep in pairwise(cycle):
        assert dep in blueprint.task(node).depends_on, f"{node} -> {dep} is not an edge"


def test_a_task_depending_on_itself_is_refused():
    assert plan_error(plan(task("a"), task("b", "b"))) == "task 'b' depends on itself"


def test_an_unknown_dependency_is_refused_naming_task_and_dependency():
    message = plan_error(plan(task("a"), task("b", "a", "ghost", "alien")))
    assert message == "task 'b' depends on unknown task(s): alien, ghost"


def test_a_duplicate_task_id_is_refused():
    assert plan_error(plan(task("a"), task("b"), task("a"))) == "duplicate task id 'a'"


def test_an_empty_plan_is_refused():
    with pytest.raises(PlanError, match=r"^the plan has no tasks$"):
        Dag.build([])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/passwd", "task 'a' names a path outside the repo: '/etc/passwd' is absolute"),
        (
            "C:\\Windows\\evil.py",
            "task 'a' names a path outside the repo: 'C:\\\\Windows\\\\evil.py' is absolute",
        ),
        ("../sibling/secret.py", "task 'a' names a path outside the repo: '../sibling/secret.py'"),
        ("src/../../escape.py", "task 'a' names a path outside the repo: 'src/../../escape.py'"),
        (".git/config", "task 'a' names a path inside .git: '.git/config'"),
        ("./.git/hooks/pre-commit", "task 'a' names a path inside .git: './.git/hooks/pre-commit'"),
        ("  ", "task 'a' names an empty file path"),
        ("src/x\x00.py", "task 'a' names a path with a control character: 'src/x\\x00.py'"),
        ("src/\ty.py", "task 'a' names a path with a control character: 'src/\\ty.py'"),
    ],
)
def test_file_paths_must_stay_inside_the_repository_and_out_of_git(path: str, expected: str):
    assert plan_error(plan(task("a", files=("ok.py", path)))) == expected


def test_ordinary_nested_paths_are_accepted():
    dag = Dag.from_blueprint(
        plan(task("a", files=("src/pkg/mod.py", "tests/test_mod.py", ".github/ci.yml")))
    )
    assert dag.order == ("a",)


# -- ready() and downstream() --------------------------------------------------------------


def test_ready_puts_the_longest_critical_path_first_then_blueprint_order():
    dag = Dag.from_blueprint(
        plan(
            task("docs"),  # critical path 1
            task("lint"),  # critical path 1
            task("core"),  # core -> api -> cli: 3
            task("api", "core"),
            task("cli", "api"),
            task("schema"),  # schema -> migrate: 2
            task("migrate", "schema"),
        )
    )
    assert dag.ready(merged=[], started=[]) == ["core", "schema", "docs", "lint"]


def test_ready_skips_started_and_merged_tasks_and_waits_for_every_dependency():
    dag = Dag.from_blueprint(plan(task("a"), task("b"), task("c", "a", "b"), task("d", "c")))
    assert dag.ready(merged=[], started=["a"]) == ["b"]
    assert dag.ready(merged=["a"], started=["a", "b"]) == []  # c still waits for b
    assert dag.ready(merged=["a", "b"], started=["a", "b"]) == ["c"]
    assert dag.ready(merged=["a", "b", "c", "d"], started=["a", "b", "c", "d"]) == []


def test_downstream_is_every_transitive_dependent_and_nothing_else():
    dag = Dag.from_blueprint(
        plan(
            task("a"),
            task("b", "a"),
            task("c", "b"),
            task("d", "a", "x"),
            task("x"),
            task("y", "x"),
        )
    )
    assert dag.downstream("a") == {"b", "c", "d"}
    assert dag.downstream("x") == {"d", "y"}
    assert dag.downstream("c") == set()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../other/mod.py", "task 'a' names a path outside the repo: '../other/mod.py'"),
        (".", "task 'a' removes the whole repository: '.'"),
        ("./", "task 'a' removes the whole repository: './'"),
        ("old.py\nShopfloor-Removes: .", "task 'a' names a path with a line break: "),
    ],
)
def test_what_a_task_removes_is_a_path_inside_the_repository_not_the_repository(
    path: str, expected: str
):
    removing = Task(id="a", title="remove the old module", removes=["legacy/", path])
    assert plan_error(plan(removing)).startswith(expected)
    assert Dag.from_blueprint(plan(Task(id="a", title="t", removes=["legacy/", "old.py"])))
