"""The session's tiny registered model (defined once, in ``tests/scan/conftest.py``)."""

from __future__ import annotations

from tests.scan.conftest import RegisteredModel, registered_model

__all__ = ["RegisteredModel", "registered_model"]
