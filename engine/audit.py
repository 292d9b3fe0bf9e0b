"""Audit mode: a forensic review of a repository that changes nothing in it.

This module runs the audit. It copies the checkout as it is (uncommitted edits included,
``.git`` left out) into a scratch folder outside the repository, commits it there so every
gate sees an ordinary git checkout (:mod:`engine.audit_checkout`), and runs every gate of the
repository's profile on the copy. Reviewers that can read code (:class:`CodeReviewer`) score
the repository and name findings as ``path:line: message``. Dead code comes from the
dead-code gate; untested modules are the Python modules no test file imports (directly or
through a name their package's ``__init__`` re-exports). The result is
an :class:`~engine.audit_report.AuditReport`, written as Markdown and JSON. Nothing is
written to the repository or its refs: the scratch copy is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from engine.audit_checkout import (
    checkout_files,
    not_python_parts,
    numbered_sources,
    scratch_folder,
    snapshot,
    untested_modules,
)
from engine.audit_report import DEAD_CODE_GATE, AuditReport, AuditReview, gate_entry, located
from engine.events import ReviewScored
from engine.gate_runner import run_gates
from engine.protocols import EmitFn, Gate
from engine.recon import RepoMapper, judges_revision
from engine.roles import ReviewReport


@runtime_checkable
class CodeReviewer(Protocol):
    """A reviewer that can score a repository's code (not only a blueprint)."""

    @property
    def reviewer_id(self) -> str: ...

    async def review_code(
        self, request: str, repo_map: str, sources: str, emit: EmitFn
    ) -> ReviewReport:
        """Score the code 0-100; each finding reads ``path:line: message``."""
        ...


def unique_gates(*groups: Sequence[Gate]) -> list[Gate]:
    """Every gate of the given steps once, in first-seen order (by name)."""
    seen: dict[str, Gate] = {}
    for group in groups:
        for gate in group:
            seen.setdefault(gate.name, gate)
    return list(seen.values())


def tree_gates(*groups: Sequence[Gate]) -> list[Gate]:
    """:func:`unique_gates` of the gates that judge a tree: one that judges a revision gives
    way to a tree gate of its name (a task's secrets scan of what it changed, to the final
    verification's scan of the whole tree), or to its own ``tree_gate`` where no step has
    one (a task's gate that runs only on changes it reads, ``gates.parts``), and is left out
    where there is neither (shrinkage)."""
    trees = unique_gates(*([g for g in group if not judges_revision(g)] for group in groups))
    own = unique_gates(
        *(
            [tree for g in group if (tree := getattr(g, "tree_gate", None)) is not None]
            for group in groups
        )
    )
    named = {g.name for g in trees}
    return trees + [g for g in own if g.name not in named]


async def run_audit(
    *,
    run_id: str,
    request: str,
    repo: Path,
    commit: str,
    gates: Sequence[Gate],
    reviewers: Sequence[object],
    emit: EmitFn,
    repo_mapper: RepoMapper | None = None,
) -> AuditReport:
    """Run every gate and every code reviewer on a snapshot of ``repo``; the repository
    itself is only read."""
    scratch = scratch_folder()
    try:
        tree = snapshot(repo, scratch)
        files = sorted(checkout_files(tree))
        # A gate that judges a commit (shrinkage: what it deletes) has nothing to judge in
        # an audit: the snapshot's one commit is the factory's copy, not the user's change.
        tree_gates = [g for g in gates if not judges_revision(g)]
        results = await run_gates(tree_gates, tree, scope="verify", emit=emit)
        report = AuditReport(
            run_id=run_id,
            request=request,
            repo=str(repo),
            commit=commit,
            gates=[gate_entry(r, tree) for r in results],
            untested_modules=untested_modules(tree, files),
            not_python=not_python_parts(files),
            dead_code_ran=any(r.gate == DEAD_CODE_GATE for r in results),
        )
        report.dead_code = [
            f for r in results if r.gate == DEAD_CODE_GATE for f in r.findings[:100]
        ]
        code_reviewers = [r for r in reviewers if isinstance(r, CodeReviewer)]
        if code_reviewers:
            repo_map = (  # it reads every file: in a thread, so the loop goes on meanwhile
                await asyncio.to_thread(repo_mapper, tree, files)
                if repo_mapper
                else "\n".join(files)
            )
            sources = numbered_sources(tree, files)
            # A reviewer that fails is said in the report; the others' reviews and the
            # gates' findings are kept (the pipeline fails the run only if none reviewed).
            answers: list[ReviewReport | BaseException] = await asyncio.gather(
                *(r.review_code(request, repo_map, sources, emit) for r in code_reviewers),
                return_exceptions=True,
            )
            for reviewer, answer in zip(code_reviewers, answers, strict=True):
                if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                    raise answer  # a cancellation, not a reviewer's failure
                if isinstance(answer, Exception):
                    why = str(answer).strip().splitlines()
                    report.review_failures.append(
                        f"{reviewer.reviewer_id}: {why[0] if why else type(answer).__name__}"
                    )
                    continue
                model = str(getattr(reviewer, "model", ""))
                emit(
                    ReviewScored(
                        reviewer=reviewer.reviewer_id,
                        model=model,
                        round=1,
                        score=answer.score,
                        findings=list(answer.findings),
                    )
                )
                report.reviews.append(
                    AuditReview(
                        reviewer=reviewer.reviewer_id,
                        model=model,
                        score=answer.score,
                        findings=[located(f) for f in answer.findings],
                    )
                )
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
