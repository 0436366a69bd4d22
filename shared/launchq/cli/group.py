"""The top-level ``launchq`` group: every error below it as one line, command groups loaded lazily.

Every failure ends as one ``Error: ...`` line on stderr and a non-zero exit status (2 for the
user's mistakes, 1 for server or connection problems), never a traceback; set
``LAUNCHQ_DEBUG=1`` to let an unexpected exception through with its traceback.

The command groups (``GROUPS``) are loaded when one is invoked: ``launchq runs list`` imports
and builds the ``runs`` group only, ``launchq --help`` none of them. A start is mostly
imports, and each group is a module, its helpers and typer's reading of every signature.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, NoReturn

import typer
import typer.main
from typer.core import TyperGroup
from typer.models import TyperInfo

from launchq.cli.errors import SERVER_ERROR, USER_ERROR, CliError, Unreachable
from launchq.errors import AlreadyExists, Conflict, InvalidInput, LaunchqError, NotFound

_USER_MISTAKES = (InvalidInput, NotFound, AlreadyExists, Conflict)


def fail(message: str, exit_code: int) -> NoReturn:
    """Print ``Error: message`` as a single line on stderr and end with ``exit_code``."""
    typer.echo(f"Error: {' '.join(message.split())}", err=True)
    raise typer.Exit(exit_code)


GROUPS: dict[str, tuple[str, str, str]] = {
    "queue": ("launchq.cli.queues", "queue_app", "Create, list, show and delete queues."),
    "runs": ("launchq.cli.runs", "runs_app", "List, inspect, follow and stop runs."),
    "schedule": ("launchq.cli.schedules", "schedule_app", "Enqueue runs on a cron schedule."),
    "code": ("launchq.cli.code", "code_app", "Upload code to build images from (W&B's code artifacts)."),
    "job": ("launchq.cli.jobs", "job_app", "Create, list and describe launch jobs (W&B's `wandb job`)."),
    "dlq": ("launchq.cli.dlq", "dlq_app", "Drain dead-lettered doorbell messages back (SQS, Pub/Sub)."),
    "keys": ("launchq.cli.keys", "keys_app", "Create, list and revoke API keys (admin keys only)."),
}
"""The command groups: name -> (module, its ``typer.Typer``, the help ``launchq --help`` lists
for it without importing it; the same as the Typer's own, which a unit test checks)."""


class LaunchqGroup(TyperGroup):
    """The top-level group: turns every error raised below it into one line and an exit status,
    and loads a command group (``GROUPS``) only when it is invoked.

    ``main()`` (the console script) sets ``lazy``; a group built otherwise (``CliRunner``,
    ``typer.main.get_command(app)``) loads every group at once, so whatever walks the whole
    tree of commands sees all of it.
    """

    lazy = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not LaunchqGroup.lazy:
            for name in GROUPS:
                self._load(name)

    def _load(self, name: str) -> Any:
        """The group ``name``, imported and built by typer on first use."""
        if name not in self.commands:
            module, attribute, _ = GROUPS[name]
            info = TyperInfo(getattr(load_module(module), attribute), name=name)
            self.add_command(  # as app.add_typer would: this group's settings all the way down
                typer.main.get_group_from_info(
                    info,
                    pretty_exceptions_short=True,  # typer's default (its pretty exceptions are off)
                    suggest_commands=self.suggest_commands,
                    rich_markup_mode=self.rich_markup_mode,
                )
            )
        return self.commands[name]

    def list_commands(self, ctx: Any) -> list[str]:
        """The commands, then the groups (loaded or not), in the order they were declared."""
        return [*(name for name in self.commands if name not in GROUPS), *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A group not loaded yet stands in with its name and help (what listing it needs)."""
        if cmd_name in GROUPS and cmd_name not in self.commands:
            return TyperGroup(name=cmd_name, help=GROUPS[cmd_name][2])
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Load the group invoked; for a name that is no command, every group, so that typer's
        "Did you mean ...?" weighs all the names."""
        name = args[0] if args else ""
        if name not in self.commands:
            for each in [name] if name in GROUPS else list(GROUPS):
                self._load(each)
        return super().resolve_command(ctx, args)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        """Parse the top-level options (``--url``, ``--auth``, ...); a bad one is one line too."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise
            fail(f"{exc.format_message()} (see 'launchq --help')", exc.exit_code)

    def invoke(self, ctx: Any) -> Any:  # Any: typer types it with its private vendored click
        """Run the chosen command; errors become ``Error: ...`` on stderr."""
        try:
            return super().invoke(ctx)
        except CliError as exc:
            fail(exc.message, exc.exit_code)
        except LaunchqError as exc:
            fail(str(exc), USER_ERROR if isinstance(exc, _USER_MISTAKES) else SERVER_ERROR)
        except typer.TyperException as exc:  # a usage error: missing option, bad value, no such command
            if type(exc).__name__ == "NoArgsIsHelpError":  # typer shows the help; matched as typer does
                raise
            where = getattr(exc, "ctx", None)
            hint = f" (see '{where.command_path} --help')" if where is not None else ""
            fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except (typer.Exit, typer.Abort, BrokenPipeError):  # --help, --version, Ctrl-C: typer's own
            raise
        except Exception as exc:
            if os.environ.get("LAUNCHQ_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (LAUNCHQ_DEBUG=1 shows the traceback)", 1)


def load_module(module: str) -> ModuleType:
    """Import a part of launchq only when its command runs, so the CLI starts fast."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unreachable(f"cannot load {module}: {exc}") from None
