"""The `callboard` command line."""
from __future__ import annotations

import sys

import click
from callboard.engine.bundle import BundleSource, check_bundle


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Callboard: a low-code CRM and contact centre driven by YAML bundles."""


@main.command()
@click.argument("folder", default="config", required=False)
def check(folder: str) -> None:
    """Validate the config bundle in FOLDER (default ./config).

    Prints every problem as FILE:LINE:COL: PATH: message and exits 1, or prints a one-line
    summary and exits 0.
    """
    try:
        source = BundleSource.from_dir(folder)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as e:
        raise click.ClickException(str(e)) from None
    problems = check_bundle(source)
    for p in problems:
        click.echo(p.format(folder))
    files = len(source.files)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"{count} in {folder} ({files} files)", err=True)
        sys.exit(1)
    click.echo(f"{folder}: OK ({files} files, no problems)")
