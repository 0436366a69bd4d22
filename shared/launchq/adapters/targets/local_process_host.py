"""Which machine (and data directory) a local-process job belongs to: the ``host`` handle key.

A local process can only be asked about (its exit file, its process group) on the machine
that started it, from the data directory it lives under. With agents on several machines
serving one control plane, every reconciler would otherwise poll every local-process run
and call another machine's job ``lost``. So each job's handle names its host, and a
``LocalProcessTarget`` sees only the jobs of its own host.

The id is made once per data directory and kept in it (``host_id``): a restarted server or
agent on the same data directory is the same host and re-adopts its jobs; two agents on
one machine with separate data directories are different hosts, as their run files are.
It carries the machine's name for people reading a handle, and random bits for uniqueness.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

HOST_KEY = "host"
"""The handle key holding the id of the host that started a local-process job."""

HOST_FILE = "host_id"
"""The file in the data directory that keeps the host id."""

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def new_host_id() -> str:
    """``<machine name>-<24 random hex digits>``: readable, and unique whatever the name."""
    name = _UNSAFE.sub("-", socket.gethostname()).strip("-.")[:40] or "host"
    return f"{name}-{secrets.token_hex(12)}"


def host_id(data_dir: Path) -> str:
    """The host id kept in ``data_dir``, made on first use.

    A new id is written to a file of its own and linked into place, which fails when the
    file exists: two processes starting at once on a fresh data directory agree on one id
    (the loser reads the winner's), and nobody reads a half-written file. Raises OSError
    when the directory cannot be written or read.
    """
    path = data_dir / HOST_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    draft = data_dir / f".{HOST_FILE}.{secrets.token_hex(8)}"
    draft.write_text(new_host_id() + "\n", encoding="ascii")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process was first: its id is the one
    finally:
        draft.unlink()
    return path.read_text(encoding="ascii").strip()
