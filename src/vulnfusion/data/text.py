"""The one normalisation every piece of source code gets where it enters the package.

Tokenizers keep ``\\r`` and a byte-order mark as ordinary characters, so the same function
saved on Windows (CRLF) or by an editor that writes a BOM would otherwise be tokenised, scored
and hashed differently from its LF twin. Every reader of code (``prepare`` through
:func:`vulnfusion.data.sources.check_function_text`, the served model per request row) applies
:func:`normalize_code` once; later stages read the already-normalised text.
"""

from __future__ import annotations

BOM = "\ufeff"


def normalize_code(text: str) -> str:
    """``text`` with its leading UTF-8 BOM(s) removed and CRLF / lone CR turned into LF.

    Only line endings and leading BOMs change (a file re-saved with a BOM can carry two): tabs,
    trailing spaces and a BOM anywhere but at the start are kept, so text that is already
    normalised comes back unchanged (``normalize_code(normalize_code(t)) == normalize_code(t)``).
    """
    text = text.lstrip(BOM)
    if "\r" in text:  # the common case (LF only) costs one scan
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
