"""Settings of local mode (``launchq serve`` / ``launchq agent``), read once from ``LAUNCHQ_*``.

The service's own settings (lease, start and build timeouts, entity) are ServiceSettings'
fields, inherited under their flat names (``LAUNCHQ_LEASE_SECONDS``, ...).

Where the data lives (the SQLite store, each run's workspace and log) is chosen by one rule,
the same for ``launchq serve``, ``launchq agent`` and ``make run``, first match wins:

1. ``--data-dir DIR``;
2. ``LAUNCHQ_DATA_DIR``;
3. ``.launchq/`` in the current directory, when there is one (``make run`` makes it in the
   checkout), as git finds ``.git``: a command typed where the server was started finds
   the server's data without being told;
4. ``$XDG_DATA_HOME/launchq`` (``~/.local/share/launchq``), the per-user default.

The rule looks only at the current directory, never its parents or a running server, so
what a command opens can be told from where it is typed; every error about a missing queue
names the file it looked in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from launchq.build.allowed_dirs import split_dirs
from launchq.errors import InvalidInput, NotFound
from launchq.service.context import ServiceSettings
from launchq.validation import error_message

PROJECT_DATA_DIR = ".launchq"
"""The data directory ``make run`` keeps in the checkout, found in the current directory."""
DB_NAME = "launchq.db"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/launchq``, else ``~/.local/share/launchq`` (the XDG base directory spec)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    # the spec ignores a relative XDG_DATA_HOME; so does launchq
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "launchq"


def default_data_dir() -> Path:
    """Rules 3 and 4 above: ``./.launchq`` when the current directory has one, else the user's."""
    project = Path.cwd() / PROJECT_DATA_DIR
    return project if project.is_dir() else user_data_dir()


class LocalSettings(BaseSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LAUNCHQ_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    poll_interval: float = Field(default=1.0, gt=0, description="seconds between reconciler ticks")
    grace_seconds: float = Field(default=10.0, ge=0, description="SIGTERM -> SIGKILL grace on stop")
    default_queue: str = "default"
    no_dispatch: bool = Field(default=False, description="serve: the API only; agents launch the runs")
    allow_dirs: Annotated[list[Path], NoDecode, BeforeValidator(split_dirs)] = Field(
        default_factory=list, description="serve: directories a local uri may name (build.allowed_dirs)"
    )
    # LAUNCHQ_AUTH is shared with the CLI, whose client-side values (auto, aws-iam) mean "no keys" here
    auth: Literal["none", "keys", "auto", "aws-iam"] = Field(
        default="none", description="serve: keys = every request needs Authorization: Bearer <api key>"
    )

    @property
    def auth_required(self) -> bool:
        """Whether ``launchq serve`` checks API keys (``--auth keys`` / ``LAUNCHQ_AUTH=keys``)."""
        return self.auth == "keys"

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    def require_store(self) -> None:
        """Refuse, before anything is created, to work from a store that does not exist.

        An agent only takes runs from queues that exist, so an empty new database could only
        hide that it was pointed at the wrong directory. Raises NotFound (field ``queue``).
        """
        if not self.db_path.is_file():
            raise NotFound(
                f"no launchq store at {self.db_path} (none was created): start `launchq serve` "
                "first, or name the server's data directory with --data-dir or LAUNCHQ_DATA_DIR",
                field="queue",
            )

    def missing_queue(self, name: str) -> NotFound:
        """The error for a queue this store does not have, naming the store's file."""
        return NotFound(
            f"queue {name!r} does not exist in {self.db_path} (--data-dir or LAUNCHQ_DATA_DIR "
            "names another data directory)",
            field="queue",
        )


def load_local_settings(**flags: Any) -> LocalSettings:
    """``LAUNCHQ_*`` from the environment, with the command line's ``flags`` over them.

    Raises InvalidInput naming the flag, or the variable (``LAUNCHQ_LEASE_SECONDS``), that
    holds a bad value, so ``launchq serve``/``agent`` print one line and exit 2.
    """
    try:
        return LocalSettings(**flags)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        field = name if name in flags else f"LAUNCHQ_{name.upper()}"
        raise InvalidInput(error_message(error), field=field) from None
