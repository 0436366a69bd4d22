"""The kubernetes target over HTTP, through the official client, against the API stand-in.

The stand-in (``tests/kube_stand_in.py``) refuses what the official schemas refuse (422),
so every object the target creates here -- Jobs, PyTorchJobs, pods made from their
templates, Secrets, Events -- passed ``kubernetes-validate --strict`` on its way in.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_spec import QUEUE_LABEL, RUN_ID_LABEL
from launchq.config.macros import MacroValues, substitute_macros
from launchq.config.templates import unwrap_resource
from launchq.domain.models import Run, RunSpec
from launchq.errors import InvalidInput, LaunchFailed
from tests.contract.conftest import build_run
from tests.kube_stand_in import KubeStandIn, client_factory
from tests.unit.test_kubernetes_spec import SEED_JOB, SEED_PYTORCH

IMAGE = "registry.example/team/train:5d41402abc4b2a76b9719d91"


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn() as api:
        yield api


@pytest.fixture
def target(kube: KubeStandIn) -> KubernetesTarget:
    return KubernetesTarget(client_factory(kube.url), watch_seconds=2)


def make_run(config: dict[str, Any], **spec: Any) -> Run:
    run = build_run(queue="gpu")
    run_spec = RunSpec(**({"docker_image": IMAGE, "entry_point": ["python", "train.py"]} | spec))
    resolved = substitute_macros(
        unwrap_resource(copy.deepcopy(config), "kubernetes"),
        MacroValues(image_uri=IMAGE, run_id=run.id, queue_name="gpu"),
    )
    return run.model_copy(update={"spec": run_spec, "resolved": resolved})


def launch(target: KubernetesTarget, run: Run) -> Run:
    target.validate(run.spec, run.resolved)
    return run.model_copy(update={"handle": target.submit(run)})


def finish_pods(kube: KubeStandIn, run: Run, phase: str = "Succeeded", **status: Any) -> None:
    for pod in kube.pods(run.id):
        if pod["status"]["phase"] in ("Pending", "Running"):
            kube.set_pod(pod["metadata"]["name"], pod["metadata"]["namespace"], phase=phase, **status)


def test_the_seed_job_is_submitted_with_defaults_and_labels_and_finishes(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    # GIVEN W&B's Job spec (namespace wandb)  WHEN a run is launched on it
    run = launch(target, make_run(SEED_JOB))
    # THEN the cluster holds one Job in wandb, named from the run, with launchq's defaults and labels
    (job,) = kube.kinds("jobs", "wandb")
    assert job["metadata"]["name"] == run.handle["name"] == f"launchq-{run.id}"
    assert job["metadata"]["labels"][RUN_ID_LABEL] == run.id
    assert job["metadata"]["labels"][QUEUE_LABEL] == "gpu"
    assert (job["spec"]["backoffLimit"], job["spec"]["ttlSecondsAfterFinished"]) == (0, 60)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == IMAGE
    # AND its pod runs, then succeeds
    assert target.status(run).state == "starting"
    kube.advance(run.id)
    assert target.status(run).state == "running"
    kube.advance(run.id)
    assert target.status(run).state == "finished"
    text, offset = target.logs(run)
    assert text == f"hello from launchq-{run.id}-0\n"
    assert target.logs(run, offset) == ("", offset)


def test_the_seed_pytorchjob_is_found_by_discovery_and_followed_by_its_conditions(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run(SEED_PYTORCH))
    (created,) = kube.kinds("pytorchjobs")
    assert created["metadata"]["name"] == f"{run.id}-pytorch-job"
    # the plural came from discovery of kubeflow.org/v1, the path the object was created at
    assert ("POST", "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs") in kube.requests
    assert ("GET", "/apis/kubeflow.org/v1") in kube.requests
    assert len(kube.pods(run.id)) == 3  # Master + 2 Workers, all carrying the run's label
    kube.advance(run.id)
    kube.set_status(
        "pytorchjobs", created["metadata"]["name"], {"conditions": [{"type": "Running", "status": "True"}]}
    )
    assert target.status(run).state == "running"
    kube.set_status(
        "pytorchjobs",
        created["metadata"]["name"],
        {"conditions": [{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]},
    )
    assert target.status(run).state == "finished"


def test_a_job_of_three_completions_finishes_only_after_the_third(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run({"spec": {"completions": 3, "parallelism": 1}}))
    for done in range(1, 4):
        finish_pods(kube, run)
        assert target.status(run).state == ("finished" if done == 3 else "running"), done
    assert len(kube.pods(run.id)) == 3


def test_a_failed_pod_fails_the_run_with_the_controllers_reason(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run({}))
    finish_pods(kube, run, "Failed", containerStatuses=[{"state": {"terminated": {"exitCode": 2}}}])
    status = target.status(run)
    assert (status.state, status.exit_code) == ("failed", 2)
    assert status.detail.startswith("BackoffLimitExceeded")


def test_an_evicted_pod_is_reported_preempted(kube: KubeStandIn, target: KubernetesTarget) -> None:
    run = launch(target, make_run({}))
    kube.advance(run.id)
    disruption = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]
    finish_pods(kube, run, "Failed", conditions=disruption)
    status = target.status(run)
    assert (status.state, status.detail) == ("preempted", "preempted: EvictionByEvictionAPI")


def test_an_unschedulable_pod_keeps_the_run_starting_with_the_schedulers_message(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    # the reconciler fails a run "starting" and unschedulable past the start timeout, with this detail
    run = launch(target, make_run({}))
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    unschedulable = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    ]
    finish_pods(kube, run, "Pending", conditions=unschedulable)
    status = target.status(run)
    assert (status.state, status.detail) == ("starting", f"Unschedulable: {message}")
    assert status.unschedulable


def test_a_restarted_dispatcher_readopts_the_job_and_a_retried_submit_starts_nothing_twice(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run({}))
    kube.advance(run.id)
    # GIVEN a new process (a fresh target, nothing in memory)
    again = KubernetesTarget(client_factory(kube.url))
    # THEN the run's handle alone leads to the job
    assert again.status(run).state == "running"
    # AND a retried submit adopts the job of the same name instead of creating another
    assert again.submit(run) == run.handle
    assert len(kube.kinds("jobs")) == 1
    assert len(kube.pods(run.id)) == 1


def test_a_name_taken_by_another_run_is_a_launch_failure_naming_the_clash(target: KubernetesTarget) -> None:
    config = {"metadata": {"name": "fixed-name"}}
    launch(target, make_run(config))
    with pytest.raises(LaunchFailed, match=r"belongs to another run.*\$\{run_id\}"):
        target.submit(make_run(config))


def test_an_object_the_api_server_refuses_is_a_launch_failure_with_its_words(
    target: KubernetesTarget,
) -> None:
    # a port given as text passes launchq's checks; the schema (the server) refuses it: 422
    config = {"spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}}}}
    run = make_run(config)
    with pytest.raises(LaunchFailed, match=r"create Job: 422 .*containerPort"):
        target.submit(run)


def test_stop_deletes_the_job_with_its_pods_and_reads_stopped(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run({}))
    kube.advance(run.id)
    target.stop(run)
    target.stop(run)  # idempotent
    assert kube.kinds("jobs") == []
    assert kube.pods(run.id) == []
    assert ("DELETE", f"/apis/batch/v1/namespaces/default/jobs/{run.handle['name']}") in kube.requests
    status = target.status(run)
    assert status.state == "stopped"
    (event,) = [e for e in kube.kinds("events") if e["reason"] == "LaunchqStopped"]
    assert event["involvedObject"]["name"] == run.handle["name"]


def test_a_finished_job_is_not_deleted_by_a_late_stop(kube: KubeStandIn, target: KubernetesTarget) -> None:
    run = launch(target, make_run({}))
    kube.advance(run.id)
    kube.advance(run.id)
    target.stop(run)
    assert target.status(run).state == "finished"
    assert len(kube.kinds("jobs")) == 1


def test_a_cleaned_up_job_still_reads_finished_from_its_events(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    # GIVEN a finished job that ttlSecondsAfterFinished has removed (its events stay)
    run = launch(target, make_run({}))
    kube.advance(run.id)
    kube.advance(run.id)
    kube.delete(("batch/v1", "jobs", "default", run.handle["name"]), {})
    # THEN it is finished, not lost
    assert target.status(run).state == "finished"


def test_the_per_run_pull_secret_is_owned_by_the_job_and_goes_with_it(kube: KubeStandIn) -> None:
    seen: list[str] = []

    def pull_secret(image: str) -> str:
        seen.append(image)
        return '{"auths": {"registry.example": {"auth": "dXNlcjpwYXNz"}}}'

    target = KubernetesTarget(client_factory(kube.url), pull_secret=pull_secret)
    run = launch(target, make_run({}))
    assert seen == [IMAGE]
    (secret,) = kube.kinds("secrets")
    (job,) = kube.kinds("jobs")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["labels"][RUN_ID_LABEL] == run.id
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}]
    target.stop(run)
    assert kube.kinds("secrets") == []


def test_a_kueue_job_is_created_suspended_and_waits_for_admission(
    kube: KubeStandIn, target: KubernetesTarget
) -> None:
    run = launch(target, make_run({"metadata": {"labels": {"kueue.x-k8s.io/queue-name": "team-a"}}}))
    assert "waiting for Kueue" in run.handle["note"]
    (job,) = kube.kinds("jobs")
    assert job["spec"]["suspend"] is True
    assert kube.pods(run.id) == []  # Kueue has not admitted it: no pods
    status = target.status(run)
    assert (status.state, "admission" in status.detail) == ("starting", True)


def test_watch_notifies_the_run_when_its_job_ends(kube: KubeStandIn, target: KubernetesTarget) -> None:
    ended: list[str] = []
    notified = threading.Event()

    def notify(run_id: str) -> None:
        ended.append(run_id)
        notified.set()

    target.watch(notify)
    try:
        run = launch(target, make_run({}))
        kube.advance(run.id)
        assert not notified.wait(0.3)  # running is not news
        kube.advance(run.id)
        assert notified.wait(10)
        assert ended[0] == run.id
    finally:
        target.watch(None)


@pytest.fixture
def kubeconfig(kube: KubeStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig file with two contexts, the current one on namespace team-a, both at the stand-in."""
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stand-in", "cluster": {"server": kube.url}}],
        "users": [{"name": "dev", "user": {"token": "not-a-real-token"}}],
        "contexts": [
            {"name": "team-a", "context": {"cluster": "stand-in", "user": "dev", "namespace": "team-a"}},
            {"name": "team-b", "context": {"cluster": "stand-in", "user": "dev", "namespace": "team-b"}},
        ],
        "current-context": "team-a",
    }
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.mark.usefixtures("kubeconfig")
def test_the_kubeconfig_context_and_its_namespace_are_used_unless_the_queue_names_others(
    kube: KubeStandIn,
) -> None:
    target = KubernetesTarget()  # the default: the kubeconfig's clients
    first = launch(target, make_run({}))
    assert first.handle["namespace"] == "team-a"  # the current context's namespace
    second = launch(target, make_run({"launchq": {"context": "team-b"}}))
    assert second.handle["namespace"] == "team-b"
    third = launch(target, make_run({"namespace": "ml", "launchq": {"context": "team-b"}}))
    assert third.handle["namespace"] == "ml"  # the spec's namespace wins over the context's
    assert [job["metadata"]["namespace"] for job in kube.kinds("jobs")] == ["ml", "team-a", "team-b"]
    assert KubernetesTarget().status(second).state == "starting"  # the handle leads back to team-b


@pytest.mark.usefixtures("kubeconfig")
def test_a_context_missing_from_the_kubeconfig_is_a_launch_failure_naming_it() -> None:
    with pytest.raises(LaunchFailed, match=r"no cluster credentials.*nowhere"):
        KubernetesTarget().submit(make_run({"launchq": {"context": "nowhere"}}))


def test_a_queue_naming_two_clusters_is_refused_at_enqueue(target: KubernetesTarget) -> None:
    run = make_run({"launchq": {"context": "a", "in_cluster": True}})
    with pytest.raises(InvalidInput, match="context and in_cluster") as caught:
        target.validate(run.spec, run.resolved)
    assert caught.value.field == "resource_args.kubernetes.launchq"


def test_a_refused_submit_leaves_no_pull_secret_behind(kube: KubeStandIn) -> None:
    target = KubernetesTarget(client_factory(kube.url), pull_secret=lambda image: '{"auths": {}}')
    bad = {"spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}}}}
    with pytest.raises(LaunchFailed):
        target.submit(make_run(bad))
    assert kube.kinds("secrets") == []
    assert kube.kinds("jobs") == []


def test_logs_come_from_the_main_container_not_a_sidecar(kube: KubeStandIn, target: KubernetesTarget) -> None:
    config = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "proxy", "image": "envoy:1.30"}, {"name": "trainer"}]}
            }
        },
        "launchq": {"main_container": "trainer"},
    }
    run = launch(target, make_run(config))
    (pod,) = kube.pods(run.id)
    kube.set_pod(pod["metadata"]["name"], log="proxy noise\n", container="proxy")
    kube.set_pod(pod["metadata"]["name"], log="loss 0.1\n", container="trainer")
    assert target.logs(run) == ("loss 0.1\n", 9)
