"""``make bench`` group "dynamodb": what one run's life costs on DynamoDB, and in dollars.

One life is the capacity test's: enqueue, its place in line, a read, the claim, then
claimed -> starting -> running -> finished, on a queue limited to two runs (``max_jobs`` 2,
where a claim must also take a slot) and on an unlimited one. Each is measured twice: as
DynamoDB Local reports it (``ReturnConsumedCapacity=TOTAL``; its transactional figures are
its own) and as AWS's published rules bill it (``dynamodb_billing``, fed the before and after
image of every item written by ``MeteringClient``). Dollars are on-demand request prices
only (no storage), at the published us-east-1 prices. Counts are deterministic, so the
median/min/max of the repetitions only show that they are.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from launchq.adapters.stores import dynamodb_billing as billing
from launchq.adapters.stores.dynamodb import DynamoRunStore, create_table
from launchq.domain.models import Queue, Run, RunSpec
from launchq.domain.states import RunState
from tests.contract.conftest import dynamodb_client
from tests.perf.dynamodb_metering import MeteringClient
from tests.perf.figures import Figure, Scale, summarise
from tests.servers import dynamodb_local

GROUP = "dynamodb"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
S = RunState

#: (local write, local read, billed write, billed read) units of one life
Life = tuple[float, float, float, float]


def a_run(queue: str) -> Run:
    return Run(
        id=uuid4().hex,
        queue=queue,
        entity="local",
        spec=RunSpec(docker_image="python:3.11", entry_point=["python", "train.py"], name="capacity"),
        created_at=T0,
        updated_at=T0,
    )


def life_steps(store: DynamoRunStore, run: Run) -> list[tuple[str, Callable[[], object]]]:
    """The steps of one run's life, in order (shared with the capacity tests)."""
    later = T0 + timedelta(seconds=1)
    return [
        ("add_run", lambda: store.add_run(run)),
        ("position", lambda: store.position(run)),
        ("get_run", lambda: store.get_run(run.id)),
        ("claim", lambda: store.claim(run.queue, T0, T0 + timedelta(minutes=5))),
        ("claimed->starting", lambda: store.transition(run.id, S.CLAIMED, S.STARTING, "submitted", later)),
        ("starting->running", lambda: store.transition(run.id, S.STARTING, S.RUNNING, "running", later)),
        ("running->finished", lambda: store.transition(run.id, S.RUNNING, S.FINISHED, "exit 0", later)),
    ]


def one_life(store: DynamoRunStore, meter: MeteringClient, queue: str) -> Life:
    """Take one new run of ``queue`` through its life; the units it cost."""
    store.consumed.reset()
    meter.billed.reset()
    run = a_run(queue)
    for _, step in life_steps(store, run):
        step()
    if store.get_run(run.id).state is not S.FINISHED:
        raise RuntimeError(f"run {run.id} did not finish its life")
    # the check above is a read of its own: take it back out of both counts
    local_read = store.consumed.read_units - 1.0
    billed_read = meter.billed.read_units - 1.0
    return store.consumed.write_units, local_read, meter.billed.write_units, billed_read


def measure(url: str, repetitions: int) -> dict[str, list[Life]]:
    """Lives on a limited and an unlimited queue of a fresh table, ``repetitions`` each."""
    meter = MeteringClient(dynamodb_client(url))
    table = f"launchq-bench-{uuid4().hex[:8]}"
    create_table(meter, table)  # type: ignore[arg-type]  # the metering client stands in for boto3's
    store = DynamoRunStore(table, meter)  # type: ignore[arg-type]
    lives: dict[str, list[Life]] = {}
    for queue, max_jobs in (("limited", 2), ("unlimited", -1)):
        store.create_queue(Queue(name=queue, resource="local-process", max_jobs=max_jobs, created_at=T0))
        lives[queue] = [one_life(store, meter, queue) for _ in range(repetitions)]
    meter.delete_table(TableName=table)
    return lives


def figures(lives: dict[str, list[Life]]) -> list[Figure]:
    note_billed = "AWS rules: 1 unit/KB written (2 in a transaction), each index entry write, 4 KB reads"
    note_usd = (
        f"on-demand requests only, {billing.PRICE_REGION}: ${billing.USD_PER_MILLION_WRITE_UNITS} per "
        f"million write units, ${billing.USD_PER_MILLION_READ_UNITS} per million read units "
        f"(aws.amazon.com/dynamodb/pricing/on-demand, looked up {billing.PRICE_DATE})"
    )
    found: list[Figure] = []
    for queue, samples in lives.items():
        where = f"{queue} queue"
        columns = (
            ("write units per run life, DynamoDB Local", 0, "WCU/run", "as reported (TOTAL)"),
            ("read units per run life, DynamoDB Local", 1, "RCU/run", "as reported (TOTAL)"),
            ("write units per run life, AWS billing", 2, "WCU/run", note_billed),
            ("read units per run life, AWS billing", 3, "RCU/run", note_billed),
        )
        for name, column, unit, note in columns:
            found.append(
                summarise(GROUP, f"{name} ({where})", unit, [life[column] for life in samples], note=note)
            )
        dollars = [billing.usd_per_million_runs(life[2], life[3]) for life in samples]
        found.append(
            summarise(GROUP, f"USD per 1M runs, AWS billing ({where})", "USD", dollars, note=note_usd)
        )
    return found


def run(scale: Scale) -> list[Figure]:
    """The bench entry point: starts its own DynamoDB Local, measures, stops it."""
    repetitions = max(1, scale.repetitions)
    with (
        tempfile.TemporaryDirectory(prefix="launchq-dynamodb-bench-") as workdir,
        dynamodb_local(Path(workdir)) as url,
    ):
        return figures(measure(url, repetitions))


if __name__ == "__main__":
    for figure in run(Scale(quick="--quick" in sys.argv)):
        print(figure.line())
