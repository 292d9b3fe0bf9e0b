"""What a reviewer is shown of a blueprint cut to its window, and what it may patch.

The view is the blueprint's JSON with lines of the spec, descriptions, test plans and file
lists left out (each run a marker) or cut to their head; what it shows verbatim is known by
offset, so a patch's search text can be told to lie in what was shown or not.
"""

from __future__ import annotations

from agents.blueprint_view import NOTE, view_blueprint
from engine.blueprint import Blueprint

QUERY = "the parser of task p3"


def blueprint() -> Blueprint:
    tasks = [
        {
            "id": f"p{n}",
            "title": f"Part {n}",
            "description": f"the parser of task p{n} " * (30 if n == 3 else 6),
            "depends_on": [f"p{n - 1}"] if n else [],
            "files": [f"src/p{n}.py"],
            "test_plan": f"tests/test_p{n}.py covers p{n}",
        }
        for n in range(12)
    ]
    return Blueprint.model_validate(
        {"spec": "A long spec line. " * 300, "acceptance_criteria": ["p3 parses"], "tasks": tasks}
    )


def test_the_view_keeps_the_plan_s_skeleton_and_the_relevant_lines_within_the_room():
    full = blueprint().model_dump_json(indent=2)
    view = view_blueprint(full, 4000, QUERY)
    assert len(full) > 8000 and len(view.text) <= 4000 and view.text.startswith(NOTE)
    assert '"p3 parses"' in view.text and "lines left out: " in view.text
    for n in range(12):
        assert f'      "id": "p{n}",\n      "title": "Part {n}",\n' in view.text
    assert "the parser of task p3 " * 30 in view.text  # the most relevant description
    # The spec is cut to its head: a third of the room left for what may be cut.
    spec_head = view.text.split("\n")[2]
    assert spec_head.startswith('  "spec": "A long spec line.')
    assert spec_head.endswith(" characters left out …]")
    for start, stop in view.spans:  # each span is shown verbatim
        assert full[start:stop] in view.text


def test_a_search_text_is_seen_only_when_all_of_it_was_shown():
    full = blueprint().model_dump_json(indent=2)
    view = view_blueprint(full, 4000, QUERY)
    assert not view.unseen('"acceptance_criteria": [\n    "p3 parses"')  # kept whole
    assert not view.unseen('"spec": "A long spec line. A long')  # in the spec's head
    assert view.unseen("A long spec line. " * 299)  # runs past the head
    hidden = next(
        f'"test_plan": "tests/test_p{n}.py' for n in range(12) if f"p{n}.py covers" not in view.text
    )
    assert hidden not in view.text and view.unseen(hidden)
    assert not view.unseen("text found nowhere")  # not found is refused as not found


def test_a_blueprint_that_fits_is_shown_whole():
    full = blueprint().model_dump_json(indent=2)
    view = view_blueprint(full, len(full), QUERY)
    assert view.whole and view.text == full and not view.unseen(full)


def test_a_line_separator_inside_a_string_does_not_keep_the_rest_of_it_whole():
    # JSON leaves U+2028 and NEL (\x85) unescaped: str.splitlines broke the spec's one line
    # there and took each piece after it for a bracket of the JSON's, always shown.
    plan = blueprint().model_copy(update={"spec": "A long spec line.\u2028Another.\x85" * 300})
    full = plan.model_dump_json(indent=2)
    view = view_blueprint(full, 4000, QUERY)
    assert len(view.text) <= 4000
    assert "the parser of task p3 " * 30 in view.text
    for n in range(12):
        assert f'      "id": "p{n}",\n      "title": "Part {n}",\n' in view.text
