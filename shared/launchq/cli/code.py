"""``launchq code push DIR``: upload a source tree; its ``code://`` reference is a run's ``uri``.

A ``code://`` source runs on every target: built into an image for those that run images,
unpacked into the run's workspace on local-process. The archive is packed by
``launchq.build.tarball``, imported only when something is uploaded: the CLI's other
commands start without it.

The reference is the only thing on stdout (scripts capture it). On stderr a terminal sees a
spinner while the tree is packed, then a bar with bytes, total and rate while the upload is
streamed; a pipe gets one line when it is done
(``packed in 1.2 s, uploaded 2.3 MB in 0.4 s (5.8 MB/s)``).
"""

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from launchq.cli.errors import CliError
from launchq.cli.options import client_from
from launchq.cli.progress import transfer_progress, working

code_app = typer.Typer(help="Upload code to build images from (W&B's code artifacts).", no_args_is_help=True)


@code_app.command("push")
def push(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The source tree to upload (.git is left out).")],
) -> None:
    """Pack DIRECTORY deterministically, upload it, and print its code:// reference."""
    upload = upload_tree(ctx, directory, "DIRECTORY")
    typer.echo(upload.uri)
    typer.echo(launch_hint(upload.uri, upload.summary), err=True)


def launch_hint(uri: str, summary: str) -> str:
    """What to type next: a ``launch`` onto the queue every server has, the command left to fill."""
    return f'{summary}; run it with: launchq launch -q default -u {uri} -E "<command, e.g. python train.py>"'


@dataclass(frozen=True)
class Upload:
    """An uploaded tree: its reference, the archive's size and the line that reports the upload."""

    uri: str
    size: int
    summary: str


def upload_tree(ctx: typer.Context, directory: Path, option: str) -> Upload:
    """Pack ``directory`` (without .git) and upload it, showing progress on stderr (see the
    module's docstring); ``option`` names the flag in an error. Prints nothing when done: the
    caller says it, in one line with whatever comes next."""
    if not directory.is_dir():
        raise CliError(f"{option}: {directory} is not a directory")
    from launchq.build.tarball import pack_context

    started = time.monotonic()
    with working(f"packing {directory.resolve().name}"), tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "code.tar.gz"
        pack_context(directory, archive, skip=frozenset({".git"}))
        data = archive.read_bytes()
    packed = f"packed in {time.monotonic() - started:.1f} s, "
    label = f"uploading {directory.resolve().name}"
    with client_from(ctx) as client, transfer_progress(label, len(data)) as (progressed, record):
        uri = client.upload_code(data, progressed)
    return Upload(uri, len(data), packed + record.summary())


def upload_directory(ctx: typer.Context, directory: Path, option: str) -> tuple[str, int]:
    """``upload_tree`` for ``job create --code``: prints its one line, returns the reference
    and the archive's size."""
    upload = upload_tree(ctx, directory, option)
    typer.echo(upload.summary, err=True)
    return upload.uri, upload.size
