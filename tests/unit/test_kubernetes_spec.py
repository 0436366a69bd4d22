"""The object a kubernetes run submits: W&B's seed configs launch unchanged, with launchq's
defaults and labels, and every object passes the official schemas (``kubernetes-validate
--strict``, 1.31) and launchq's own name and enum checks (``tests/unit/k8s_checks.py``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from launchq.adapters.targets.kubernetes_spec import (
    ATTEMPT_LABEL,
    QUEUE_LABEL,
    RUN_ID_LABEL,
    KubeObject,
    build_object,
    check_object,
    default_name,
)
from launchq.config.macros import MacroValues, substitute_macros
from launchq.config.templates import unwrap_resource
from launchq.domain.models import RunSpec
from launchq.errors import InvalidInput
from tests.unit.k8s_checks import launchq_problems, schema_problems

RUN_ID = "3f2a9c0e1b7d4a55"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:5d41402abc4b2a76b9719d91"

# W&B's Kubernetes tutorial (seeds 002/004), verbatim.
SEED_JOB = yaml.safe_load("""
spec:
  template:
    spec:
      containers:
        - env:
            - name: MY_ENV_VAR
              value: some-value
          resources:
            requests:
              cpu: 1000m
              memory: 1Gi
metadata:
  labels:
    queue: k8s-test
namespace: wandb
""")
SEED_PYTORCH = yaml.safe_load("""
kubernetes:
  kind: PyTorchJob
  spec:
    pytorchReplicaSpecs:
      Master:
        replicas: 1
        template:
          spec:
            containers:
              - name: pytorch
                image: '${image_uri}'
                imagePullPolicy: Always
        restartPolicy: Never
      Worker:
        replicas: 2
        template:
          spec:
            containers:
              - name: pytorch
                image: '${image_uri}'
                imagePullPolicy: Always
        restartPolicy: Never
    ttlSecondsAfterFinished: 600
  metadata:
    name: '${run_id}-pytorch-job'
  apiVersion: kubeflow.org/v1
""")
VOLCANO = {
    "apiVersion": "batch.volcano.sh/v1alpha1",
    "kind": "Job",
    "spec": {
        "minAvailable": 2,
        "tasks": [
            {"name": "master", "replicas": 1, "template": {"spec": {"containers": [{"name": "m"}]}}},
            {"name": "worker", "replicas": 2, "template": {"spec": {"containers": [{"name": "w"}]}}},
        ],
    },
}


def build(config: dict[str, Any], **spec: Any) -> KubeObject:
    run_spec = RunSpec(**({"docker_image": IMAGE, "entry_point": ["python", "train.py"]} | spec))
    resolved = substitute_macros(
        unwrap_resource(config, "kubernetes"),
        MacroValues(image_uri=run_spec.docker_image or "", run_id=RUN_ID, queue_name="k8s"),
    )
    return build_object(run_spec, resolved, run_id=RUN_ID, queue="k8s", entity="team")


def pod_templates_of(obj: KubeObject) -> list[dict[str, Any]]:
    if obj.is_job:
        return [obj.body["spec"]["template"]]
    if "pytorchReplicaSpecs" in obj.body["spec"]:
        return [r["template"] for r in obj.body["spec"]["pytorchReplicaSpecs"].values()]
    return [task["template"] for task in obj.body["spec"]["tasks"]]


def as_pod_template(template: dict[str, Any]) -> dict[str, Any]:
    """A custom resource has no official schema: its pod templates are held to PodTemplate's."""
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}


def assert_restricted(container: dict[str, Any]) -> None:
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry.get("value") for entry in container["env"]}


def test_the_seed_job_spec_launches_unchanged_with_defaults_and_labels() -> None:
    # GIVEN W&B's Job spec with env and resources  WHEN it is built for a run
    obj = build(copy.deepcopy(SEED_JOB), env={"LR": "0.1"})
    body = obj.body
    # THEN it is a batch/v1 Job in the seed's namespace, named after the run
    assert (body["apiVersion"], body["kind"], obj.namespace) == ("batch/v1", "Job", "wandb")
    assert obj.name == f"launchq-{RUN_ID}"
    # AND launchq's defaults are injected where the seed sets nothing
    assert body["spec"]["backoffLimit"] == 0
    assert body["spec"]["ttlSecondsAfterFinished"] == 60
    pod = body["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert_restricted(container)
    assert "runAsNonRoot" not in container["securityContext"]  # the image's user is not known
    # AND the seed's own labels, env and resources are kept, with launchq's labels added
    ours = {RUN_ID_LABEL: RUN_ID, QUEUE_LABEL: "k8s", ATTEMPT_LABEL: "0"}
    assert body["metadata"]["labels"] == {"queue": "k8s-test", **ours}
    assert body["spec"]["template"]["metadata"]["labels"] == ours
    assert container["resources"] == {"requests": {"cpu": "1000m", "memory": "1Gi"}}
    env = env_of(container)
    assert env["MY_ENV_VAR"] == "some-value"
    assert env["LR"] == "0.1"
    assert env["LAUNCHQ_RUN_ID"] == env["WANDB_RUN_ID"] == RUN_ID
    # AND the run is on the container: image, entry point
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "train.py"]
    # AND the object passes the official schemas and the name/enum checks
    assert schema_problems(body) == []
    assert launchq_problems(body) == []


def test_the_seed_pytorchjob_gets_the_run_on_every_replica() -> None:
    obj = build(copy.deepcopy(SEED_PYTORCH), args=["--epochs", "3"])
    assert (obj.api_version, obj.kind) == ("kubeflow.org/v1", "PyTorchJob")
    assert obj.name == f"{RUN_ID}-pytorch-job"  # the seed's own name, its ${run_id} resolved
    assert obj.body["spec"]["ttlSecondsAfterFinished"] == 600  # the seed's, untouched
    assert "backoffLimit" not in obj.body["spec"]  # Job defaults are not forced on a custom resource
    templates = pod_templates_of(obj)
    assert len(templates) == 2
    for template in templates:
        assert template["metadata"]["labels"][RUN_ID_LABEL] == RUN_ID
        (container,) = template["spec"]["containers"]
        assert container["name"] == "pytorch"
        assert container["image"] == IMAGE
        assert container["imagePullPolicy"] == "Always"
        assert container["args"] == ["--epochs", "3"]
        assert env_of(container)["WANDB_LAUNCH"] == "True"
        assert template["spec"]["restartPolicy"] == "Never"
        assert_restricted(container)
        assert schema_problems(as_pod_template(template)) == []
    assert obj.body["metadata"]["labels"] == {RUN_ID_LABEL: RUN_ID, QUEUE_LABEL: "k8s", ATTEMPT_LABEL: "0"}


def test_a_volcano_job_gets_the_run_on_each_tasks_main_container() -> None:
    obj = build(copy.deepcopy(VOLCANO))
    assert not obj.is_job  # batch.volcano.sh's Job is a custom resource, not batch/v1
    for template in pod_templates_of(obj):
        (container,) = template["spec"]["containers"]
        assert container["image"] == IMAGE
        assert schema_problems(as_pod_template(template)) == []


def test_sidecars_and_init_containers_keep_their_image_and_get_the_security_context() -> None:
    config = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "fetch", "image": "busybox:1.36"}],
                    "containers": [
                        {"name": "proxy", "image": "envoy:1.30"},
                        {"name": "trainer"},
                    ],
                }
            }
        },
        "launchq": {"main_container": "trainer"},
    }
    obj = build(config)
    pod = obj.body["spec"]["template"]["spec"]
    init, (proxy, trainer) = pod["initContainers"][0], pod["containers"]
    assert (init["image"], proxy["image"], trainer["image"]) == ("busybox:1.36", "envoy:1.30", IMAGE)
    assert "env" not in proxy
    assert "command" not in init
    assert trainer["command"] == ["python", "train.py"]
    for container in (init, proxy, trainer):
        assert_restricted(container)
    assert schema_problems(obj.body) == []


def test_a_queue_opts_out_of_defaults_explicitly_and_its_own_values_win() -> None:
    config = {
        "spec": {
            "backoffLimit": 3,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {"securityContext": {"allowPrivilegeEscalation": True, "runAsUser": 1000}}
                    ],
                }
            },
        },
        "launchq": {"skip_defaults": ["ttlSecondsAfterFinished"]},
    }
    obj = build(config)
    spec = obj.body["spec"]
    assert spec["backoffLimit"] == 3
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"
    context = spec["template"]["spec"]["containers"][0]["securityContext"]
    assert context["allowPrivilegeEscalation"] is True  # the queue's explicit choice
    assert context["runAsNonRoot"] is True  # it runs as user 1000: the image allows it
    assert context["capabilities"] == {"drop": ["ALL"]}
    without = build({"launchq": {"skip_defaults": ["securityContext", "restartPolicy"]}})
    pod = without.body["spec"]["template"]["spec"]
    assert "restartPolicy" not in pod
    assert "securityContext" not in pod["containers"][0]
    assert "launchq" not in without.body  # launchq's block is never sent


def test_launchqs_variables_give_way_to_the_containers_and_the_runs_with_a_note() -> None:
    config = {
        "spec": {"template": {"spec": {"containers": [{"env": [{"name": "WANDB_PROJECT", "value": "x"}]}]}}}
    }
    obj = build(config, env={"WANDB_ENTITY": "mine"})
    env = env_of(obj.body["spec"]["template"]["spec"]["containers"][0])
    assert env["WANDB_PROJECT"] == "x"
    assert env["WANDB_ENTITY"] == "mine"
    assert obj.notes == [
        "WANDB_PROJECT set by resource_args.kubernetes; launchq's value not used",
        "WANDB_ENTITY set by the run's env; launchq's value not used",
    ]


def test_a_kueue_local_queue_makes_the_job_wait_suspended_for_admission() -> None:
    obj = build({"metadata": {"labels": {"kueue.x-k8s.io/queue-name": "team-a"}}})
    assert obj.body["spec"]["suspend"] is True
    assert obj.notes == ["waiting for Kueue to admit it from LocalQueue team-a"]


def test_the_default_name_is_a_63_character_label_derived_from_the_run() -> None:
    long_name = "My Experiment: a very long and descriptive name for the run that goes on"
    name = default_name(RunSpec(name=long_name), RUN_ID)
    assert len(name) <= 63
    assert name.endswith(f"-{RUN_ID}")
    assert name == name.lower()
    assert launchq_problems({"kind": "Secret", "metadata": {"name": name}}) == []
    assert default_name(RunSpec(name="___"), RUN_ID) == f"launchq-{RUN_ID}"


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"status": {}}, "resource_args.kubernetes.status", "unknown key"),
        ({"launchq": {"nope": 1}}, "resource_args.kubernetes.launchq.nope", "Extra inputs"),
        (
            {"launchq": {"skip_defaults": ["labels"]}},
            "resource_args.kubernetes.launchq.skip_defaults.0",
            "Input",
        ),
        ({"metadata": {"generateName": "x-"}}, "resource_args.kubernetes.metadata.generateName", "retried"),
        ({"metadata": {"name": "Not_A_Name"}}, "resource_args.kubernetes.metadata.name", "lower-case"),
        ({"namespace": "Team A"}, "resource_args.kubernetes.namespace", "namespace"),
        (
            {"metadata": {"labels": {"team": "a b"}}},
            "resource_args.kubernetes.metadata.labels.team",
            "label value",
        ),
        (
            {"spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{}]}}}},
            "resource_args.kubernetes.spec.template.spec.restartPolicy",
            "Never",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"imagePullPolicy": "Sometimes"}]}}}},
            "resource_args.kubernetes.spec.template.spec.containers[0].imagePullPolicy",
            "IfNotPresent",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "ok"}, {"name": "side"}]}}}},
            "resource_args.kubernetes.spec.template.spec.containers[1].image",
            "needs an image",
        ),
        (
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {}},
            "resource_args.kubernetes.spec",
            "pod template",
        ),
        ({"kind": "job"}, "resource_args.kubernetes.kind", "not a kind"),
        (
            {"launchq": {"main_container": "x"}},
            "resource_args.kubernetes.launchq.main_container",
            "no container",
        ),
    ],
)
def test_bad_configs_are_refused_naming_the_field(config: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build(config)
    assert caught.value.field == field
    assert words in caught.value.detail


def test_a_run_without_an_image_is_refused_naming_docker_image() -> None:
    with pytest.raises(InvalidInput) as caught:
        build({}, docker_image=None)
    assert caught.value.field == "docker_image"


def test_at_enqueue_macros_stand_in_so_the_seed_checks_before_its_image_exists() -> None:
    # GIVEN the PyTorchJob seed with ${image_uri} and ${run_id} still in it (as at enqueue)
    obj = check_object(RunSpec(), unwrap_resource(copy.deepcopy(SEED_PYTORCH), "kubernetes"))
    # THEN it is accepted, and the name it will get is a valid label
    assert obj.name == f"{'0' * 16}-pytorch-job"
    with pytest.raises(InvalidInput) as caught:
        check_object(RunSpec(), {"metadata": {"name": "${run_id}_job"}})
    assert caught.value.field == "resource_args.kubernetes.metadata.name"
