"""``vulnfusion evaluate``: the registered model's figures on any labelled set.

Only flag parsing and output here; the work is :mod:`vulnfusion.evaluation`. Exit codes:
0 done, 2 usage or input error (one line, from the group in ``console/__init__``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import click

from vulnfusion.config import Config, load_config
from vulnfusion.console.options import model_option
from vulnfusion.console.streams import write_stdout
from vulnfusion.evaluation.figures import Options
from vulnfusion.evaluation.measures import DEFAULT_TARGET_FPR, MIN_N_BOOT
from vulnfusion.evaluation.outputs import summary_text
from vulnfusion.evaluation.run import Request
from vulnfusion.evaluation.run import evaluate as run_evaluation
from vulnfusion.io import nearest_existing, unwritable_reason
from vulnfusion.paths import project_root

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _config(params: Path) -> Config:
    """The project's config for the store and experiment (defaults outside a project).

    A ``null`` ``mlflow.tracking_uri`` means the ``mlflow.db`` of the project that
    ``params`` belongs to, wherever the command runs from (``MLFLOW_TRACKING_URI`` still
    wins, as everywhere)."""
    if not params.exists():
        return Config()
    cfg = load_config(params)
    if cfg.mlflow.tracking_uri:
        return cfg
    store = f"sqlite:///{project_root(params.resolve().parent) / 'mlflow.db'}"
    return replace(cfg, mlflow=replace(cfg.mlflow, tracking_uri=store))


def _check_output(output: Path) -> None:
    """Fail before any work when ``output`` cannot become a directory of new files: it or
    a parent is an existing file, or the nearest existing directory is not writable
    (probed with a real file, see :func:`vulnfusion.io.unwritable_reason`).

    Raises:
        click.BadParameter: one line naming the path and why.
    """
    hint = "'-o' / '--output'"
    for p in (output, *output.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == output else f"is a file, so {output} cannot be made"
                raise click.BadParameter(f"{p} {what}", param_hint=hint)
            break
    where = nearest_existing(output)
    why = unwritable_reason(where)
    if why is not None:
        raise click.BadParameter(f"{output}: {where} is not writable ({why})", param_hint=hint)


@click.command()
@click.argument("data", type=click.Path(path_type=Path, exists=True))
@model_option
@click.option("--name", help="Names the MLflow run evaluate-NAME [default: DATA's file name].")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for evaluation.json, predictions.jsonl, evaluation.md, figures/ "
    "[default: reports/evaluations/NAME].",
)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test", "all"]),
    help="Keep one split (a directory's file, or a record's split field); 'all' keeps "
    "every one [default: test for a train/valid/test directory, with a notice; "
    "all for a file].",
)
@click.option(
    "--on-bad-record",
    type=click.Choice(["error", "skip"]),
    default="error",
    show_default=True,
    help="Stop at the first bad record, or count and skip bad records.",
)
@click.option(
    "--target-fpr",
    type=click.FloatRange(0, 1),
    default=DEFAULT_TARGET_FPR,
    show_default=True,
    help="VD-S: the false-positive rate the threshold may not exceed.",
)
@click.option(
    "--n-boot",
    type=click.IntRange(MIN_N_BOOT),
    default=1000,
    show_default=True,
    help=f"Bootstrap resamples for the 95% percentile intervals (pairs resampled as "
    f"units; at least {MIN_N_BOOT}).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--params",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("params.yaml"),
    show_default=True,
    help="Project params (MLflow store and experiment); defaults when absent.",
)
@click.option(
    "--mlflow/--no-mlflow",
    "log_mlflow",
    default=True,
    show_default=True,
    help="Log the run evaluate-NAME (metrics, files, dataset input, model tags).",
)
@click.option("--progress/--no-progress", default=None, help="[default: when stderr is a TTY]")
def evaluate(
    data: Path,
    model_uri: str | None,
    name: str | None,
    output: Path | None,
    split: str | None,
    on_bad_record: str,
    target_fpr: float,
    n_boot: int,
    seed: int,
    params: Path,
    log_mlflow: bool,
    progress: bool | None,
) -> None:
    """Evaluate the model on DATA: a labelled file (.jsonl, .jsonl.gz, .json, function.json,
    .csv) or a train/valid/test directory, with optional pair_id, project and cwe fields.

    Reports ROC-AUC, PR-AUC and threshold metrics with bootstrap 95% intervals, VD-S,
    pair-wise P-C/P-V/P-B/P-R, ECE and Brier, per-project/per-CWE figures and overlap with
    the model's training data; logs the MLflow run evaluate-NAME.
    """
    name = name or _default_name(data)
    if not _NAME.match(name):
        hint = "letters, digits, '.', '_' and '-' only"
        raise click.BadParameter(f"{name!r}: {hint}", param_hint="--name")
    output = output or Path("reports") / "evaluations" / name
    _check_output(output)
    request = Request(
        data=data,
        output=output,
        name=name,
        model_uri=model_uri,
        split=split,
        skip_bad=on_bad_record == "skip",
        options=Options(target_fpr=target_fpr, n_boot=n_boot, seed=seed),
        progress=progress,
        log_mlflow=log_mlflow,
        config=_config(params),
    )
    result = run_evaluation(request)
    for notice in (result.data_notice, result.notice):
        if notice:
            click.echo(f"vulnfusion: notice: {notice}", err=True)
    # the report is in the files: a summary that cannot be printed is only noted
    if sys.stdout is None:
        why = "standard output is closed"
    else:
        try:
            write_stdout(summary_text(result.report))
            why = ""
        except click.ClickException as exc:
            why = exc.format_message()
    if why:
        click.echo(f"vulnfusion: notice: summary not printed ({why})", err=True)
    click.echo(f"vulnfusion: wrote {request.output}", err=True)


def _default_name(data: Path) -> str:
    stem = data.resolve().name.split(".")[0] or "data"
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem)
