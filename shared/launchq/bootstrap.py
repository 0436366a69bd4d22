"""Builds the services around a ``Context``, once per process.

Together with the deployment's wiring (``launchq.local.wiring``, ``launchq.aws.wiring``),
which picks an adapter for every port from validated settings, this is the composition
root: the only place where services meet adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

from launchq.service.agents import AgentService, RingWaiter
from launchq.service.code import CodeService
from launchq.service.context import Context
from launchq.service.dispatcher import Dispatcher
from launchq.service.jobs import JobService
from launchq.service.queues import QueueService
from launchq.service.reconciler import Reconciler
from launchq.service.runs import RunService
from launchq.service.schedules import ScheduleService
from launchq.service.state_changes import StateChangeService


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
    state_changes: StateChangeService
    agents: AgentService
    jobs: JobService


def build_services(ctx: Context, runs: RunService | None = None, rings: RingWaiter | None = None) -> Services:
    """``runs`` lets a deployment put its own enqueue guard in front (see launchq.aws).
    ``rings``: the doorbell agents' long polls listen to, where this process hears it (the
    local server's ``InProcessDoorbell``); without one, agents poll with back-off."""
    runs = runs or RunService(ctx)
    schedules = ScheduleService(ctx, runs)
    dispatcher = Dispatcher(ctx)
    reconciler = Reconciler(ctx, schedules, dispatcher)
    return Services(
        ctx=ctx,
        queues=QueueService(ctx),
        runs=runs,
        schedules=schedules,
        dispatcher=dispatcher,
        reconciler=reconciler,
        code=CodeService(ctx),
        state_changes=StateChangeService(ctx, dispatcher, reconciler),
        agents=AgentService(ctx, rings),
        jobs=runs.jobs,
    )
