"""The two non-SARIF outputs of ``scan``: a JSON document and a text table for terminals."""

from __future__ import annotations

from typing import Any

from vulnfusion import __version__
from vulnfusion.scan.engine import ScanResult
from vulnfusion.scan.sarif import level_for, path_of
from vulnfusion.scan.walk import terminal_safe

JSON_FORMAT_VERSION = 1
NAME_WIDTH = 40  # longer function names are cut with "…" in the table
NOTICES_SHOWN = 5  # places listed per notification kind in the text report


def to_json(
    result: ScanResult, model: dict[str, str], absent: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A plain JSON document: tool, model, threshold, summary, findings, notifications.

    Each finding: ``file`` (relative to ``root``), ``function``, ``start_line``,
    ``start_column``, ``end_line``, ``end_column`` (1-based, end exclusive), ``probability``,
    ``level``, ``fingerprints``, ``top_lines`` (``[{"line", "score"}]``, file lines, best
    first; ``[]`` with ``--top-lines 0``) and, with a
    baseline, ``baseline_state``. ``absent`` lists baseline functions no longer flagged.
    """
    findings = []
    for f in result.findings:
        row: dict[str, Any] = {
            "file": f.uri,
            "function": f.name,
            "start_line": f.start_line,
            "start_column": f.start_col,
            "end_line": f.end_line,
            "end_column": f.end_col,
            "probability": f.probability,
            "level": level_for(f.probability),
            "fingerprints": f.fingerprints,
            "top_lines": [{"line": t.line, "score": t.score} for t in f.top_lines],
        }
        if f.baseline_state is not None:
            row["baseline_state"] = f.baseline_state
        findings.append(row)
    doc: dict[str, Any] = {
        "format_version": JSON_FORMAT_VERSION,
        "tool": {"name": "vulnfusion", "version": __version__},
        "root": str(result.root),
        "model": model,
        "threshold": result.threshold,
        "summary": result.summary.as_dict(),
        "findings": findings,
        "notifications": [
            {"level": n.level, "id": n.rule, "message": n.message, "file": n.uri, "line": n.line}
            for n in result.notifications
        ],
    }
    if absent is not None:
        doc["absent"] = [
            {
                "file": _baseline_file(r),
                "function": r.get("properties", {}).get("function"),
                "probability": r.get("properties", {}).get("probability"),
            }
            for r in absent
        ]
    return doc


def to_text(result: ScanResult, model: dict[str, str], absent_count: int = 0) -> str:
    """A fixed-width table, most probable first, then one summary line.

    File and function names go through :func:`~vulnfusion.scan.walk.terminal_safe`: a
    control character in a name is shown as an escape, never sent to the terminal.

    Columns: ``file:line``, function, probability, level, baseline state (when a baseline
    was given) and top lines (``line:score``, best first; only when some finding has them).
    """
    findings = sorted(result.findings, key=lambda f: (-f.probability, f.uri, f.start_line))
    with_state = any(f.baseline_state for f in findings)
    with_lines = any(f.top_lines for f in findings)
    header = ["location", "function", "probability", "level"]
    header += ["baseline"] if with_state else []
    header += ["top lines"] if with_lines else []
    rows = [header]
    for f in findings:
        name = terminal_safe(f.name)
        name = name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"
        where = f"{terminal_safe(f.uri)}:{f.start_line}"  # \xff escapes: widths count them
        row = [where, name, f"{f.probability:.3f}", level_for(f.probability)]
        row += [f.baseline_state or ""] if with_state else []
        row += [" ".join(f"{t.line}:{t.score:.2f}" for t in f.top_lines)] if with_lines else []
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    if findings:
        for r in rows:
            pairs = enumerate(zip(r, widths, strict=True))
            cells = [c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in pairs]
            lines.append("  ".join(cells).rstrip())
    else:
        lines.append("no function at or above the threshold")
    s = result.summary
    skipped_files = sum(s.files_skipped.values())
    skipped_funcs = sum(s.functions_skipped.values())
    lines.append("")
    lines.append(
        f"{len(findings)} finding(s) at threshold {result.threshold:.3f} · "
        f"{s.functions_scored} functions scored in {s.files_scanned} files · "
        f"{skipped_files} files and {skipped_funcs} functions skipped"
        + (f" · {absent_count} absent since the baseline" if absent_count else "")
        + f" · model {terminal_safe(str(model['name']))} {terminal_safe(str(model['version']))}"
    )
    lines += notice_lines(result)
    return "\n".join(lines) + "\n"


def notice_lines(result: ScanResult, per_kind: int = NOTICES_SHOWN) -> list[str]:
    """Why files or functions were skipped and which files were decoded as Latin-1: one line
    per notification kind (its rule id without ``VFN-``, count, the first ``per_kind`` places),
    in the order each kind first occurred; the JSON and SARIF reports list them all."""
    kinds: dict[str, list[str]] = {}
    for n in result.notifications:
        place = terminal_safe(n.uri or "")
        place = place if n.line is None else f"{place}:{n.line}"
        kinds.setdefault(n.rule.removeprefix("VFN-"), []).append(place or terminal_safe(n.message))
    out = []
    for kind, places in kinds.items():
        shown = ", ".join(places[:per_kind])
        more = f", … {len(places) - per_kind} more" if len(places) > per_kind else ""
        out.append(f"{kind} ({len(places)}): {shown}{more}")
    return ["", "notices (all of them in --format json or sarif):", *out] if out else []


def _baseline_file(result: dict[str, Any]) -> str | None:
    """The relative path of a baseline SARIF result (``None`` when it names no location:
    valid SARIF, though ``vulnfusion scan`` always writes one)."""
    try:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    except (KeyError, IndexError, TypeError):
        return None
    return path_of(uri) if isinstance(uri, str) else None
