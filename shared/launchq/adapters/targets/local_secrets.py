"""The secrets a local-process job gets: read on the server when the job starts.

A local-process queue's ``secrets`` (``config.secrets``) may name a variable of the
server's environment (``env:HF_TOKEN``) or a file the server can read
(``file:/run/secrets/hf``). The value is read at submit, given to the job under the name
the config chose, and remembered for redaction (``launchq.redaction``), so a job that
prints it leaves ``***`` in its log as served, its events and its run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from launchq.config.secrets import EnvSecret, FileSecret, SecretRef, parse_secrets, read_value
from launchq.errors import LaunchFailed
from launchq.redaction import remember

#: What a local-process job can be handed without the value being stored anywhere.
LOCAL_SOURCES = ("env", "file")
FIELD = "resource_args.local-process.secrets"


def check_secrets(secrets: Mapping[str, Any]) -> dict[str, SecretRef]:
    """The config's ``secrets``, parsed. Raises InvalidInput naming ``secrets.<VARIABLE>``."""
    return parse_secrets(secrets, FIELD, LOCAL_SOURCES)


def secret_env(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Variable -> value for the job, read now. Raises LaunchFailed naming what is missing
    (the run dead-letters with that reason; the value itself is never in it)."""
    values: dict[str, str] = {}
    for variable, ref in check_secrets(secrets).items():
        if not isinstance(ref, EnvSecret | FileSecret):  # LOCAL_SOURCES admits no other
            continue
        try:
            values[variable] = read_value(ref, environ)
        except LookupError as exc:
            raise LaunchFailed(f"secret {variable}: {exc}") from None
    remember(values.values())
    return values
