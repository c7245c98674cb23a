"""The instructor's rule: what a graded exercise earns once the integrity report has read the notebook."""
from __future__ import annotations

from .autograding import GradeReport


def awarded_scores(report: GradeReport, flags: dict, allow_flagged: bool = False) -> list[float]:
    """Per exercise of `report`: a flagged exercise (a key of integrity.report's result) earns nothing
    unless the instructor allows it (`course grade --allow-flagged`)."""
    return [0.0 if (c.grade_id in flags and not allow_flagged) else c.score for c in report.cells]
