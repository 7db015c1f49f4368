"""What ``evaluate`` writes: ``evaluation.json``, ``predictions.jsonl``, ``evaluation.md``
and the short table printed on the terminal. Every write is atomic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vulnfusion.io import write_json, write_jsonl, write_text

JSON_FILE, PREDICTIONS_FILE, MARKDOWN_FILE, FIGURES_DIR = (
    "evaluation.json",
    "predictions.jsonl",
    "evaluation.md",
    "figures",
)
HEADLINE = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "balanced_accuracy")
PAIR_ROWS = (
    ("p_c", "P-C (both correct)"),
    ("p_v", "P-V (both predicted vulnerable)"),
    ("p_b", "P-B (both predicted benign)"),
    ("p_r", "P-R (reversed)"),
    ("vulnerable_scores_higher", "vulnerable twin scores higher"),
)


def write_predictions(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """One JSON line per scored function (keys documented in :mod:`vulnfusion.evaluation`)."""
    return write_jsonl(path, rows)


def write_report(out: Path, report: Mapping[str, Any]) -> tuple[Path, Path]:
    """``evaluation.json`` and ``evaluation.md`` into ``out``."""
    return write_json(out / JSON_FILE, report), write_text(out / MARKDOWN_FILE, markdown(report))


def _num(v: Any, digits: int = 4) -> str:
    return "—" if v is None else f"{float(v):.{digits}f}"


def _ci(entry: Mapping[str, Any]) -> str:
    if entry.get("low") is None:
        return _num(entry.get("value"))
    return f"{_num(entry['value'])} [{_num(entry['low'])}, {_num(entry['high'])}]"


def headline_rows(figs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(figure, value with interval) rows of one figure set, for the table and the markdown."""
    rows = [(k, _ci(figs[k])) for k in HEADLINE]
    vd = figs["vd_s"]
    rows.append((f"VD-S (FNR at FPR <= {vd['target_fpr']:.3%})", _num(vd["vd_s"])))
    rows.append(("ECE (15 equal-mass bins)", _num(figs["calibration"]["ece"])))
    rows.append(("Brier", _num(figs["calibration"]["brier"])))
    pairs = figs.get("pairs")
    if pairs:
        rows.append(("pairs", str(pairs["n_pairs"])))
        rows += [(label, _ci(pairs[key])) for key, label in PAIR_ROWS]
    return rows


def summary_text(report: Mapping[str, Any]) -> str:
    """The short table ``vulnfusion evaluate`` prints."""
    data, model, figs = report["data"], report["model"], report["all"]
    lines = [
        f"evaluated {model['name']} {model['version']} on {data['path']}: "
        f"{figs['n']} functions ({figs['n_positive']} vulnerable), threshold "
        f"{_num(model['threshold'], 2)}; skipped {data['skipped']['total']}",
    ]
    width = max(len(k) for k, _ in headline_rows(figs))
    lines += [f"  {k:<{width}}  {v}" for k, v in headline_rows(figs)]
    warning = report["leakage"].get("warning")
    if warning:
        lines.append(f"WARNING: {warning}")
    lines += [f"WARNING: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines) + "\n"


def markdown(report: Mapping[str, Any]) -> str:
    """``evaluation.md``: headline table, pairs, calibration, leakage and group breakdowns."""
    data, model = report["data"], report["model"]
    out = [
        f"# Evaluation `{report['name']}`",
        "",
        f"Model `{model['uri']}` ({model['name']} version {model['version']}, alias "
        f"{model['alias'] or '—'}, threshold {_num(model['threshold'], 2)}) on `{data['path']}`"
        f"{' split ' + data['split'] if data['split'] else ''} (digest `{data['digest']}`): "
        f"{data['n_scored']} functions scored, {data['skipped']['total']} skipped.",
        "",
        "Intervals: bootstrap 95% percentile"
        f" ({report['options']['n_boot']} resamples, {report['all']['bootstrap_unit']}s).",
        "",
    ]
    warning = report["leakage"].get("warning")
    if warning:
        out += [f"> **Leakage warning:** {warning}", ""]
    out += [line for w in report.get("warnings", []) for line in (f"> **Warning:** {w}", "")]
    out += _figure_table("All functions", report["all"])
    if report.get("without_overlap"):
        out += _figure_table("Without functions seen in training", report["without_overlap"])
    for name, table in report["groups"].items():
        out += _group_table(name, table)
    return "\n".join(out) + "\n"


def _figure_table(title: str, figs: Mapping[str, Any]) -> list[str]:
    out = [f"## {title} ({figs['n']} functions, {figs['n_positive']} vulnerable)", ""]
    out += ["| figure | value [95% CI] |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in headline_rows(figs)]
    c = figs["confusion"]
    counts = ", ".join(f"{k} {c[k]}" for k in ("tp", "fp", "tn", "fn"))
    out += ["", f"Confusion at the threshold: {counts}."]
    if figs.get("pairs"):
        bad = ", ".join(f"{k} {v}" for k, v in figs["pairs"]["malformed"].items() if v)
        out.append(f"pair_id groups that are not a vulnerable/fixed pair: {bad or 'none'}.")
    return [*out, ""]


def _group_table(name: str, table: Mapping[str, Mapping[str, Any]]) -> list[str]:
    cols = (name, "n", "vulnerable", "accuracy", "precision", "recall", "F1", "ROC-AUC", "pairs")
    tail = " | P-C | vulnerable twin higher |"
    out = [f"## By {name}", "", "| " + " | ".join(cols) + tail, "|---" * 11 + "|"]
    for value, r in table.items():
        cells = [
            value,
            str(r["n"]),
            str(r["n_positive"]),
            *(_num(r[k]) for k in ("accuracy", "precision", "recall", "f1", "roc_auc")),
            "—" if r["n_pairs"] is None else str(r["n_pairs"]),
            _num(r["p_c"]),
            _num(r.get("vulnerable_scores_higher")),
        ]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return [*out, ""]
