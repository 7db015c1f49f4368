"""Score the evaluation rows with the registered model, in batches, with a progress bar.

The model is the pyfunc ``scan`` loads (:func:`vulnfusion.scan.model.load_scan_model`), so
a function scores here exactly as in a REST request. A row the served model would refuse
(its own per-row checks, e.g. longer than ``register.max_chars``) is a bad record: an error
naming its file and line, or counted and skipped.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vulnfusion.data.sources import DataError, RejectLog
from vulnfusion.evaluation.dataset import EvalRow
from vulnfusion.progress import ProgressLog
from vulnfusion.scan.model import ScanModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredRows:
    """The rows that were scored and their probabilities, shape (n,)."""

    rows: list[EvalRow]
    prob: NDArray[np.float64]


def admissible(
    rows: list[EvalRow], model: ScanModel, skip_bad: bool, rejects: RejectLog
) -> list[EvalRow]:
    """The rows the model accepts; a refused one raises, or is logged in ``rejects``.

    Raises:
        DataError: ``<file>:<line>: <why the model refuses it>`` (``skip_bad`` false).
    """
    kept = []
    for row in rows:
        reason = model.check(row.func)
        if reason is None:
            kept.append(row)
        elif skip_bad:
            rejects.add(f"refused by the model: {reason.split(' (')[0]}", row.where)
        else:
            raise DataError(f"{row.where}: refused by the model: {reason}")
    if not kept:
        raise DataError("no record is accepted by the model")
    return kept


def score_rows(
    rows: list[EvalRow],
    model: ScanModel,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> ScoredRows:
    """Probabilities of ``rows`` from ``model.predict`` in batches of at most ``max_rows``.

    ``progress``: a tqdm bar on stderr (``None``: when stderr is a terminal) plus periodic
    log lines (:class:`~vulnfusion.progress.ProgressLog`) for non-interactive runs.
    """
    from tqdm import tqdm  # the bar is the only user of tqdm here

    size = max(1, min(batch_size or model.max_rows, model.max_rows))
    total = (len(rows) + size - 1) // size
    plog = ProgressLog("evaluate: scoring", total, "functions", log)
    prob = np.empty(len(rows), dtype=np.float64)
    bar = tqdm(
        total=len(rows),
        desc="evaluate",
        unit=" functions",
        file=sys.stderr,
        disable=None if progress is None else not progress,
    )
    for step, start in enumerate(range(0, len(rows), size), 1):
        chunk = rows[start : start + size]
        prob[start : start + len(chunk)] = model.predict([r.func for r in chunk])
        bar.update(len(chunk))
        plog.update(step, start + len(chunk))
    bar.close()
    return ScoredRows(rows, prob)
