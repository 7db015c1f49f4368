"""The one exception base class of the package.

Every error a user can cause (bad params, bad data, a missing checkpoint or model, an
unreachable tracking store, seeds that cannot be ensembled…) derives from
``VulnfusionError`` and carries a one-line message; the stage entry points catch this base
(``vulnfusion.cli.run_stage``) and print that line instead of a traceback. Anything else is
a bug and keeps its traceback.

The subclasses live beside the code that raises them (``ConfigError`` in
``config_schema``, re-exported by ``config``; ``DataError`` in ``data.formats``, re-exported
by ``data.sources``; ``GraphVocabError`` in ``graphs.vocab``…); each also keeps its
historical builtin base (``ValueError`` / ``RuntimeError``) so existing ``except
ValueError`` callers still work.
This module imports nothing from the package: every layer may import it.
"""

from __future__ import annotations


class VulnfusionError(Exception):
    """Base of every expected, user-facing failure (the message is one line)."""


class StageError(VulnfusionError, RuntimeError):
    """An expected failure of a stage that no more specific error describes."""
