"""A stop asked for by a signal, honoured again at the next safe point.

The stage CLI's SIGTERM handler raises ``SystemExit`` at once, which unwinds through the stage's
MLflow run (ending it KILLED). Python drops an exception raised by a signal handler while a
``__del__`` method or a garbage-collector callback runs ("Exception ignored in ..."), and the
training would then go on; so the handler also records the request here, and the training
loop raises it again at its next step (:func:`raise_if_requested`).
"""

from __future__ import annotations

_requested: int | None = None


def request(exit_code: int) -> None:
    """Record that the process must stop with ``exit_code`` (e.g. 143 for SIGTERM)."""
    global _requested
    _requested = exit_code


def requested() -> bool:
    """Whether a stop was recorded (:func:`request`) and not cleared."""
    return _requested is not None


def clear() -> None:
    """Forget a recorded request (tests; a process that handled it and goes on)."""
    global _requested
    _requested = None


def raise_if_requested() -> None:
    """Raise ``SystemExit(exit_code)`` when a stop was requested.

    Raises:
        SystemExit: a stop was requested (:func:`request`).
    """
    if _requested is not None:
        raise SystemExit(_requested)
