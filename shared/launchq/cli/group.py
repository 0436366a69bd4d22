"""The top-level ``launchq`` group: every error below it as one line, command groups loaded lazily.

Every failure ends as one ``Error: ...`` line on stderr and a non-zero exit status (2 for the
user's mistakes, 1 for server or connection problems), never a traceback; set
``LAUNCHQ_DEBUG=1`` to let an unexpected exception through with its traceback.

The command groups (``GROUPS``) are loaded when one is invoked: ``launchq runs list`` imports
and builds the ``runs`` group only, ``launchq --help`` none of them. A start is mostly
imports, and each group is a module, its helpers and typer's reading of every signature.
Within the console script, commands too (``serve``, ``agent``, ``launch``, and each group's)
are built by typer only when invoked (``DeferredGroup``); until then a name and a help line
stand in, which is all a listing shows.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from types import ModuleType
from typing import Any, ClassVar, NoReturn

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo

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


class DeferredGroup(TyperGroup):
    """A group whose typer commands are built only when one is invoked: typer reads every
    command's signature and type hints to make its options, most of a start's own work after
    the imports. Until then a command stands in with its name and help, what listing needs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: dict[str, CommandInfo] = {}

    def _build(self, name: str) -> None:
        if name in self.deferred and name not in self.commands:
            self.add_command(
                typer.main.get_command_from_info(
                    self.deferred[name], pretty_exceptions_short=True, rich_markup_mode=self.rich_markup_mode
                )
            )

    def _names(self) -> list[str]:
        return list(dict.fromkeys([*self.deferred, *self.commands]))

    def list_commands(self, ctx: Any) -> list[str]:
        return self._names()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.deferred and cmd_name not in self.commands:
            info = self.deferred[cmd_name]
            return TyperCommand(name=cmd_name, help=info.help or inspect.getdoc(info.callback))
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Build the command invoked; for a name that is no command, all of them, so that
        typer's "Did you mean ...?" weighs all the names."""
        name = args[0] if args else ""
        if name not in self.commands:
            for each in [name] if name in self._names() else self._names():
                self._build(each)
        return super().resolve_command(ctx, args)


@contextmanager
def deferring(typer_app: typer.Typer) -> Iterator[dict[str, CommandInfo]]:
    """The commands of ``typer_app`` by name, kept from it while typer builds its group (for a
    ``DeferredGroup`` to build them when invoked); given back after."""
    kept = typer_app.registered_commands
    typer_app.registered_commands = []
    try:
        yield {
            info.name or typer.main.get_command_name(getattr(info.callback, "__name__", "")): info
            for info in kept
        }
    finally:
        typer_app.registered_commands = kept


class LaunchqGroup(DeferredGroup):
    """The top-level group: turns every error raised below it into one line and an exit status,
    and loads a command group (``GROUPS``) only when it is invoked.

    ``main()`` (the console script) sets ``lazy`` and builds only the command invoked; a group
    built otherwise (``CliRunner``, ``typer.main.get_command(app)``) loads every group at once,
    so whatever walks the whole tree of commands sees all of it.
    """

    lazy = False
    deferred_top: ClassVar[dict[str, CommandInfo]] = {}
    """The top-level commands ``main()`` kept from typer, for the group typer makes to build."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred = dict(LaunchqGroup.deferred_top)
        if not LaunchqGroup.lazy:
            for name in GROUPS:
                self._build(name)

    def _build(self, name: str) -> None:
        """The command or group ``name``, imported and built by typer on first use."""
        if name not in GROUPS or name in self.commands:
            super()._build(name)
            return
        module, attribute, _ = GROUPS[name]
        group_app = getattr(load_module(module), attribute)
        info = TyperInfo(group_app, name=name)
        build = partial(  # as app.add_typer would: this group's settings all the way down
            typer.main.get_group_from_info,
            pretty_exceptions_short=True,  # typer's default (its pretty exceptions are off)
            suggest_commands=self.suggest_commands,
            rich_markup_mode=self.rich_markup_mode,
        )
        if not LaunchqGroup.lazy:
            self.add_command(build(info))
            return
        info.cls = DeferredGroup
        with deferring(group_app) as commands:
            group = build(info)
        group.deferred = commands  # type: ignore[attr-defined]
        self.add_command(group)

    def _names(self) -> list[str]:
        """The commands, then the groups (loaded or not), in the order they were declared."""
        return [*(name for name in super()._names() if name not in GROUPS), *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A group not loaded yet stands in with its name and help (what listing it needs)."""
        if cmd_name in GROUPS and cmd_name not in self.commands:
            return TyperGroup(name=cmd_name, help=GROUPS[cmd_name][2])
        return super().get_command(ctx, cmd_name)

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
