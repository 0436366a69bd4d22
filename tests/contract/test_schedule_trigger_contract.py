"""The ScheduleTrigger contract: one suite, run against every schedule trigger.

- ``eventbridge``: EventBridge Scheduler on a real moto server over HTTP (moto keeps the
  schedules but never fires them; firing is ``ScheduleService.fire``'s, tested elsewhere).
- ``reconciler-only``: local mode's trigger, which keeps nothing outside launchq (the
  reconciler fires every tick), so it arms nothing and cannot be unreachable.
- ``fake``: the package's ``FakeScheduleTrigger``.

What a trigger holds is read back from its backend (``armed``): EventBridge's schedules
with their expressions, the fake's ``armed``; the reconciler-only trigger holds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.config import Config

from launchq.adapters.schedulers.cron import to_eventbridge
from launchq.adapters.schedulers.eventbridge import EventBridgeSchedulerTrigger
from launchq.adapters.schedulers.fake import FakeScheduleTrigger
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import ScheduleTrigger
from tests.integration.test_eventbridge_scheduler import GROUP, ROLE, TARGET, schedule
from tests.servers import free_port

BOTH_DAYS = "0 9 1 * MON"  # restricts day-of-month and day-of-week: EventBridge cannot say it


@dataclass
class TriggerUnderTest:
    trigger: ScheduleTrigger
    armed: Callable[[], dict[str, str]]  # the backend's triggers: name -> what it fires on
    expression: Callable[[str], str] = field(default=lambda cron: cron)  # a cron as the backend keeps it
    keeps_triggers: bool = True
    refuses: str | None = None  # a cron this backend cannot express
    unreachable: Callable[[], ScheduleTrigger] | None = None  # the trigger, its backend gone

    def expected(self, **crons: str) -> dict[str, str]:
        """What ``armed`` must show for these schedules (nothing when it keeps no triggers)."""
        return {name: self.expression(cron) for name, cron in crons.items()} if self.keeps_triggers else {}


def _eventbridge() -> TriggerUnderTest:
    client = boto3.client("scheduler")  # AWS_ENDPOINT_URL points it at moto
    client.create_schedule_group(Name=GROUP)

    def armed() -> dict[str, str]:
        names = [s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"]]
        return {n: client.get_schedule(Name=n, GroupName=GROUP)["ScheduleExpression"] for n in names}

    def unreachable() -> ScheduleTrigger:
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
        dead = boto3.client("scheduler", endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)
        return EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, dead)

    return TriggerUnderTest(
        EventBridgeSchedulerTrigger(GROUP, TARGET, ROLE, client),
        armed,
        expression=to_eventbridge,
        refuses=BOTH_DAYS,
        unreachable=unreachable,
    )


def _fake() -> TriggerUnderTest:
    trigger = FakeScheduleTrigger()

    def unreachable() -> ScheduleTrigger:
        gone = FakeScheduleTrigger()
        gone.refuse = BackendUnavailable("scheduler unreachable", field="schedule")
        return gone

    return TriggerUnderTest(
        trigger, lambda: {name: s.cron for name, s in trigger.armed.items()}, unreachable=unreachable
    )


@pytest.fixture(params=["eventbridge", "reconciler-only", "fake"])
def under_test(request: pytest.FixtureRequest) -> TriggerUnderTest:
    if request.param == "eventbridge":
        request.getfixturevalue("aws_env")  # moto, reset for this test
        return _eventbridge()
    if request.param == "fake":
        return _fake()
    return TriggerUnderTest(ReconcilerOnlyTrigger(), lambda: {}, keeps_triggers=False)


def test_upsert_arms_the_schedule_and_an_upsert_of_its_name_replaces_it(under_test: TriggerUnderTest) -> None:
    # WHEN a schedule is upserted  THEN its trigger fires on its cron
    under_test.trigger.upsert(schedule("0 * * * *"))
    assert under_test.armed() == under_test.expected(nightly="0 * * * *")
    # WHEN the same name is upserted with another cron  THEN the one trigger fires on the new cron
    under_test.trigger.upsert(schedule("0 9 1 * *"))
    assert under_test.armed() == under_test.expected(nightly="0 9 1 * *")


def test_delete_disarms_only_that_schedule_and_a_missing_one_is_fine(under_test: TriggerUnderTest) -> None:
    under_test.trigger.upsert(schedule("0 * * * *"))
    under_test.trigger.upsert(schedule("30 2 * * 1-5", name="other"))
    # WHEN one is deleted twice, and a name never upserted is deleted
    under_test.trigger.delete("nightly")
    under_test.trigger.delete("nightly")
    under_test.trigger.delete("never-upserted")
    # THEN only the other is left
    assert under_test.armed() == under_test.expected(other="30 2 * * 1-5")


def test_a_cron_the_backend_cannot_express_is_refused_as_the_crons_fault(
    under_test: TriggerUnderTest,
) -> None:
    if under_test.refuses is None:
        # A backend that fires any cron launchq accepts takes this one as it takes others.
        under_test.trigger.upsert(schedule(BOTH_DAYS))
        assert under_test.armed() == under_test.expected(nightly=BOTH_DAYS)
        return
    with pytest.raises(InvalidInput) as refused:
        under_test.trigger.upsert(schedule(under_test.refuses))
    assert refused.value.field == "cron"
    assert refused.value.detail
    assert under_test.armed() == {}  # nothing armed half-way


def test_an_unreachable_backend_is_backend_unavailable(under_test: TriggerUnderTest) -> None:
    if under_test.unreachable is None:
        # A trigger that keeps nothing outside launchq has no backend to lose.
        under_test.trigger.upsert(schedule("0 * * * *"))
        under_test.trigger.delete("nightly")
        return
    gone = under_test.unreachable()
    with pytest.raises(BackendUnavailable):
        gone.upsert(schedule("0 * * * *"))
    with pytest.raises(BackendUnavailable):
        gone.delete("nightly")
