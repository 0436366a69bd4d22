"""Preemption and unschedulable jobs on the kubernetes target, end to end through the service.

The dispatcher and reconciler drive the real ``KubernetesTarget`` (the official client, over
HTTP) against the API stand-in (``tests/kube_stand_in.py``): the test evicts a pod or leaves
it unschedulable as a cluster would, and the run's states, events and the objects in the
cluster are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_spec import ATTEMPT_LABEL, RUN_ID_LABEL
from launchq.bootstrap import Services
from launchq.domain.models import Run, RunSpec
from launchq.domain.states import RunState
from launchq.service.context import ServiceSettings
from launchq.service.queues import QueueCreate
from tests.kube_stand_in import KubeStandIn, client_factory
from tests.unit.fakes import Clock
from tests.unit.fakes import services as fake_services

IMAGE = "registry.example/team/train:5d41402abc4b2a76b9719d91"
SPEC = RunSpec(docker_image=IMAGE, entry_point=["python", "train.py"])
EVICTION = [
    {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
    }
]


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn() as api:
        yield api


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(kube: KubeStandIn, clock: Clock) -> Services:
    services = fake_services(KubernetesTarget(client_factory(kube.url)), clock)
    services.ctx.settings = ServiceSettings(start_timeout_seconds=120, max_preemptions=3)
    services.queues.create(QueueCreate(name="gpu", resource="kubernetes", max_jobs=1))
    return services


def set_pods(kube: KubeStandIn, run: Run, attempt: str, phase: str, **status: Any) -> None:
    for pod in kube.pods(run.id):
        if pod["metadata"]["labels"][ATTEMPT_LABEL] == attempt:
            kube.set_pod(pod["metadata"]["name"], pod["metadata"]["namespace"], phase=phase, **status)


def test_an_evicted_run_is_requeued_in_place_and_finishes_as_attempt_one(
    kube: KubeStandIn, svc: Services
) -> None:
    # GIVEN a run running on the one-slot queue, and a later run of the same priority waiting
    run, _ = svc.runs.enqueue("gpu", SPEC)
    (started,) = svc.dispatcher.dispatch("gpu")
    assert started.handle["name"] == f"launchq-{run.id}"
    kube.advance(run.id)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.RUNNING
    later, _ = svc.runs.enqueue("gpu", SPEC)

    # WHEN the cluster evicts its pod
    set_pods(kube, run, "0", "Failed", conditions=EVICTION)
    svc.reconciler.tick()

    # THEN the run waits again at its place in line, ahead of the later run, its slot free
    requeued = svc.runs.get(run.id)
    assert (requeued.state, requeued.preemptions, requeued.seq) == (RunState.QUEUED, 1, run.seq)
    assert (svc.ctx.store.position(requeued), svc.ctx.store.position(svc.runs.get(later.id))) == (1, 2)
    reasons = [(e.to_state, e.reason) for e in svc.runs.events(run.id)][-2:]
    assert reasons == [
        (RunState.PREEMPTED, "preempted (1 of 3): preempted: EvictionByEvictionAPI: Eviction API: evicting"),
        (RunState.QUEUED, "back in line at its place after preemption"),
    ]

    # WHEN the dispatcher runs  THEN the same run is resubmitted under its attempt-1 name
    (again,) = svc.dispatcher.dispatch("gpu")
    assert again.id == run.id
    assert (again.handle["name"], again.handle["attempt"]) == (f"launchq-{run.id}-a1", "1")
    jobs = {job["metadata"]["name"]: job for job in kube.kinds("jobs")}
    assert set(jobs) == {f"launchq-{run.id}", f"launchq-{run.id}-a1"}  # the taken one is left to its TTL
    assert jobs[f"launchq-{run.id}-a1"]["metadata"]["labels"][ATTEMPT_LABEL] == "1"
    pods = {pod["metadata"]["labels"][ATTEMPT_LABEL]: pod for pod in kube.pods(run.id)}
    assert (pods["0"]["status"]["phase"], pods["1"]["status"]["phase"]) == ("Failed", "Pending")
    assert pods["1"]["metadata"]["labels"][RUN_ID_LABEL] == run.id
    # the evicted attempt's pod is not the new attempt's: the run is starting, not preempted again
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.STARTING

    # AND a restarted dispatcher (a fresh target) finds the current attempt by its handle and labels
    fresh = KubernetesTarget(client_factory(kube.url))
    assert fresh.status(again).state == "starting"
    assert fresh.submit(again) == again.handle  # a retried submit adopts attempt 1's job
    assert len(kube.kinds("jobs")) == 2

    # AND the new attempt runs to its end
    kube.advance(run.id)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.RUNNING
    kube.advance(run.id)
    svc.reconciler.tick()
    done = svc.runs.get(run.id)
    assert (done.state, done.preemptions) == (RunState.FINISHED, 1)
    assert [r.id for r in svc.dispatcher.dispatch("gpu")] == [later.id]


def test_a_third_eviction_fails_the_run(kube: KubeStandIn, svc: Services) -> None:
    run, _ = svc.runs.enqueue("gpu", SPEC)
    for attempt in range(3):
        (started,) = svc.dispatcher.dispatch("gpu")
        assert started.handle["attempt"] == str(attempt)
        set_pods(kube, run, str(attempt), "Failed", conditions=EVICTION)
        svc.reconciler.tick()
    failed = svc.runs.get(run.id)
    assert failed.state == RunState.FAILED
    assert failed.reason.startswith("preempted 3 times (the limit): preempted: EvictionByEvictionAPI")
    names = sorted(job["metadata"]["name"] for job in kube.kinds("jobs"))
    assert names == [f"launchq-{run.id}", f"launchq-{run.id}-a1", f"launchq-{run.id}-a2"]


def test_an_unschedulable_job_past_the_start_timeout_fails_with_the_schedulers_message(
    kube: KubeStandIn, svc: Services, clock: Clock
) -> None:
    run, _ = svc.runs.enqueue("gpu", SPEC)
    svc.dispatcher.dispatch("gpu")
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    unschedulable = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    ]
    set_pods(kube, run, "0", "Pending", conditions=unschedulable)
    clock.advance(100)
    svc.reconciler.tick()
    assert svc.runs.get(run.id).state == RunState.STARTING
    clock.advance(21)
    svc.reconciler.tick()
    failed = svc.runs.get(run.id)
    assert failed.state == RunState.FAILED
    assert failed.reason == f"did not start within 120s: Unschedulable: {message}"
    assert kube.kinds("jobs") == []  # stopped: the pending pod no longer holds a place in the scheduler
    assert [e for e in kube.kinds("events") if e["reason"] == "LaunchqStopped"]
