"""The one normalisation every piece of source code gets where it enters the package.

Tokenizers keep ``\\r`` and a byte-order mark as ordinary characters, so the same function
saved on Windows (CRLF) or by an editor that writes a BOM would otherwise be tokenised, scored
and hashed differently from its LF twin. Every reader of code (``prepare`` through
:func:`vulnfusion.data.sources.check_function_text`, the served model per request row) applies
:func:`normalize_code` once; later stages read the already-normalised text.
"""

from __future__ import annotations

import re

BOM = "\ufeff"
# BOMs at the start of a line: files saved with a BOM and joined with `cat` carry one at the
# start of every part, i.e. at a line start once line endings are normalised.
_LINE_START_BOMS = re.compile("^" + BOM + "+", re.MULTILINE)


def normalize_code(text: str) -> str:
    """``text`` with CRLF / lone CR turned into LF and every BOM at a line start removed.

    Only line endings and line-start BOMs (U+FEFF; a file re-saved with a BOM can carry two,
    files joined with ``cat`` one per part) change: tabs, trailing spaces and a U+FEFF inside
    a line (say, in a string literal) are kept, so text that is already normalised comes back
    unchanged (``normalize_code(normalize_code(t)) == normalize_code(t)``).
    """
    if "\r" in text:  # the common case (LF only) costs one scan
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if BOM in text:
        text = _LINE_START_BOMS.sub("", text)
    return text
