"""``vulnfusion scan``: score every C function of a tree (issue 15; being built)."""

from __future__ import annotations

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def scan(paths: tuple[str, ...]) -> None:
    """Scan C sources under PATHS."""
    raise click.UsageError("scan is not available yet in this build")
