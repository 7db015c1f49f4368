"""Progress lines in logs, whatever the terminal.

tqdm disables itself when stderr is not a tty (``disable=None``), so a DVC stage, a queued
experiment or a batch job printed nothing for minutes. :class:`ProgressLog` writes one plain
``logging`` line every ``interval_s`` seconds (and at the end) with the step, the counts, the
rate and an ETA; it runs beside tqdm, which stays for terminals.

The interval comes from ``VULNFUSION_PROGRESS_S`` (seconds, default 30; ``0`` logs every
update, which the tests use; a negative value turns the lines off).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from vulnfusion.errors import VulnfusionError

DEFAULT_INTERVAL_S = 30.0
ENV_INTERVAL = "VULNFUSION_PROGRESS_S"


class ProgressConfigError(VulnfusionError):
    """``VULNFUSION_PROGRESS_S`` is not a number."""


def interval_from_env() -> float:
    """Seconds between progress lines, from ``VULNFUSION_PROGRESS_S`` (default 30).

    Raises :class:`ProgressConfigError` (one line, naming the variable) when it is not a number.
    """
    raw = os.environ.get(ENV_INTERVAL, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        return float(raw)
    except ValueError:
        raise ProgressConfigError(
            f"{ENV_INTERVAL}={raw!r}: expected seconds between progress lines (e.g. 30)"
        ) from None


def format_eta(seconds: float) -> str:
    """``75.4`` → ``'1m15s'``; ``3725`` → ``'1h02m'``; under a minute → ``'42s'``."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class ProgressLog:
    """Periodic progress lines for a loop of ``total`` steps.

    ``update(step, done, **figures)`` after each step: ``step`` counts steps (batches or
    functions) from 1, ``done`` counts the units the rate is measured in (examples or
    functions). A line is logged when ``interval_s`` has passed since the last one, and on the
    last step. The line reads, e.g.::

        epoch 1/3: step 120/400 (30%)  loss 0.5234  45.2 ex/s  ETA 1m02s

    ``clock`` is injectable so tests need not sleep.
    """

    def __init__(
        self,
        desc: str,
        total: int,
        unit: str,
        logger: logging.Logger,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc, self.total, self.unit, self.log = desc, max(total, 0), unit, logger
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self.clock = clock
        self.start = self.last = clock()
        self.lines = 0

    def update(self, step: int, done: int, **figures: float) -> bool:
        """Log a line if one is due; returns whether it did."""
        if self.interval_s < 0:
            return False
        now = self.clock()
        last_step = self.total > 0 and step >= self.total
        if now - self.last < self.interval_s and not last_step:
            return False
        self.last = now
        self.lines += 1
        self.log.info("%s", self.line(step, done, now - self.start, figures))
        return True

    def line(self, step: int, done: int, elapsed: float, figures: dict[str, float]) -> str:
        """The text of one progress line (without logging it)."""
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: step {step}/{self.total}"]
        if self.total > 0:
            parts[0] += f" ({100 * step / self.total:.0f}%)"
        parts += [f"{k} {v:.4f}" for k, v in figures.items()]
        parts.append(f"{rate:.1f} {self.unit}/s")
        if self.total > 0 and step > 0:
            parts.append(f"ETA {format_eta(elapsed / step * (self.total - step))}")
        return "  ".join(parts)
