"""bench.json (merged with an earlier run's) and bench.md, written atomically side by side."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.context import dig
from bench.pipeline import DEVIGN_SPLITS
from vulnfusion.config import flatten
from vulnfusion.io import atomic_path

# (label, measured key path, target key path, higher is better)
TARGETS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    (
        "featurize functions/s",
        ("featurize", "functions_per_s"),
        ("featurize", "target_functions_per_s"),
        True,
    ),
    (
        "featurize peak RSS (MB)",
        ("featurize", "peak_rss_mb"),
        ("featurize", "target_peak_rss_mb"),
        False,
    ),
    (
        "padding overhead (bucketed)",
        ("train", "padding_overhead", "bucketed"),
        ("train", "padding_overhead", "target"),
        False,
    ),
    ("fusion cached speedup", ("fusion", "cached_speedup"), ("fusion", "target"), True),
    ("scoring functions/s", ("scoring", "functions_per_s"), ("scoring", "target"), True),
    (
        "scan functions/s (kernel, end to end)",
        ("scan", "functions_per_s"),
        ("scan", "target_functions_per_s"),
        True,
    ),
    ("scan peak RSS (MB)", ("scan", "peak_rss_mb"), ("scan", "target_peak_rss_mb"), False),
    ("serving p50 (ms)", ("serving", "p50_ms"), ("serving", "target_p50_ms"), False),
    (
        "devign pipeline wall (s)",
        ("pipeline", "devign_wall_s"),
        ("pipeline", "target_wall_s"),
        False,
    ),
    (
        "devign pipeline peak RSS (MB)",
        ("pipeline", "devign_peak_rss_mb"),
        ("pipeline", "target_peak_rss_mb"),
        False,
    ),
    (
        "demo generation, 2,000 functions (s)",
        ("timings", "demo_generation", "best_s"),
        ("timings", "demo_generation", "target_s"),
        False,
    ),
    (
        "bootstrap CI f1, 1,000 × 3,000 (s)",
        ("timings", "bootstrap_ci", "f1", "best_s"),
        ("timings", "bootstrap_ci", "f1", "target_s"),
        False,
    ),
    (
        "bootstrap CI roc_auc, 1,000 × 3,000 (s)",
        ("timings", "bootstrap_ci", "roc_auc", "best_s"),
        ("timings", "bootstrap_ci", "roc_auc", "target_s"),
        False,
    ),
)

# a section's own bench.md body (below its heading), when a key/value table is not enough
Markdown = Callable[[dict[str, Any]], list[str]]


def fmt(v: Any) -> str:
    """A value as bench.md shows it: yes/no, 4 significant digits or 1 decimal, lists joined."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, list):
        return ", ".join(fmt(x) for x in v)
    return str(v)


# sections whose figures sit under one key per Devign split: section -> that dict's key ("" =
# the section itself)
PER_SPLIT = {"evaluation": "", "pipeline": "splits", "quality": "", "ablation": ""}


def merge_results(
    path: Path, results: dict[str, Any], meta: dict[str, Any], section_meta: dict[str, Any]
) -> dict[str, Any]:
    """Existing JSON + this run: run sections replace theirs, meta is merged. A section that
    reports per Devign split (:data:`PER_SPLIT`) keeps the old entries of the splits this run
    did not cover (``VULNFUSION_BENCH_DEVIGN_SPLITS`` limits a run to one)."""
    try:
        old = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        old = {}
    merged = {**old, **results}
    for section, key in PER_SPLIT.items():
        before, now = old.get(section), results.get(section)
        if isinstance(before, dict) and isinstance(now, dict) and "error" not in now:
            kept = before.get(key, {}) if key else before
            got = now.get(key, {}) if key else now
            splits = {s: v for s, v in kept.items() if s in DEVIGN_SPLITS and s not in got}
            if key:  # the section's headline keys of the kept splits stay too
                merged[section] = {**before, **now, key: {**splits, **got}}
            else:
                merged[section] = {**splits, **now}
    sections = {**old.get("meta", {}).get("sections", {}), **section_meta}
    merged["meta"] = {**old.get("meta", {}), **meta, "sections": sections}
    return merged


def _header(meta: dict[str, Any], source: str) -> list[str]:
    return [
        "# vulnfusion benchmarks",
        "",
        f"`{meta.get('command')}` — {meta.get('date')}, git `{meta.get('git_sha')}`, "
        f"Python {meta.get('python')}, torch {meta.get('torch')}, {meta.get('cpu_count')} "
        f"CPUs ({meta.get('torch_threads')} torch threads; "
        f"setting: {meta.get('torch_threads_setting')}), "
        f"quick={fmt(meta.get('quick'))}. The figures of `{source}`; "
        "see the section modules in `benchmarks/bench/` for how each is measured.",
    ]


def _targets(res: dict[str, Any]) -> list[str]:
    out = ["## Targets", "", "| metric | measured | target | meets |", "|---|---:|---:|:---:|"]
    for label, got, want, higher in TARGETS:
        m, t = dig(res, *got), dig(res, *want)
        ok = "—" if m is None or t is None else ("yes" if (m >= t if higher else m <= t) else "no")
        out.append(
            f"| {label} | {fmt(m) if m is not None else 'n/a'} | "
            f"{'≥' if higher else '≤'} {fmt(t) if t is not None else 'n/a'} | {ok} |"
        )
    return out


def _section(name: str, r: dict[str, Any], markdown: Markdown | None) -> list[str]:
    out = ["", f"## {name}", ""]
    if markdown is not None and "error" not in r:
        return out + markdown(r)
    out += ["| key | value |", "|---|---|"]
    return out + [f"| `{name}.{k}` | {fmt(v)} |" for k, v in flatten(r).items()]


def _section_runs(meta: dict[str, Any]) -> list[str]:
    out = [
        "",
        "## Sections: wall time and load average",
        "",
        "| section | run at (UTC) | wall s | load before (1/5/15 min) | load after | quick |",
        "|---|---|---:|---|---|:---:|",
    ]
    for name, s in meta.get("sections", {}).items():
        out.append(
            f"| {name} | {s.get('date')} | {fmt(s.get('wall_s'))} | "
            f"{fmt(s.get('load_avg_before'))} | {fmt(s.get('load_avg_after'))} | "
            f"{fmt(s.get('quick'))} |"
        )
    return out


def render_md(
    res: dict[str, Any], sections: Mapping[str, Markdown | None], source: str = "bench.json"
) -> str:
    """bench.md: the run line, the targets table, one table per section (in ``sections``
    order; a section with its own ``Markdown`` renders itself), then per-section wall times."""
    meta = res.get("meta", {})
    out = [*_header(meta, source), "", *_targets(res)]
    for name, markdown in sections.items():
        if name in res:
            out += _section(name, res[name], markdown)
    out += _section_runs(meta)
    return "\n".join(out) + "\n"


def write_outputs(path: Path, res: dict[str, Any], sections: Mapping[str, Markdown | None]) -> None:
    """``path`` (JSON) and ``path`` with ``.md``, each replaced atomically."""
    for target, text in (
        (path, json.dumps(res, indent=2) + "\n"),
        (path.with_suffix(".md"), render_md(res, sections, path.name)),
    ):
        with atomic_path(target) as tmp:
            tmp.write_text(text)
