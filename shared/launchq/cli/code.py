"""``launchq code push DIR``: upload a source tree; its ``code://`` reference is a run's ``uri``.

A ``code://`` source runs on every target: built into an image for those that run images,
unpacked into the run's workspace on local-process. The archive is packed by
``launchq.build.tarball``, imported only when something is uploaded: the CLI's other
commands start without it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from launchq.cli.errors import CliError
from launchq.cli.options import client_from

code_app = typer.Typer(help="Upload code to build images from (W&B's code artifacts).", no_args_is_help=True)


@code_app.command("push")
def push(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The source tree to upload (.git is left out).")],
) -> None:
    """Pack DIRECTORY deterministically, upload it, and print its code:// reference."""
    uri, size = upload_directory(ctx, directory, "DIRECTORY")
    typer.echo(uri)
    typer.echo(launch_hint(uri, size), err=True)


def launch_hint(uri: str, size: int) -> str:
    """What to type next: a ``launch`` onto the queue every server has, the command left to fill."""
    return (
        f"uploaded {size} bytes; run it with: "
        f'launchq launch -q default -u {uri} -E "<command, e.g. python train.py>"'
    )


def upload_directory(ctx: typer.Context, directory: Path, option: str) -> tuple[str, int]:
    """Pack ``directory`` (without .git) and upload it: its ``code://`` reference and the
    archive's size. ``code push`` and ``job create --code`` both upload through here;
    ``option`` names the flag in an error."""
    if not directory.is_dir():
        raise CliError(f"{option}: {directory} is not a directory")
    from launchq.build.tarball import pack_context

    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "code.tar.gz"
        pack_context(directory, archive, skip=frozenset({".git"}))
        data = archive.read_bytes()
    with client_from(ctx) as client:
        return client.upload_code(data), len(data)
