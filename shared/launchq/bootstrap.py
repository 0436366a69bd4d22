"""The composition root: builds the services from validated settings, once per process."""

from __future__ import annotations

from dataclasses import dataclass

from launchq.service.code import CodeService
from launchq.service.context import Context
from launchq.service.dispatcher import Dispatcher
from launchq.service.queues import QueueService
from launchq.service.reconciler import Reconciler
from launchq.service.runs import RunService
from launchq.service.schedules import ScheduleService


@dataclass
class Services:
    """Everything an entry point (HTTP app, dispatcher loop, Lambda handler) calls into."""

    ctx: Context
    queues: QueueService
    runs: RunService
    schedules: ScheduleService
    dispatcher: Dispatcher
    reconciler: Reconciler
    code: CodeService


def build_services(ctx: Context, runs: RunService | None = None) -> Services:
    """``runs`` lets a deployment put its own enqueue guard in front (see launchq.aws)."""
    runs = runs or RunService(ctx)
    schedules = ScheduleService(ctx, runs)
    dispatcher = Dispatcher(ctx)
    return Services(
        ctx=ctx,
        queues=QueueService(ctx),
        runs=runs,
        schedules=schedules,
        dispatcher=dispatcher,
        reconciler=Reconciler(ctx, schedules, dispatcher),
        code=CodeService(ctx),
    )
