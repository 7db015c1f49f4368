"""``--baseline OLD.sarif``: mark each finding new / unchanged / updated, and list the absent.

Matching uses the ``partialFingerprints`` (never line numbers), so code moving inside a file
changes nothing. SARIF 2.1.0 §3.27.24 states:

* ``unchanged``: same function, same text (``FINGERPRINT_KEY``) and the same level;
* ``updated``: same function (path + name, ``IDENTITY_KEY``) whose text or level changed;
* ``new``: no function of that identity in the baseline;
* ``absent``: a baseline result with no current finding (fixed, removed, or now below the
  threshold) — reported again with ``baselineState: absent``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from vulnfusion.scan.engine import FINGERPRINT_KEY, IDENTITY_KEY, Finding
from vulnfusion.scan.sarif import level_for
from vulnfusion.scan.walk import ScanInputError


def read_baseline(path: Path) -> list[dict[str, Any]]:
    """The results of a previous vulnfusion SARIF log (its ``absent`` ones left out).

    Raises:
        ScanInputError: unreadable file, not JSON, not SARIF 2.1.0, or a result without the
            vulnfusion fingerprints or with one that is not a string (one line naming the
            file and the result index).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScanInputError(f"--baseline {path}: cannot read the SARIF file: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != "2.1.0":
        raise ScanInputError(f"--baseline {path}: not a SARIF 2.1.0 log (no version '2.1.0')")
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict):
        raise ScanInputError(f"--baseline {path}: no runs[0]")
    results = runs[0].get("results", [])
    if not isinstance(results, list):
        raise ScanInputError(f"--baseline {path}: runs[0].results is not a list")
    out = []
    for i, r in enumerate(results):
        prints = r.get("partialFingerprints") if isinstance(r, dict) else None
        if not isinstance(prints, dict) or not {FINGERPRINT_KEY, IDENTITY_KEY} <= prints.keys():
            raise ScanInputError(
                f"--baseline {path}: results[{i}] has no vulnfusion partialFingerprints "
                "(was it written by `vulnfusion scan`?)"
            )
        for key in (FINGERPRINT_KEY, IDENTITY_KEY):
            if not isinstance(prints[key], str):  # SARIF §3.27.17: fingerprint values are strings
                raise ScanInputError(
                    f"--baseline {path}: results[{i}].partialFingerprints[{key!r}] is a "
                    f"{type(prints[key]).__name__}, not a string"
                )
        if r.get("baselineState") != "absent":
            out.append(r)
    return out


def apply_baseline(findings: list[Finding], baseline: list[dict[str, Any]]) -> list[dict]:
    """Set ``baseline_state`` on every finding; return the baseline results now absent.

    The absent results are the old ones (copies) with ``baselineState: absent``, ``kind:
    pass`` and ``level: none`` (SARIF 2.1.0 §3.27.9–10: evaluated, no problem found), their
    message saying so and without the old suspicious lines: a consumer that ignores
    ``baselineState`` must not show a removed function as an alert at lines that now hold
    other code.
    """
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for r in baseline:
        by_identity.setdefault(r["partialFingerprints"][IDENTITY_KEY], []).append(r)
    matched: set[int] = set()
    for f in findings:
        olds = by_identity.get(f.fingerprints[IDENTITY_KEY], [])
        if not olds:
            f.baseline_state = "new"
            continue
        old = olds[0]
        matched.add(id(old))
        same_text = old["partialFingerprints"][FINGERPRINT_KEY] == f.fingerprints[FINGERPRINT_KEY]
        same_level = old.get("level") == level_for(f.probability)
        f.baseline_state = "unchanged" if same_text and same_level else "updated"
    absent = []
    for r in baseline:
        if id(r) not in matched:
            gone = copy.deepcopy(r)
            gone["baselineState"] = "absent"
            gone["kind"], gone["level"] = "pass", "none"
            gone.pop("relatedLocations", None)
            name = (gone.get("properties") or {}).get("function")
            what = f"Function '{name}'" if isinstance(name, str) else "This result"
            gone["message"] = {
                "text": f"{what} is no longer reported since the baseline (fixed, removed, "
                "renamed or now below the threshold); its location is the baseline's."
            }
            absent.append(gone)
    return absent
