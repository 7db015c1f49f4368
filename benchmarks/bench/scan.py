"""Section ``scan``: ``vulnfusion scan`` end to end on real C that no one here wrote — two
subtrees of the Linux kernel shipped by Debian's ``linux-source-6.1`` — beside
``flawfinder --sarif`` on the same tree in the same run.

The package is installed here (``apt-get install -y linux-source-6.1``) when
``/usr/src/linux-source-6.1.tar.xz`` is absent; when it cannot be, the section records
``skipped: <reason>`` and the other sections still run. The two subtrees are extracted into the
temp dir. The model is the registered subset ensemble the ``scoring`` section also uses
(``inputs.subset_registered``: the whole stage chain on a Devign subset, default model sizes,
seeds 0,1,2, through ``register``): scan speed depends on the model's sizes, not on how well
it was trained.

Each tree is scanned as a user would (``vulnfusion scan TREE --model URI --format sarif -o FILE
--no-progress``), each scan in its own subprocess, so the figures include start-up and model
loading. The throughput target is the issue's "end to end (extraction + graphs + scoring +
SARIF)": those scans pass ``--top-lines 0``. Line localisation re-scores every flagged function
once per candidate line, so its cost depends on how many functions the model flags; a part of
the small tree (``LOCALIZE_SUBTREE``, 250 functions; the small tree itself when it does not
hold it) is scanned a second time with the defaults (``--top-lines 5``) to show it (the whole
small tree took 54 minutes that way, 0.46 s per localised function):

  scan.trees.<name>.files, .lines              .c/.h files and their lines in the subtree
  scan.trees.<name>.wall_s, .cpu_s             scan wall seconds; user+sys of the process tree
  scan.trees.<name>.files_per_s                files scanned / wall
  scan.trees.<name>.functions_per_s            functions scored / wall (end to end)
  scan.trees.<name>.cpu_ms_per_function        cpu_s / functions scored: less sensitive to
                                               other jobs on the machine than the wall figures
  scan.trees.<name>.peak_rss_mb                max over the run of the summed RSS of the scan
                                               process and its children (psutil, every 0.2 s)
  scan.trees.<name>.summary                    the SARIF run's properties.summary (functions
                                               found/scored/skipped by reason, files skipped by
                                               reason, findings)
  scan.trees.<name>.notifications              toolExecutionNotifications counted by rule id
  scan.trees.<name>.flawfinder_wall_s, .flawfinder_results   ``flawfinder --sarif TREE``
  scan.trees.small.default.{subtree,wall_s,cpu_s,functions_per_s,peak_rss_mb,results,localized}
                                               LOCALIZE_SUBTREE with the default --top-lines 5
                                               (localized: findings with related lines)
  scan.functions_per_s, .peak_rss_mb           the larger tree's rate; the max over both trees
  scan.rss_growth                              peak RSS large / small (flat memory: about 1)
  scan.target_functions_per_s (150), scan.target_peak_rss_mb (2048), scan.meets_target.*

Two environment variables make a rerun cheaper: ``VULNFUSION_BENCH_SCAN_TREES=SMALL,LARGE``
(subtrees of the kernel, instead of ``TREES``) and ``VULNFUSION_BENCH_SCAN_MODEL=URI_OR_DIR``
(a model to reuse instead of building the subset ensemble: a local directory, ``mlflow
artifacts download`` output, since the scan runs against the benchmark's own empty store).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.context import VENV_BIN, Ctx, dig
from bench.inputs import subset_registered
from bench.processes import Measured, run_measured

PACKAGE = "linux-source-6.1"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
TOP = "linux-source-6.1"
# (name, subtree): a small and a ~4x larger tree, to show RSS does not grow with size
TREES = (("small", "drivers/net/ethernet/intel"), ("large", "fs"))
QUICK_TREES = (
    ("small", "drivers/net/ethernet/intel/e1000"),
    ("large", "drivers/net/ethernet/intel/e1000e"),
)
TARGET_FPS, TARGET_RSS_MB = 150, 2048
DEFAULT_TOP_LINES = 5  # vulnfusion scan's default
LOCALIZE_SUBTREE = "drivers/net/ethernet/intel/e1000"  # inside TREES' small tree
INSTALL_TIMEOUT_S, SCAN_TIMEOUT_S = 1200, 3600


class Skip(Exception):
    """The section cannot run here (no kernel source); recorded, not an error."""


def kernel_tarball() -> Path:
    """Debian's kernel source tarball, installing the package when it is absent.

    Raises:
        Skip: not installed and ``apt-get install`` failed (or there is no apt-get).
    """
    if TARBALL.is_file():
        return TARBALL
    apt = shutil.which("apt-get")
    if apt is None:
        raise Skip(f"{TARBALL} absent and no apt-get to install {PACKAGE}")
    try:
        proc = subprocess.run(
            [apt, "install", "-y", PACKAGE],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Skip(f"apt-get install {PACKAGE}: {type(exc).__name__}") from None
    if proc.returncode != 0 or not TARBALL.is_file():
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1][:200] if lines else f"exit status {proc.returncode}"
        raise Skip(f"apt-get install {PACKAGE} failed: {last}")
    return TARBALL


def extract(tarball: Path, dest: Path, subtrees: list[str]) -> None:
    """Unpack only ``subtrees`` of the kernel tarball into ``dest`` (one pass over the xz)."""
    dest.mkdir(parents=True, exist_ok=True)
    members = [f"{TOP}/{s}" for s in subtrees]
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(dest), *members], check=True)


def tree_size(root: Path) -> tuple[int, int]:
    """(.c/.h files, their lines) under ``root``; symlinks are not followed (as scan)."""
    files = lines = 0
    for p in root.rglob("*"):
        if p.suffix in (".c", ".h") and p.is_file() and not p.is_symlink():
            files += 1
            with p.open("rb") as fh:
                lines += sum(1 for _ in fh)
    return files, lines


def read_sarif(path: Path) -> tuple[dict[str, Any], dict[str, int], int, int]:
    """(run.properties.summary, notifications counted by rule id, results, results with
    suspicious lines — ``relatedLocations``) of a scan, from one read of its SARIF."""
    run = json.loads(path.read_text())["runs"][0]
    invocations = run.get("invocations", [])
    notes = [n for inv in invocations for n in inv.get("toolExecutionNotifications", [])]
    rules = Counter(str(dig(n, "descriptor", "id") or n.get("level", "?")) for n in notes)
    localized = sum(1 for r in run["results"] if r.get("relatedLocations"))
    summary = dig(run, "properties", "summary") or {}
    return summary, dict(sorted(rules.items())), len(run["results"]), localized


def vulnfusion_scan(
    ctx: Ctx, tree: Path, model_uri: str, out: Path, top_lines: int
) -> tuple[Measured, tuple[dict[str, Any], dict[str, int], int, int]]:
    """One ``vulnfusion scan`` subprocess writing SARIF to ``out``; (measured, read_sarif)."""
    cmd = [str(VENV_BIN / "vulnfusion"), "scan", str(tree), "--model", model_uri]
    cmd += ["--format", "sarif", "-o", str(out), "--no-progress", "--top-lines", str(top_lines)]
    m = run_measured(ctx, cmd, f"scan-{out.stem}", timeout=SCAN_TIMEOUT_S)
    return m, read_sarif(out)


def localize_subtree(small: str) -> str:
    """The subtree scanned with the default ``--top-lines 5``: ``LOCALIZE_SUBTREE`` when it
    lies inside the ``small`` subtree (extracted with it), else ``small`` itself."""
    inside = small == LOCALIZE_SUBTREE or LOCALIZE_SUBTREE.startswith(small.rstrip("/") + "/")
    return LOCALIZE_SUBTREE if inside else small


def default_scan(ctx: Ctx, tree: Path, model_uri: str) -> dict[str, Any]:
    """``tree`` scanned with the default ``--top-lines 5``: what localisation adds."""
    out = ctx.tmp / "scan" / "small-default.sarif"
    m, (summary, _, results, localized) = vulnfusion_scan(
        ctx, tree, model_uri, out, DEFAULT_TOP_LINES
    )
    scored = int(summary.get("functions_scored", 0))
    return {
        "subtree": str(tree.relative_to(ctx.tmp / "scan" / "src" / TOP)),
        "top_lines": DEFAULT_TOP_LINES,
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "functions_per_s": round(scored / m.wall_s, 1),
        "peak_rss_mb": m.peak_rss_mb,
        "results": results,
        "localized": localized,
    }


def scan_tree(ctx: Ctx, name: str, tree: Path, model_uri: str) -> dict[str, Any]:
    """Scan ``tree`` with vulnfusion (``--top-lines 0``), then with flawfinder; both measured
    as process trees."""
    files, lines = tree_size(tree)
    out = ctx.tmp / "scan" / f"{name}.sarif"
    m, (summary, notes, results, _) = vulnfusion_scan(ctx, tree, model_uri, out, 0)
    ff_out = ctx.tmp / "scan" / f"{name}.flawfinder.sarif"
    # flawfinder writes SARIF to stdout; sh redirects it so the log keeps only stderr
    redirect = 'exec "$0" --sarif "$1" > "$2"'
    ff_cmd = ["sh", "-c", redirect, str(VENV_BIN / "flawfinder"), str(tree), str(ff_out)]
    ff = run_measured(ctx, ff_cmd, f"flawfinder-{name}", timeout=SCAN_TIMEOUT_S)
    scored = int(summary.get("functions_scored", 0))
    return {
        "subtree": str(tree.relative_to(ctx.tmp / "scan" / "src" / TOP)),
        "files": files,
        "lines": lines,
        "wall_s": m.wall_s,
        "cpu_s": m.cpu_s,
        "files_per_s": round(int(summary.get("files_scanned", 0)) / m.wall_s, 1),
        "functions_per_s": round(scored / m.wall_s, 1),
        "cpu_ms_per_function": round(1000 * m.cpu_s / max(scored, 1), 2),
        "peak_rss_mb": m.peak_rss_mb,
        "summary": summary,
        "notifications": notes,
        "results": results,
        "flawfinder_wall_s": ff.wall_s,
        "flawfinder_cpu_s": ff.cpu_s,
        "flawfinder_results": len(json.loads(ff_out.read_text())["runs"][0]["results"]),
    }


def chosen_trees(quick: bool) -> tuple[tuple[str, str], ...]:
    """(name, subtree) pairs: ``VULNFUSION_BENCH_SCAN_TREES`` (two, comma-separated) or the
    defaults (``QUICK_TREES`` under ``--quick``)."""
    env = os.environ.get("VULNFUSION_BENCH_SCAN_TREES", "").strip()
    if env:
        subs = [x.strip().strip("/") for x in env.split(",") if x.strip()]
        if len(subs) != 2:
            raise ValueError(f"VULNFUSION_BENCH_SCAN_TREES={env!r}: give two subtrees, a,b")
        return (("small", subs[0]), ("large", subs[1]))
    return QUICK_TREES if quick else TREES


def chosen_model(ctx: Ctx) -> tuple[str, str]:
    """(model URI or directory, what it is): ``VULNFUSION_BENCH_SCAN_MODEL`` or the
    registered subset ensemble that the ``scoring`` section also uses."""
    env = os.environ.get("VULNFUSION_BENCH_SCAN_MODEL", "").strip()
    if env:
        return env, "given by VULNFUSION_BENCH_SCAN_MODEL"
    reg = subset_registered(ctx)
    uri: str = reg["registry_uri"]
    return uri, "registered subset ensemble (default model sizes, seeds 0,1,2)"


def flawfinder_version() -> str:
    proc = subprocess.run(
        [str(VENV_BIN / "flawfinder"), "--version"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"


def run(ctx: Ctx) -> dict[str, Any]:
    if not (VENV_BIN / "flawfinder").exists():
        return {"skipped": "flawfinder not installed (pip install -e '.[bench]')"}
    try:
        tarball = kernel_tarball()
    except Skip as why:
        return {"skipped": str(why)}
    trees = chosen_trees(ctx.quick)
    src = ctx.tmp / "scan" / "src"
    extract(tarball, src, [sub for _, sub in trees])
    model_uri, model = chosen_model(ctx)
    per = {name: scan_tree(ctx, name, src / TOP / sub, model_uri) for name, sub in trees}
    small, large = per["small"], per["large"]
    small["default"] = default_scan(ctx, src / TOP / localize_subtree(trees[0][1]), model_uri)
    fps = large["functions_per_s"]
    peak = max(small["peak_rss_mb"], large["peak_rss_mb"])
    return {
        "functions_per_s": fps,
        "files_per_s": large["files_per_s"],
        "peak_rss_mb": peak,
        "rss_growth": round(large["peak_rss_mb"] / max(small["peak_rss_mb"], 1e-9), 3),
        "size_growth": round(large["lines"] / max(small["lines"], 1), 2),
        "trees": per,
        "kernel": f"{PACKAGE} ({TARBALL.name})",
        "model_uri": model_uri,
        "model": model,
        "flawfinder": flawfinder_version(),
        "rss_method": "psutil: summed RSS of the process tree, sampled every 0.2 s",
        "target_functions_per_s": TARGET_FPS,
        "target_peak_rss_mb": TARGET_RSS_MB,
        "meets_target": {
            "functions_per_s": fps >= TARGET_FPS,
            "peak_rss_mb": peak <= TARGET_RSS_MB,
        },
    }


def headline(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    big, small = dig(r, "trees", "large") or {}, dig(r, "trees", "small") or {}
    return (
        f"{dig(r, 'functions_per_s')} fn/s, {dig(r, 'files_per_s')} files/s on "
        f"{big.get('subtree')} (flawfinder {big.get('flawfinder_wall_s')} s vs "
        f"{big.get('wall_s')} s), peak {small.get('peak_rss_mb')} / {big.get('peak_rss_mb')} MB; "
        f"with --top-lines 5: {dig(small, 'default', 'functions_per_s')} fn/s on "
        f"{dig(small, 'default', 'subtree') or small.get('subtree')}"
    )
