"""Options that more than one ``vulnfusion`` subcommand takes, declared once."""

from __future__ import annotations

import click

from vulnfusion.scan.model import DEFAULT_MODEL

# `scan` and `evaluate` resolve --model the same way (scan.model.load_scan_model)
model_option = click.option(
    "--model",
    "model_uri",
    metavar="URI",
    help=f"models:/name@alias, runs:/<id>/model or a local model directory "
    f"[default: {DEFAULT_MODEL}, else @candidate with a notice]",
)
