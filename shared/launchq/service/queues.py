"""Creating, changing and removing queues."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from launchq.config.queue_check import config_is_to_blame, free_text_names, stand_in_values
from launchq.config.resolve import check_queue_settings, parse_config_text, render, unwrap_resource
from launchq.domain.models import BoundedJsonObject, Name, Queue, QueueDispatch, QueueSettings, RunSpec
from launchq.domain.retry_policy import RetryPolicy
from launchq.domain.template_vars import TemplateVariable
from launchq.domain.wandb_types import WandbInt
from launchq.errors import Conflict, InvalidInput
from launchq.ports import Target
from launchq.service.builds import PENDING_IMAGE, split_build_options
from launchq.service.context import Context
from launchq.service.targets import KNOWN_RESOURCES, TargetCatalog

# What the target is asked to accept alongside the config: a run that brings everything else.
_STAND_IN_RUN = RunSpec(entry_point=["launchq-config-check"], docker_image=PENDING_IMAGE)


def _config_object(value: Any) -> Any:
    """A queue config may be sent as an object or as JSON/YAML text (as in W&B's UI)."""
    if isinstance(value, str):
        return parse_config_text(value, field="config") if value.strip() else {}
    return value


class QueueCreate(QueueSettings):
    """Body of ``POST /queues``."""

    name: Name

    _parse_config = field_validator("config", mode="before")(_config_object)


class QueuePatch(BaseModel):
    """Body of ``PATCH /queues/{name}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    resource: str | None = None
    config: BoundedJsonObject | None = None
    template_variables: dict[str, TemplateVariable] | None = None
    prioritization: bool | None = None
    max_jobs: WandbInt | None = Field(default=None, ge=-1)
    allow_overrides: bool | None = None
    dispatch: QueueDispatch | None = None
    retry: RetryPolicy | None = None

    _parse_config = field_validator("config", mode="before")(_config_object)


def queue_target(targets: TargetCatalog, settings: QueueSettings) -> Target | None:
    """The target the control plane launches the queue's runs on; None for ``dispatch: agents``.

    An agents queue's runs are launched by agents on their own machines, with their own
    targets, kubeconfig, registry and files: the control plane's target (if it has one for
    the resource) is not theirs, so it is not asked about the queue's config or runs (a
    local-process run's ``uri`` names a directory on the agent's machine, not here). Its
    resource must still be one launchq knows. Raises InvalidInput (field ``resource``) for an
    unknown resource, or one this deployment has no target for on a ``server`` queue.
    """
    if settings.dispatch == "agents" and settings.resource in KNOWN_RESOURCES:
        return None
    try:
        return targets.get(settings.resource)
    except InvalidInput as exc:
        if settings.resource not in KNOWN_RESOURCES:
            raise
        raise InvalidInput(
            f"{exc.detail}; set dispatch: agents to serve it from agents", field="resource"
        ) from None


def check_config_fits_target(settings: QueueSettings, target: Target) -> None:
    """Refuse a config its target cannot take whatever runs send (``config_is_to_blame``).

    The config is rendered with stand-in template values and validated by the target as a
    run's resource args would be; an error about something the config holds is reported
    as ``config.<path>``. Raises InvalidInput.
    """
    inner = unwrap_resource(settings.config, settings.resource)
    prefix = "config" if inner is settings.config else f"config.{settings.resource}"
    rendered = render(inner, stand_in_values(settings.template_variables))
    head = f"resource_args.{settings.resource}"
    try:
        resolved, _ = split_build_options(settings.resource, rendered)
        target.validate(_STAND_IN_RUN, resolved)
    except InvalidInput as exc:
        field = exc.field or ""
        if field != head and not field.startswith(f"{head}."):
            return  # about the stand-in run, not the config
        path = field[len(head) + 1 :]
        if config_is_to_blame(inner, path, exc.detail, free_text_names(settings.template_variables)):
            raise InvalidInput(exc.detail, field=f"{prefix}.{path}" if path else prefix) from None


class QueueStopper(Protocol):
    """What a forced delete stops the queue's runs with (``RunService.stop_queue``)."""

    def stop_queue(self, queue: str, *, reason: str) -> list[str]: ...


class QueueService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(self, body: QueueCreate) -> Queue:
        target = queue_target(self.ctx.targets, body)
        check_queue_settings(body)
        if target is not None:
            check_config_fits_target(body, target)
        entity = body.entity if "entity" in body.model_fields_set else self.ctx.settings.entity
        queue = Queue(**{**body.model_dump(), "entity": entity}, created_at=self.ctx.clock())
        self.ctx.store.create_queue(queue)
        return queue

    def ensure(self, body: QueueCreate) -> Queue:
        """Create the queue unless one of that name exists (used for the local ``default``)."""
        for queue in self.ctx.store.list_queues():
            if queue.name == body.name:
                return queue
        return self.create(body)

    def get(self, name: str) -> Queue:
        return self.ctx.store.get_queue(name)

    def all(self) -> list[Queue]:
        return self.ctx.store.list_queues()

    def patch(self, name: str, patch: QueuePatch) -> Queue:
        current = self.ctx.store.get_queue(name)
        changes = patch.model_dump(exclude_unset=True)
        if changes.get("max_jobs") == 0:
            raise InvalidInput("must be -1 (unlimited) or at least 1", field="max_jobs")
        merged = QueueSettings.model_validate(
            {**current.model_dump(include=set(QueueSettings.model_fields)), **changes}
        )
        target = queue_target(self.ctx.targets, merged)
        check_queue_settings(merged)
        if target is not None:
            check_config_fits_target(merged, target)
        updated = self.ctx.store.update_queue(current.model_copy(update=merged.__dict__))
        self.ctx.doorbell.ring(name)  # a raised max_jobs may free slots
        return updated

    def delete(self, name: str, stop_first: QueueStopper | None = None) -> None:
        """Delete the queue; its runs stay readable (``GET /runs/{id}``).

        Without ``stop_first`` a queue that holds queued or active runs is refused (Conflict
        from the store, which checks and deletes in one step). With it (``?force=true``) the
        queue's runs are stopped first: queued ones are cancelled at once, active ones are
        asked to stop; the queue is deleted when nothing is left in it, else Conflict says
        how many runs are still stopping, and asking again deletes it once they have stopped.
        Raises NotFound, Conflict.
        """
        if stop_first is not None:
            stop_first.stop_queue(name, reason=f"its queue {name} is being deleted")
            left = sum(self.counts(name))
            if left:
                raise Conflict(
                    f"queue {name!r}: {left} run(s) still stopping; it is deleted once they have "
                    "stopped (delete again)",
                    field="force",
                )
        self.ctx.store.delete_queue(name)

    def counts(self, name: str) -> tuple[int, int]:
        """(active, queued) runs of the queue."""
        return self.ctx.store.count_active(name), self.ctx.store.count_queued(name)
