"""Options that more than one ``vulnfusion`` subcommand takes, declared once."""

from __future__ import annotations

import click

from vulnfusion.scan.model import DEFAULT_MODEL

# `scan` and `evaluate` resolve --model the same way (scan.model.load_scan_model)
model_option = click.option(
    "--model",
    "model_uri",
    metavar="URI",
    # "" is the default too: MLproject's `evaluate` passes its empty default parameter this way
    callback=lambda _ctx, _param, value: value or None,
    help=f"models:/name@alias, runs:/<id>/model or a local model directory "
    f"[default: {DEFAULT_MODEL}, else @candidate with a notice]",
)
