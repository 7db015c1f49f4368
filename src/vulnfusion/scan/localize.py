"""Line-level localisation in ``scan``: the top-K suspicious lines of each flagged function.

The lines come from the served model itself, through its ``top_lines`` predict parameter
(``serving.top_lines_column``: line occlusion through the seed ensemble, see
``vulnfusion.localization``). The pyfunc numbers lines within the function text; here
they become absolute lines of the file. Only functions at or above the threshold are
localised (one extra scoring per candidate line of each), so a clean tree costs nothing
more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # only for the annotation: extract imports nothing from here
    from vulnfusion.scan.extract import Function


@dataclass(frozen=True)
class LineScore:
    """One line of a function and how much it contributes to the score (higher = more)."""

    line: int  # 1-based line in the file
    score: float  # how far the ensemble's logit moves when the line is blanked


class Localizer(Protocol):
    """A model that ranks the lines of functions (``model.ScanModel.top_lines``)."""

    def top_lines(self, funcs: list[str], k: int) -> list[list[tuple[int, float]]]: ...


def to_file_lines(function: Function, lines: Sequence[tuple[int, float]]) -> list[LineScore]:
    """``(line of the function text as the model numbers it, score)`` pairs as
    :class:`LineScore` of file lines (a lone CR in the text does not shift them)."""
    offsets = function.line_offsets or tuple(range(function.text.count("\n") + 1))
    return [
        LineScore(function.start_line + offsets[min(ln, len(offsets)) - 1], float(score))
        for ln, score in lines
    ]


def suspicious_lines_batch(
    model: object, functions: Sequence[Function], k: int
) -> list[list[LineScore]]:
    """The ``k`` lines of each of ``functions`` most responsible for its score, best first.

    ``[]`` per function when ``k`` is 0 or ``model`` cannot localise (no ``top_lines``).
    """
    if k <= 0 or not functions or not hasattr(model, "top_lines"):
        return [[] for _ in functions]
    ranked = model.top_lines([fn.text for fn in functions], k)
    return [to_file_lines(fn, lines) for fn, lines in zip(functions, ranked, strict=True)]


def suspicious_lines(function: Function, k: int, model: object = None) -> list[LineScore]:
    """:func:`suspicious_lines_batch` for one function (``[]`` without a ``model``)."""
    return suspicious_lines_batch(model, [function], k)[0]
