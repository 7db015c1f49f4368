"""SARIF 2.1.0 for GitHub code scanning, built from a :class:`~vulnfusion.scan.engine.ScanResult`.

Follows the OASIS SARIF 2.1.0 specification and GitHub's list of supported properties
("SARIF support for code scanning"): one run, one rule with ``security-severity``, results
located by a region relative to ``%SRCROOT%``, ``partialFingerprints`` GitHub uses to follow an
alert as code moves, and one invocation carrying the notifications and exit status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from vulnfusion import __version__
from vulnfusion.scan.engine import Finding, Notification, ScanResult
from vulnfusion.scan.walk import name_bytes

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "vulnfusion"
INFORMATION_URI = "https://github.com/vulnfusion/vulnfusion"
RULE_ID = "VF1001"
ERROR_AT = 0.9  # probability at or above which a finding is an "error", else a "warning"
# GitHub maps security-severity to a label: 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high,
# 9.0+ critical. The model does not know the weakness class or its impact: medium.
SECURITY_SEVERITY = "5.0"

RULE: dict[str, Any] = {
    "id": RULE_ID,
    "name": "PossiblyVulnerableFunction",
    "shortDescription": {"text": "Function resembles vulnerable C code"},
    "fullDescription": {
        "text": (
            "A learned model (Transformer + code-graph GNN fusion, seed ensemble, trained on "
            "labelled vulnerable and fixed C functions) gives this function a probability of "
            "being vulnerable at or above the decision threshold."
        )
    },
    "help": {
        "text": (
            "The probability is the model's estimate that the function is like the vulnerable "
            "functions it was trained on. It is not a proof of a vulnerability and names no "
            "weakness class; review the function, starting with memory and bounds handling."
        ),
        "markdown": (
            "The probability is the model's estimate that the function resembles the "
            "**vulnerable** functions it was trained on. It is *not* a proof of a "
            "vulnerability and names no weakness class: review the function by hand, "
            "starting with memory, bounds and input handling."
        ),
    },
    "defaultConfiguration": {"level": "warning"},
    "properties": {
        "security-severity": SECURITY_SEVERITY,
        "precision": "medium",
        "problem.severity": "warning",
        "tags": ["security", "machine-learning"],
    },
}


def level_for(probability: float) -> str:
    """SARIF level of a finding: ``error`` at ``ERROR_AT`` or above, else ``warning``."""
    return "error" if probability >= ERROR_AT else "warning"


def build_sarif(
    result: ScanResult,
    model: dict[str, str],
    exit_code: int,
    absent: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The SARIF log (a JSON-able dict) for ``result``.

    Args:
        result: the scan.
        model: ``{"uri", "name", "version"}`` of the model that scored.
        exit_code: what the command exits with (recorded in the invocation).
        absent: baseline results no longer found (already marked ``baselineState: absent``).
    """
    results = [_result(f, model, result.threshold) for f in result.findings]
    results += absent or []
    return {
        "$schema": SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [RULE],
                    }
                },
                "automationDetails": {"id": "vulnfusion/scan/"},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": result.root.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "invocations": [_invocation(result.notifications, exit_code)],
                "properties": {
                    "model": model,
                    "threshold": result.threshold,
                    "summary": result.summary.as_dict(),
                },
            }
        ],
    }


def _region(start_line: int, start_col: int, end_line: int, end_col: int) -> dict[str, int]:
    return {
        "startLine": start_line,
        "startColumn": start_col,
        "endLine": end_line,
        "endColumn": end_col,
    }


def artifact_uri(path: str) -> str:
    """A relative POSIX path as a SARIF ``artifactLocation.uri``: percent-encoded (RFC 3986;
    SARIF 2.1.0 §3.4.3), so a space, ``%`` or ``#`` in a file name names that file and not an
    escape or a fragment, and a name that is not UTF-8 keeps its own bytes (``\\xff`` →
    ``%FF``). :func:`path_of` is the inverse."""
    return quote(name_bytes(path), safe="/")


def path_of(uri: str) -> str:
    """The relative path an :func:`artifact_uri` names (bytes that are not UTF-8 as
    surrogate escapes, as the walk holds them)."""
    return unquote(uri, errors="surrogateescape")


def _location(uri: str, region: dict[str, int] | None = None) -> dict[str, Any]:
    where = {"uri": artifact_uri(uri), "uriBaseId": "%SRCROOT%"}
    physical: dict[str, Any] = {"artifactLocation": where}
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def _message(f: Finding, threshold: float) -> str:
    """The result's message; the top lines as SARIF embedded links ``[text](id)`` to the
    ``relatedLocations`` (§3.11.6), which GitHub code scanning shows only when linked."""
    text = (
        f"Function '{f.name}' looks vulnerable: probability {f.probability:.3f} "
        f"(threshold {threshold:.3f})."
    )
    if f.top_lines:
        links = ", ".join(f"[line {ls.line}]({i})" for i, ls in enumerate(f.top_lines))
        text += f" Most suspicious lines: {links}."
    return text


def _result(f: Finding, model: dict[str, str], threshold: float) -> dict[str, Any]:
    region = _region(f.start_line, f.start_col, f.end_line, f.end_col)
    out: dict[str, Any] = {
        "ruleId": RULE_ID,
        "ruleIndex": 0,
        "level": level_for(f.probability),
        "message": {"text": _message(f, threshold)},
        "locations": [_location(f.uri, region)],
        "partialFingerprints": dict(f.fingerprints),
        "properties": {
            "function": f.name,
            "probability": round(f.probability, 6),
            "threshold": threshold,
            "model": model["name"],
            "modelVersion": model["version"],
        },
    }
    if f.top_lines:  # the most suspicious lines (scan.localize); never an empty list
        out["relatedLocations"] = [
            {
                "id": i,
                "message": {
                    "text": f"suspicious line #{i + 1} of '{f.name}' (score {ls.score:.3f})"
                },
                **_location(f.uri, {"startLine": ls.line}),
                "properties": {"rank": i + 1, "score": round(ls.score, 6)},
            }
            for i, ls in enumerate(f.top_lines)
        ]
    if f.baseline_state is not None:
        out["baselineState"] = f.baseline_state
    return out


def _invocation(notes: list[Notification], exit_code: int) -> dict[str, Any]:
    return {
        "executionSuccessful": True,
        "exitCode": exit_code,
        "toolExecutionNotifications": [_notification(n) for n in notes],
    }


def _notification(n: Notification) -> dict[str, Any]:
    out: dict[str, Any] = {
        "level": n.level,
        "message": {"text": n.message},
        "descriptor": {"id": n.rule},
    }
    if n.uri is not None:
        out["locations"] = [_location(n.uri, {"startLine": n.line} if n.line else None)]
    return out
