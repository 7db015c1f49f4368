"""Fingerprints of function texts, to find evaluation functions the model was trained on.

Two hashes per text (first 16 hex digits of SHA-1, as ``prepare``'s example ids):

* ``exact`` — of the text as readers give it (:func:`~vulnfusion.data.text.normalize_code`
  already applied: LF line endings, no BOM); equal to the text's ``prepare`` example id;
* ``normalized`` — of the text with comments removed and whitespace reduced to what
  separates two word characters (``int  a ;`` → ``int a;``), so reformatting or
  re-commenting a training function does not hide it. String and character literals are
  kept as they are (a ``//`` inside a string is not a comment).

The register stage writes the training split's fingerprints into the model bundle
(:data:`TRAINING_HASHES_FILE`); ``vulnfusion evaluate`` reads them back from the loaded
model and counts overlaps.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TRAINING_HASHES_FILE = "training_hashes.json"
SCHEME = "sha1-16/v1"

# literals first so that comment markers inside them are left alone
_TOKENS = re.compile(
    r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL
)
_SPACE = re.compile(r"\s+")
# a space survives only between two word characters (identifiers, keywords, numbers)
_USELESS_SPACE = re.compile(r"(?<=\W) | (?=\W)")


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def strip_comments(code: str) -> str:
    """``code`` with every ``//`` and ``/* */`` comment replaced by one space."""
    return _TOKENS.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", code)


def normalize_for_overlap(code: str) -> str:
    """Comments removed; outside string and character literals, whitespace collapsed and
    dropped wherever it does not separate two word characters. Literals are kept verbatim."""
    parts, pending = [], []
    last = 0
    for m in _TOKENS.finditer(code):
        pending.append(code[last : m.start()])
        last = m.end()
        if m.group(0)[0] in "\"'":
            parts += [_squash("".join(pending)), m.group(0)]
            pending = []
        else:
            pending.append(" ")  # a comment separates tokens like a space
    pending.append(code[last:])
    parts.append(_squash("".join(pending)))
    return "".join(parts)


def _squash(chunk: str) -> str:
    """Code between literals: a quote (never a word character) borders it, so its edges go."""
    return _USELESS_SPACE.sub("", _SPACE.sub(" ", chunk)).strip()


def exact_hash(code: str) -> str:
    """Fingerprint of the text itself (equal to ``prepare``'s example id of it)."""
    return _sha(code)


def normalized_hash(code: str) -> str:
    """Fingerprint of :func:`normalize_for_overlap` of the text."""
    return _sha(normalize_for_overlap(code))


@dataclass(frozen=True)
class Fingerprints:
    """The exact and normalised fingerprints of a set of texts (e.g. a training split)."""

    exact: frozenset[str]
    normalized: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Fingerprints:
        ex, no = set(), set()
        for t in texts:
            ex.add(exact_hash(t))
            no.add(normalized_hash(t))
        return cls(frozenset(ex), frozenset(no))

    def write(self, path: Path) -> Path:
        """Write as JSON (sorted lists, so equal sets give equal files and bundle digests)."""
        doc = {
            "scheme": SCHEME,
            "n": len(self.exact),
            "exact": sorted(self.exact),
            "normalized": sorted(self.normalized),
        }
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Fingerprints:
        """Read a file written by :meth:`write`.

        Raises:
            ValueError: not such a file, or written with another scheme.
        """
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read training fingerprints ({exc})") from None
        if not isinstance(doc, dict) or doc.get("scheme") != SCHEME:
            raise ValueError(f"{path}: not a {SCHEME} fingerprint file")
        return cls(frozenset(doc["exact"]), frozenset(doc["normalized"]))
