"""The dispatcher: claims runs in priority order while a queue has free slots, and launches them.

It is woken by the doorbell (enqueue, slot freed, schedule) or by a timer; it holds no
state of its own, so any number of dispatchers may run against one store: claims are
atomic there, and every later step is a conditional write.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from launchq.config.resolve import MacroValues, substitute_macros
from launchq.domain.models import Queue, Run, RunUpdate
from launchq.domain.states import RunState
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed, NotFound, StaleWrite
from launchq.ports import Target
from launchq.service.builds import BuildService, needs_build
from launchq.service.context import Context
from launchq.service.leases import lease_held
from launchq.service.retries import Retries
from launchq.service.transitions import Transitions

log = logging.getLogger(__name__)


def macro_values(run: Run, image_uri: str) -> MacroValues:
    return MacroValues(
        image_uri=image_uri,
        run_id=run.id,
        run_name=run.spec.name or run.id,
        project_name=run.spec.project or "uncategorized",
        entity_name=run.entity,
        queue_name=run.queue,
        author=run.spec.author or "",
    )


def claimer_name() -> str:
    """``dispatcher on <host> pid <pid>``: the claim events of this process's dispatcher say
    where a run went (a Lambda's host is its sandbox's; an agent's claims carry its id)."""
    return f"dispatcher on {socket.gethostname() or 'localhost'} pid {os.getpid()}"


def serves(ctx: Context, queue: Queue) -> bool:
    """Whether this process's dispatcher and reconciler take care of ``queue``'s runs.

    A control plane (``Context.control_plane``) leaves the runs of ``dispatch: agents``
    queues to the agents that pull them over HTTP: it may have no target for their
    resource, and their jobs run on machines it cannot reach. It still expires their
    claims (a dead agent's runs go back in line) and fires their schedules.
    """
    return not (ctx.control_plane and queue.dispatch == "agents")


class Dispatcher:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.builds = BuildService(ctx)
        self.moves = Transitions(ctx)
        self.retries = Retries(ctx, self.moves)
        self.claimer = claimer_name()

    def dispatch(self, queue: str, limit: int | None = None) -> list[Run]:
        """Claim and launch runs of ``queue`` until it has no free slot, no queued run, or
        ``limit`` launches were made. Returns the runs it handled (in their new states)."""
        handled: list[Run] = []
        if self._left_to_agents(queue):
            return handled
        target: Target | None = None  # the queue's, looked up once per pass
        while limit is None or len(handled) < limit:
            now = self.ctx.clock()
            try:
                lease_until = now + timedelta(seconds=self.ctx.settings.lease_seconds)
                run = self.ctx.store.claim(queue, now, lease_until, claimer=self.claimer)
            except NotFound:
                return handled
            if run is None:
                break
            target = target or self._target(run)
            handled.append(self.launch(run, target))
        return handled

    def launch(self, run: Run, target: Target | None = None) -> Run:
        """Take a claimed run to ``starting`` (through ``building`` when it needs an image),
        or to ``dead_letter`` with the reason; a transient failure (``service.retries``) leaves
        it waiting out a back-off. ``target``: the run's queue's, when known."""
        target = target or self._target(run)
        try:
            image = run.spec.docker_image or ""
            if needs_build(target, run.spec):
                run, built = self.builds.begin(run)
                if built is None:
                    return run  # an asynchronous build runs; resume() continues
                image = built
            return self._submit(run, target, image)
        except (LaunchFailed, InvalidInput) as exc:
            return self._dead_letter(run, str(exc))
        except BackendUnavailable as exc:
            return self.retries.after_failure(run, exc)

    def resume(self, run: Run) -> Run:
        """Continue a run whose asynchronous build was started (reconciler or build event);
        one waiting out a retry's back-off is left until it has passed."""
        if self.retries.backing_off(run):
            return run
        target = self._target(run)
        try:
            run, built = self.builds.poll(run)
            return run if built is None else self._submit(run, target, built)
        except (LaunchFailed, InvalidInput) as exc:
            return self._dead_letter(run, str(exc))
        except BackendUnavailable as exc:
            return self.retries.after_failure(run, exc)

    def _left_to_agents(self, queue: str) -> bool:
        """A control plane never claims from an agents queue (nor from one that is gone)."""
        if not self.ctx.control_plane:
            return False  # an agent claims only from queues it was given
        try:
            return not serves(self.ctx, self.ctx.store.get_queue(queue))
        except NotFound:
            return True

    def _target(self, run: Run) -> Target:
        return self.ctx.targets.get(self.ctx.store.get_queue(run.queue).resource)

    def _submit(self, run: Run, target: Target, image: str) -> Run:
        spec = (
            run.spec
            if run.spec.docker_image or not image
            else run.spec.model_copy(update={"docker_image": image})
        )
        resolved = substitute_macros(run.resolved, macro_values(run, image))
        launched = run.model_copy(update={"spec": spec, "resolved": resolved})
        with lease_held(self.ctx, run):  # a submit (an upload, a slow API) may outlast one lease
            submitted = target.submit(launched)
        handle = {**run.handle, **submitted}
        launched = launched.model_copy(update={"handle": handle})
        now = self.ctx.clock()
        try:
            return self.moves.move(
                run,
                RunState.STARTING,
                f"submitted to {target.resource}"
                + (f" with image {image}" if image else "")
                + (f"; {handle['note']}" if handle.get("note") else ""),  # e.g. a user's env replaced ours
                RunUpdate(
                    handle=handle, build_id=run.build_id, resolved=resolved, started_at=now, clear_lease=True
                ),
            )
        except StaleWrite:
            current = self.ctx.store.get_run(run.id)
            if all(current.handle.get(key) == value for key, value in handle.items()):
                return current  # a racing dispatcher submitted (and recorded) this very job
            # Stopped (or its claim expired) while we were launching: the job must not live on.
            log.warning("run %s changed state during launch; stopping the job just started", run.id)
            target.stop(launched)
            return current

    def _dead_letter(self, run: Run, reason: str) -> Run:
        """Dead-letter the run from the launch state it is in now (claimed or building);
        a run stopped meanwhile is left to the stop. The freed slot rings the doorbell."""
        log.warning("run %s could not be launched: %s", run.id, reason)
        current = self.ctx.store.get_run(run.id)
        if current.state not in (RunState.CLAIMED, RunState.BUILDING):
            return current
        update = RunUpdate(finished_at=self.ctx.clock(), clear_lease=True)
        return self.moves.settle(current, RunState.DEAD_LETTER, reason, update)
