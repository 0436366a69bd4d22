"""Job, pod and custom-resource status as TargetStatus, on the shapes the API server returns."""

from __future__ import annotations

from typing import Any

import pytest

from launchq.adapters.targets.kubernetes_status import custom_status, ended_from_events, job_status


def pod(phase: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": {"phase": phase, **status}}


def job(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return {"spec": {"backoffLimit": 0, **(spec or {})}, "status": status}


UNSCHEDULABLE = pod(
    "Pending",
    conditions=[
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        }
    ],
)


def test_a_pending_pod_is_starting_with_the_schedulers_words() -> None:
    status = job_status(job(active=1), [UNSCHEDULABLE])
    assert status.state == "starting"
    assert status.detail == "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def test_an_image_that_cannot_be_pulled_is_starting_with_the_kubelets_words() -> None:
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}}
    status = job_status(job(active=1), [pod("Pending", containerStatuses=[{"state": waiting}])])
    assert (status.state, status.detail) == ("starting", 'ImagePullBackOff: Back-off pulling image "x"')


def test_a_running_pod_is_running() -> None:
    assert job_status(job(active=1), [pod("Running")]).state == "running"


@pytest.mark.parametrize(
    ("succeeded", "active", "state"),
    [(1, 1, "running"), (2, 0, "running"), (3, 0, "finished")],
)
def test_completions_are_honoured_without_a_condition(succeeded: int, active: int, state: str) -> None:
    # the controller has not yet written its Complete condition; the counts decide
    status = job_status(job({"completions": 3, "parallelism": 1}, succeeded=succeeded, active=active), [])
    assert status.state == state


def test_the_complete_condition_is_finished_and_failed_carries_the_controllers_reason() -> None:
    done = job(conditions=[{"type": "Complete", "status": "True"}])
    assert job_status(done, []).state == "finished"
    failed = job(
        conditions=[
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}
        ]
    )
    terminated = {"terminated": {"exitCode": 3}}
    status = job_status(failed, [pod("Failed", containerStatuses=[{"state": terminated}])])
    assert (status.state, status.exit_code, status.detail) == ("failed", 3, "BackoffLimitExceeded: limit")


def test_a_disrupted_or_evicted_pod_is_reported_as_preempted() -> None:
    disrupted = pod(
        "Failed",
        conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}],
    )
    assert job_status(job(active=0, failed=1), [disrupted]).detail == "preempted: PreemptionByScheduler"
    assert job_status(job(active=0, failed=1), [disrupted]).state == "preempted"
    evicted = pod("Failed", reason="Evicted", message="The node was low on resource: memory.")
    status = job_status(job(failed=1), [evicted])
    assert status.state == "preempted"
    assert status.detail == "preempted: Evicted: The node was low on resource: memory."


def test_a_preemption_wins_over_the_failed_condition_it_caused() -> None:
    # with backoffLimit 0 the eviction also makes the Job controller write Failed
    failed = job(conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
    evicted = pod("Failed", reason="Evicted", message="The node was low on resource: memory.")
    assert job_status(failed, [evicted]).state == "preempted"
    assert job_status(failed, [pod("Failed")]).state == "failed"


def test_a_custom_resources_disrupted_pod_is_preempted_unless_it_already_succeeded() -> None:
    disrupted = pod(
        "Failed",
        conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}],
    )
    running = {"status": {"conditions": [{"type": "Running", "status": "True"}]}}
    status = custom_status(running, [disrupted])
    assert (status.state, status.detail) == ("preempted", "preempted: PreemptionByScheduler")
    done = {"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}
    assert custom_status(done, [disrupted]).state == "finished"
    assert custom_status({"status": {"state": {"phase": "Aborted"}}}, []).state == "failed"


def test_only_the_schedulers_unschedulable_marks_a_starting_job_unschedulable() -> None:
    assert job_status(job(active=1), [UNSCHEDULABLE]).unschedulable
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "x"}}
    pulling = job_status(job(active=1), [pod("Pending", containerStatuses=[{"state": waiting}])])
    assert (pulling.state, pulling.unschedulable) == ("starting", False)


def test_a_job_suspended_for_kueue_is_starting_and_says_so() -> None:
    status = job_status(job({"suspend": True}), [])
    assert status.state == "starting"
    assert "admission" in status.detail


@pytest.mark.parametrize(
    ("conditions", "state"),
    [
        ([{"type": "Created", "status": "True"}], "starting"),
        ([{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}], "running"),
        ([{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}], "finished"),
        ([{"type": "Failed", "status": "True", "reason": "PyTorchJobFailed"}], "failed"),
    ],
)
def test_kubeflow_conditions(conditions: list[dict[str, Any]], state: str) -> None:
    assert custom_status({"status": {"conditions": conditions}}, []).state == state


def test_a_kubeflow_job_with_a_running_pod_is_running() -> None:
    running = {"status": {"conditions": [{"type": "Running", "status": "True"}]}}
    assert custom_status(running, [pod("Running")]).state == "running"


@pytest.mark.parametrize(
    ("phase", "state"), [("Completed", "finished"), ("Aborted", "failed"), ("Pending", "starting")]
)
def test_volcano_phases(phase: str, state: str) -> None:
    assert custom_status({"status": {"state": {"phase": phase}}}, []).state == state


def test_a_deleted_object_ends_as_its_events_say() -> None:
    stopped = ended_from_events([{"reason": "LaunchqStopped"}, {"reason": "SuccessfulCreate"}])
    finished = ended_from_events([{"reason": "Completed"}])
    assert (stopped and stopped.state, finished and finished.state) == ("stopped", "finished")
    failed = ended_from_events([{"reason": "BackoffLimitExceeded", "message": "Job has reached the limit"}])
    assert failed is not None
    assert (failed.state, failed.detail) == ("failed", "Job has reached the limit")
    assert ended_from_events([{"reason": "SuccessfulCreate"}]) is None
