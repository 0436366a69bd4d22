"""Holding a claim's lease while a launch takes longer than one lease: a synchronous build,
or a target's submit (an upload, a slow cloud API, a slow store behind a test's target).

A claimed run carries a lease; a run whose lease ran out is its dispatcher's no more (it
died): the reconciler puts it back at its place in line. A synchronous build (buildah,
docker) can outlast a lease, so while it runs the dispatcher renews the lease every third of
it. If the dispatcher dies mid-build the renewals stop, the lease runs out, and the run goes
back in line (``Reconciler.poll_builds``) to be claimed and built again: same content-hash
tag, so a build that got as far as pushing is found in the registry, not redone.

The same holds for the submit: while ``Target.submit`` runs, the lease is renewed, so no
other dispatcher can claim the run and submit it a second time while the first submit is
still on its way; a dispatcher that dies mid-submit stops renewing, and the next one finds
the job by its run-derived name before it starts anything (the target's ``submit`` adopts).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from launchq.domain.models import Run
from launchq.errors import LaunchqError, NotFound, StaleWrite
from launchq.service.context import Context

log = logging.getLogger(__name__)


@contextmanager
def lease_held(ctx: Context, run: Run) -> Iterator[None]:
    """Renew ``run``'s lease (at its current version) every third of a lease while the block
    runs. A renewal refused because the run moved on (stopped, or put back in line after all)
    ends the renewals: the launch learns it when it records its result, which is conditional."""
    lease = ctx.settings.lease_seconds
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease / 3):
            try:
                ctx.store.renew_lease(run.id, run.version, ctx.clock() + timedelta(seconds=lease))
            except (StaleWrite, NotFound):
                return
            except LaunchqError as exc:  # the store is down for a moment: try again next time
                log.warning("could not renew the lease of run %s: %s", run.id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{run.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
