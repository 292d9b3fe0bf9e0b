"""Learnings from earlier runs, ranked for one task: the factory's memory of its own mistakes.

At the end of a run the engine records traps and rules (LearningRecorded; storage keeps them
in the ``learnings`` projection). A later run hands them to the planner and the engineers as a
pool of :class:`Lesson`; each role picks the few relevant to what it is doing now with BM25
(agents/context.py) over the lesson's text and tags. A lesson is relevant only when it shares
at least ``min_shared`` significant words with the task (words every task has — "task",
"test", "attempt" — do not count, nor the project's own vocabulary: words in half or more of
the blueprint's tasks, like the package name), so an unrelated task gets none. At most
``limit`` lessons are used, best first; the roles say which ones in their output
("learnings used: ...").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.context import BM25, tokenize

STOPWORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or so that the this
    to was were when which with without not no do does done only one two all any each
    task tasks test tests testing attempt attempts needed first failure failed fail fails
    gate gates passed pass py file files run runs error errors add build make write new use
    should must can code module modules function functions returns return value values
    before after then than still every there assert green red broke break breaks
    """.split()
)


@dataclass(frozen=True)
class Lesson:
    """One learning as a role sees it."""

    learning_id: str
    kind: str
    text: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    source: str = ""

    def line(self) -> str:
        """The lesson as one prompt line, with its id for provenance."""
        return f"[{self.learning_id}] ({self.kind}) {self.text}"


def significant(text: str) -> list[str]:
    """The words of ``text`` that can tell one task from another."""
    return [w for w in tokenize(text) if w not in STOPWORDS and not w.isdigit()]


def common_words(texts: Sequence[str]) -> frozenset[str]:
    """Words found in at least half of ``texts`` (and in two or more): a project's own
    vocabulary, which tells none of its tasks apart."""
    if len(texts) < 2:
        return frozenset()
    counts = Counter(word for text in texts for word in set(significant(text)))
    need = max(2, math.ceil(len(texts) / 2))
    return frozenset(word for word, count in counts.items() if count >= need)


def rank_lessons(
    lessons: Sequence[Lesson],
    query: str,
    *,
    limit: int = 5,
    min_shared: int = 2,
    ignore: frozenset[str] = frozenset(),
) -> list[Lesson]:
    """The lessons relevant to ``query``, best first, at most ``limit``; words in ``ignore``
    do not count as shared."""
    if not lessons or limit <= 0:
        return []
    docs = [significant(" ".join([x.text, *x.tags])) for x in lessons]
    terms = set(significant(query)) - ignore
    index = BM25(docs)
    scored = [
        (index.score(terms, i), x)
        for i, x in enumerate(lessons)
        if len(terms & set(docs[i])) >= min_shared
    ]
    scored.sort(key=lambda s: (-s[0], s[1].learning_id))
    return [x for score, x in scored if score > 0][:limit]


def lessons_from_records(records: Iterable[object]) -> list[Lesson]:
    """Lessons from storage's LearningRecord rows (or LearningRecorded events): anything with
    ``learning_id``, ``kind``, ``text``, ``tags`` and ``source``. Duplicate texts keep the
    newest."""
    by_text: dict[str, Lesson] = {}
    for record in records:
        lesson = Lesson(
            learning_id=str(getattr(record, "learning_id", "")),
            kind=str(getattr(record, "kind", "")),
            text=str(getattr(record, "text", "")),
            tags=tuple(str(t) for t in getattr(record, "tags", ()) or ()),
            source=str(getattr(record, "source", "")),
        )
        by_text.pop(lesson.text, None)
        by_text[lesson.text] = lesson
    return list(by_text.values())
