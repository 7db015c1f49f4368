"""The hook for line-level localisation (issue 15, deliverable 3 — not built yet).

:func:`suspicious_lines` is where the top-K lines of a flagged function will come from. Until
an attribution method is chosen by measurement it returns no lines, and reports then simply
leave them out: SARIF results carry no ``relatedLocations`` and the text table no "top lines"
column. Nothing downstream invents a ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: extract imports nothing from here
    from vulnfusion.scan.extract import Function


@dataclass(frozen=True)
class LineScore:
    """One line of a function and how much it contributes to the score (higher = more)."""

    line: int  # 1-based line in the file
    score: float


def suspicious_lines(function: Function, k: int) -> list[LineScore]:
    """The ``k`` lines of ``function`` most responsible for its score, best first.

    Not implemented yet (issue 15, deliverable 3): always ``[]``, so no report shows lines.
    """
    del function, k
    return []
