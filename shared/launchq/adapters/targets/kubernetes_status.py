"""A Kubernetes Job's or custom resource's status, and its pods', as a ``TargetStatus`` (pure).

Jobs: a ``Complete`` (or 1.31's ``SuccessCriteriaMet``) condition is ``finished`` and
``Failed`` is ``failed`` with the controller's reason and message. Without either (a
controller that has not caught up), the counts decide: ``succeeded`` reaching
``completions`` (or, with no ``completions``, one success and nothing active) is
``finished``; more failures than ``backoffLimit`` is ``failed``. A suspended Job waits for
Kueue: ``starting``. Otherwise a running pod makes the run ``running``; pending pods keep
it ``starting`` with the scheduler's or the kubelet's message (``0/3 nodes are
available: ...``, ``ImagePullBackOff``), so the reconciler's start timeout ends a job
that never started with those words (an unschedulable one ``failed``, see below).

Custom resources: Kubeflow's conditions (``Succeeded``, ``Failed``, ``Running``,
``Suspended``; the last true one wins; ``Created`` alone defers to the pods) and
Volcano's ``status.state.phase`` (``Completed``, ``Failed``/``Aborted``/``Terminated``).

Preemption: a pod with a ``DisruptionTarget`` condition or evicted by the kubelet makes
the run ``preempted`` (detail ``preempted: <reason>: <message>``), whatever the Job's own
``Failed`` condition says (with ``backoffLimit: 0`` the eviction is also what failed the
Job): the service requeues it at its place in line, up to its preemption limit.

Unschedulable: a pending pod whose ``PodScheduled`` condition is ``False`` with reason
``Unschedulable`` marks the status ``unschedulable``, so that the start timeout fails the
run with the scheduler's message instead of dead-lettering it.

After the object is gone (``ttlSecondsAfterFinished`` passed, or a stop deleted it), the
events kept for it (one hour by default) still say how it ended: the Job controller's
``Completed`` / ``BackoffLimitExceeded``, or launchq's own ``LaunchqStopped``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from launchq.ports import TargetStatus

__all__ = [
    "STOPPED_REASON",
    "custom_status",
    "ended_from_events",
    "job_status",
    "pod_problem",
]

STOPPED_REASON = "LaunchqStopped"
_FINISHED_EVENTS = frozenset({"Completed", "SuccessCriteriaMet"})
_FAILED_EVENTS = frozenset(
    {"BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded"}
)
_VOLCANO_FAILED = frozenset({"Failed", "Aborted", "Terminated"})
_EVICTED = frozenset({"Evicted", "Preempting", "Terminated"})


def _true(conditions: Iterable[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind and c.get("status") == "True"), None)


def _words(condition: Mapping[str, Any]) -> str:
    reason, message = str(condition.get("reason") or ""), str(condition.get("message") or "")
    return f"{reason}: {message}" if reason and message else reason or message


def _preempted(pods: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a pod of the job was taken away (DisruptionTarget, eviction), or None."""
    for pod in pods:
        status = pod.get("status") or {}
        disruption = _true(status.get("conditions") or [], "DisruptionTarget")
        if disruption is not None:
            return f"preempted: {_words(disruption) or 'DisruptionTarget'}"
        if status.get("phase") == "Failed" and status.get("reason") in _EVICTED:
            return f"preempted: {status.get('reason')}: {status.get('message', '')}".rstrip(": ")
    return None


def pod_problem(pod: Mapping[str, Any]) -> str:
    """What keeps a pending pod from running: the scheduler's or a container's words."""
    status = pod.get("status") or {}
    scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled is not None and scheduled.get("status") == "False":
        return _words(scheduled)
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return _words(waiting)
    return ""


def _from_pods(pods: Sequence[Mapping[str, Any]], suspended: bool, progressed: bool = False) -> TargetStatus:
    """``progressed``: some pod already ran to its end (the next of ``completions`` may be pending)."""
    if suspended:
        return TargetStatus(state="starting", detail="waiting for admission (the job is suspended for Kueue)")
    phases = {(pod.get("status") or {}).get("phase") for pod in pods}
    if progressed or phases & {"Running", "Succeeded"}:
        return TargetStatus(state="running")
    problems = [problem for pod in pods if (problem := pod_problem(pod))]
    return TargetStatus(
        state="starting",
        detail=problems[0] if problems else "",
        unschedulable=any(_unschedulable(pod) for pod in pods),
    )


def _unschedulable(pod: Mapping[str, Any]) -> bool:
    """The scheduler found no node for the pod (as opposed to a slow pull or a full quota)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    return (
        scheduled is not None
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    )


def _exit_code(pods: Iterable[Mapping[str, Any]]) -> int | None:
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated")
            if terminated and terminated.get("exitCode"):
                return int(terminated["exitCode"])
    return None


def job_status(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> TargetStatus:
    """A ``batch/v1`` Job and its pods as a TargetStatus."""
    status, spec = job.get("status") or {}, job.get("spec") or {}
    conditions = status.get("conditions") or []
    if _true(conditions, "Complete") or _true(conditions, "SuccessCriteriaMet"):
        return TargetStatus(state="finished", exit_code=0)
    preempted = _preempted(pods)
    if preempted is not None:
        return TargetStatus(state="preempted", exit_code=_exit_code(pods), detail=preempted)
    failed = _true(conditions, "Failed")
    if failed is not None:
        return TargetStatus(state="failed", exit_code=_exit_code(pods), detail=_words(failed) or "failed")
    succeeded, active = int(status.get("succeeded") or 0), int(status.get("active") or 0)
    completions = spec.get("completions")
    if (completions is None and succeeded and not active) or (completions and succeeded >= completions):
        return TargetStatus(state="finished", exit_code=0)
    if int(status.get("failed") or 0) > int(spec.get("backoffLimit") or 0):
        return TargetStatus(state="failed", exit_code=_exit_code(pods), detail="BackoffLimitExceeded")
    return _from_pods(pods, bool(spec.get("suspend")), progressed=bool(succeeded or status.get("failed")))


def custom_status(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> TargetStatus:
    """A custom resource (Kubeflow training job, Volcano job, ...) and its pods as a TargetStatus."""
    status = obj.get("status") or {}
    phase = str((status.get("state") or {}).get("phase") or "")
    latest = [c for c in status.get("conditions") or [] if c.get("status") == "True"]
    kind = str(latest[-1].get("type")) if latest else ""
    if phase == "Completed" or kind in ("Succeeded", "Complete", "Completed"):
        return TargetStatus(state="finished", exit_code=0, detail=phase or _words(latest[-1]))
    preempted = _preempted(pods)
    if preempted is not None:
        return TargetStatus(state="preempted", exit_code=_exit_code(pods), detail=preempted)
    if phase in _VOLCANO_FAILED or kind == "Failed":
        detail = phase if phase in _VOLCANO_FAILED else _words(latest[-1]) or "failed"
        return TargetStatus(state="failed", exit_code=_exit_code(pods), detail=detail)
    if kind == "Running":
        return TargetStatus(state="running")
    return _from_pods(pods, kind == "Suspended")


def ended_from_events(events: Iterable[Mapping[str, Any]]) -> TargetStatus | None:
    """How a deleted object ended, from the events kept for it; None when they do not say."""
    reasons = {str(event.get("reason")): event for event in events}
    if STOPPED_REASON in reasons:
        return TargetStatus(state="stopped", detail="stopped (the job was deleted)")
    ended = _FINISHED_EVENTS & reasons.keys()
    if ended:
        return TargetStatus(
            state="finished", exit_code=0, detail=f"{min(ended)} (the job has been cleaned up)"
        )
    failed = sorted(_FAILED_EVENTS & reasons.keys())
    if failed:
        return TargetStatus(state="failed", detail=str(reasons[failed[0]].get("message") or failed[0]))
    return None
