"""``launchq code push DIR``: upload a source tree; its ``code://`` reference is a run's ``uri``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from launchq.build.tarball import pack_context
from launchq.cli.errors import CliError
from launchq.cli.options import client_from

code_app = typer.Typer(help="Upload code to build images from (W&B's code artifacts).", no_args_is_help=True)


@code_app.command("push")
def push(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The source tree to upload (.git is left out).")],
) -> None:
    """Pack DIRECTORY deterministically, upload it, and print its code:// reference."""
    if not directory.is_dir():
        raise CliError(f"DIRECTORY: {directory} is not a directory")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "code.tar.gz"
        pack_context(directory, archive, skip=frozenset({".git"}))
        data = archive.read_bytes()
    with client_from(ctx) as client:
        uri = client.upload_code(data)
    typer.echo(uri)
    typer.echo(f"uploaded {len(data)} bytes; launch with -u {uri}", err=True)
