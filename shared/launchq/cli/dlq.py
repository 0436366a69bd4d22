"""``launchq dlq drain``: move dead-lettered doorbell messages back onto the live doorbell.

The cloud's own tools could move the messages blindly (SQS's redrive, a Pub/Sub seek);
this command reads each one first, re-rings the queue it names and deletes it only after
that ring succeeded, and leaves what is not a doorbell message where it is, reported
(``launchq.adapters.doorbells.dlq``). It talks to SQS or Pub/Sub directly with the
machine's credentials (the same the stack was deployed with), not to the launchq API.

stdout gets one line per queue re-rung (``gpu: 3 messages``); stderr one line per message
left. Exit 0 when the DLQ was emptied, 1 when anything was left (malformed or failed).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from launchq.cli.errors import SERVER_ERROR, CliError

if TYPE_CHECKING:
    from launchq.adapters.doorbells.dlq import DeadLetters
    from launchq.ports import Doorbell

dlq_app = typer.Typer(help="Drain dead-lettered doorbell messages back (SQS, Pub/Sub).", no_args_is_help=True)

_SQS = ("https://", "http://")


def _sqs(source: str, target: str | None) -> tuple[DeadLetters, Doorbell]:
    from launchq.adapters.doorbells.sqs import SqsDoorbell
    from launchq.adapters.doorbells.sqs_dlq import SqsDeadLetters

    to = target or os.environ.get("LAUNCHQ_DOORBELL_QUEUE_URL")
    if not to or not to.startswith(_SQS):
        raise CliError("--to: give the live doorbell's SQS queue URL (or set LAUNCHQ_DOORBELL_QUEUE_URL)")
    return SqsDeadLetters(source), SqsDoorbell(to)


def _pubsub(source: str, target: str | None) -> tuple[DeadLetters, Doorbell]:
    from launchq.adapters.doorbells.pubsub import PubSubDoorbell, check_topic
    from launchq.adapters.doorbells.pubsub_dlq import PubSubDeadLetters, check_subscription

    to = target or os.environ.get("LAUNCHQ_DOORBELL_TOPIC")
    if not to:
        raise CliError("--to: give the live doorbell's Pub/Sub topic (or set LAUNCHQ_DOORBELL_TOPIC)")
    for flag, check, value in (("--from", check_subscription, source), ("--to", check_topic, to)):
        try:
            check(value)
        except ValueError as exc:
            raise CliError(f"{flag}: {exc}") from None
    return PubSubDeadLetters(source), PubSubDoorbell(to)


def endpoints(source: str, target: str | None) -> tuple[DeadLetters, Doorbell]:
    """The DLQ ``source`` names and the live doorbell to ring. Raises CliError."""
    if source.startswith(_SQS):
        return _sqs(source, target)
    if source.startswith("projects/"):
        return _pubsub(source, target)
    if source.startswith("sb://"):
        from launchq.adapters.doorbells.servicebus_dlq import cli_endpoints

        return cli_endpoints(source, target)
    raise CliError(
        f"--from: {source!r} is neither an SQS queue URL nor a Pub/Sub subscription path "
        "(nor a Service Bus queue: sb://<namespace>/<queue>)"
    )


@dlq_app.command("drain")
def drain(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="The DLQ: an SQS queue URL, or a Pub/Sub subscription on the dead-letter topic "
            "(projects/P/subscriptions/S), or a Service Bus queue (sb://NAMESPACE/QUEUE; its dead letters).",
            envvar="LAUNCHQ_DOORBELL_DLQ",
        ),
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The live doorbell: its SQS queue URL or Pub/Sub topic (projects/P/topics/T).",
            show_default="$LAUNCHQ_DOORBELL_QUEUE_URL for SQS, $LAUNCHQ_DOORBELL_TOPIC for Pub/Sub",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Move at most this many.")] = None,
) -> None:
    """Re-ring the queue each dead doorbell message names, then delete it; leave malformed ones."""
    dead, doorbell = endpoints(source, target)
    report = dead.drain(doorbell, limit)
    for queue, count in sorted(Counter(report.rung).items()):
        typer.echo(f"{queue}: {count} message{'s' if count != 1 else ''}")
    for message_id, why in report.malformed:
        typer.echo(f"left {message_id}: {why}", err=True)
    for message_id, why in report.failed:
        typer.echo(f"left {message_id}: {why}", err=True)
    typer.echo(
        f"moved {len(report.rung)} back; left {len(report.malformed)} malformed, {len(report.failed)} failed",
        err=True,
    )
    if report.malformed or report.failed:
        raise typer.Exit(SERVER_ERROR)
