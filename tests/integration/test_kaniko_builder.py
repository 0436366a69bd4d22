"""The Kaniko builder against the Kubernetes API stand-in (HTTP, official client) and moto's S3.

The stand-in refuses with 422 what ``kubernetes-validate --strict`` refuses, so every Job
and Secret the builder creates here passed the official schemas on its way in. No Kaniko
runs here: tests finish the build's pod (``set_pod``: phase and log) as the kubelet would,
and ``play_kaniko`` -- used by the Builder contract suite -- does Kaniko's work with
buildah: the context read back from moto's S3, the Dockerfile and destination read from
the Job's own arguments, the image pushed to a real registry.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from mypy_boto3_s3 import S3Client

from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.adapters.builders.kaniko_job import CAPABILITIES
from launchq.adapters.registries.fake import FakeRegistry
from launchq.errors import BackendUnavailable, InvalidInput
from launchq.ports import BuildPlan
from tests.contract.conftest import build_run
from tests.integration.test_codebuild_builder import BUCKET, DOCKERFILE, context, s3
from tests.kube_stand_in import KubeStandIn, client_factory
from tests.servers import free_port

pytestmark = pytest.mark.integration

__all__ = ["context", "s3"]  # the CodeBuild tests' build context and moto bucket, as fixtures

STORE = f"s3://{BUCKET}/contexts"
NAMESPACE = "builds"


class EcrLike(FakeRegistry):
    """A FakeRegistry the builder treats as ECR (what decides the credentials it mounts)."""

    type: ClassVar[str] = "ecr"


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn() as api:
        yield api


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry("registry.test/team/train")


@pytest.fixture
def builder(kube: KubeStandIn, s3: S3Client, registry: FakeRegistry) -> KanikoBuilder:
    return KanikoBuilder(
        registry, STORE, api_client=client_factory(kube.url), namespace=NAMESPACE, s3_client=s3
    )


def make_plan(context: Path, registry: FakeRegistry, tag: str = "5d41402abc4b2a76b9719d91") -> BuildPlan:
    return BuildPlan(
        image_uri=registry.image_uri(tag), tag=tag, context_dir=str(context), dockerfile="docker/Dockerfile"
    )


def the_job(kube: KubeStandIn, build_id: str) -> dict[str, Any]:
    namespace, name = build_id.split("/")
    job = kube.one("jobs", name, namespace)
    assert job is not None, f"no job {build_id}"
    return job


def args_of(job: dict[str, Any]) -> dict[str, str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return dict(arg.split("=", 1) for arg in container["args"])


def context_keys(s3: S3Client, bucket: str = BUCKET) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def finish_pod(kube: KubeStandIn, build_id: str, phase: str, log: str) -> None:
    namespace, name = build_id.split("/")
    for pod in kube.kinds("pods", namespace):
        if pod["metadata"]["labels"].get("launchq.io/build") == name:
            kube.set_pod(pod["metadata"]["name"], namespace, phase=phase, log=log)


def play_kaniko(kube: KubeStandIn, s3: S3Client, build_id: str, workdir: Path) -> None:
    """Do the Kaniko pod's work with buildah (same context, Dockerfile, destination), then end the pod."""
    args = args_of(the_job(kube, build_id))
    bucket, key = args["--context"].removeprefix("s3://").split("/", 1)
    build_like_kaniko(kube, build_id, s3.get_object(Bucket=bucket, Key=key)["Body"].read(), workdir)


def build_like_kaniko(kube: KubeStandIn, build_id: str, body: bytes, workdir: Path) -> None:
    """Kaniko's work once it has fetched the context ``body``: build with buildah, push, end the pod."""
    args = args_of(the_job(kube, build_id))
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(workdir, filter="data")
    steps = [
        [
            "buildah",
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--format",
            "docker",
            "-f",
            args["--dockerfile"],
            "-t",
            args["--destination"],
            ".",
        ],
        ["buildah", "push", "--tls-verify=false", args["--destination"]],
    ]
    log, phase = "", "Succeeded"
    for step in steps:
        done = subprocess.run(step, cwd=workdir, capture_output=True, text=True, check=False, timeout=300)
        log += done.stdout + done.stderr
        if done.returncode != 0:
            log += f"error building image: {step[1]} exited {done.returncode}\n"
            phase = "Failed"
            break
    finish_pod(kube, build_id, phase, log)


# -- a build from start to end ------------------------------------------------------------
def test_a_completed_build_is_ready_and_leaves_no_job_and_no_context(
    builder: KanikoBuilder, kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    # GIVEN a started build
    run, plan = build_run(), make_plan(context, registry)
    started = builder.start(run, plan)
    assert (started.state, started.image_uri) == ("building", plan.image_uri)
    namespace, name = started.build_id.split("/")
    assert namespace == NAMESPACE
    assert name.startswith("launchq-image-build-")
    assert len(name) <= 63
    # THEN the Job builds the uploaded context into the plan's image, labelled with the run
    job = the_job(kube, started.build_id)
    assert job["metadata"]["labels"]["launchq.io/run-id"] == run.id
    args = args_of(job)
    assert args["--context"] == f"{STORE}/{name}.tar.gz"
    assert (args["--dockerfile"], args["--destination"], args["--cache"]) == (
        "docker/Dockerfile",
        plan.image_uri,
        "true",
    )
    assert context_keys(s3) == [f"contexts/{name}.tar.gz"]
    uploaded = s3.get_object(Bucket=BUCKET, Key=f"contexts/{name}.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(uploaded), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["docker", "docker/Dockerfile", "train.py"]
    # AND it runs as root with only Kaniko's capabilities, never escalating
    security = job["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert security["runAsUser"] == 0
    assert security["allowPrivilegeEscalation"] is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["capabilities"] == {"drop": ["ALL"], "add": CAPABILITIES}
    assert builder.status(run, started.build_id).state == "building"
    # WHEN its pod succeeds
    finish_pod(kube, started.build_id, "Running", "INFO Retrieving image manifest\n")
    assert builder.logs(run, started.build_id, 0) == ("INFO Retrieving image manifest\n", 1)
    finish_pod(kube, started.build_id, "Succeeded", "INFO Retrieving image manifest\nINFO Pushed image\n")
    # THEN the build is ready with the image, and the Job, its pods and the context are gone
    ended = builder.status(run, started.build_id)
    assert (ended.state, ended.image_uri, ended.build_id) == ("ready", plan.image_uri, started.build_id)
    assert kube.kinds("jobs") == []
    assert kube.kinds("pods") == []
    assert context_keys(s3) == []
    # AND the log and the result outlive the Job
    assert builder.logs(run, started.build_id, 1) == ("INFO Pushed image\n", 2)
    assert builder.status(run, started.build_id) == ended


def test_a_failed_build_is_failed_with_the_log_tail_and_is_cleaned_up(
    builder: KanikoBuilder, kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    run, plan = build_run(), make_plan(context, registry)
    started = builder.start(run, plan)
    log = "".join(f"INFO step {n}\n" for n in range(40)) + "error building image: COPY failed: no such file\n"
    finish_pod(kube, started.build_id, "Failed", log)
    ended = builder.status(run, started.build_id)
    assert ended.state == "failed"
    assert "BackoffLimitExceeded" in ended.detail
    assert ended.detail.endswith("error building image: COPY failed: no such file")
    assert "INFO step 11" in ended.detail  # the last 30 lines
    assert "INFO step 10\n" not in ended.detail
    assert (kube.kinds("jobs"), context_keys(s3)) == ([], [])


def test_a_job_gone_elsewhere_is_judged_from_its_events(
    kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    # GIVEN a build that one process started and another saw complete (and cleaned up)
    def make() -> KanikoBuilder:
        return KanikoBuilder(
            registry, STORE, api_client=client_factory(kube.url), namespace=NAMESPACE, s3_client=s3
        )

    run, plan = build_run(), make_plan(context, registry)
    started = make().start(run, plan)
    finish_pod(kube, started.build_id, "Succeeded", "done\n")
    assert make().status(run, started.build_id).state == "ready"
    # THEN a third process, with nothing remembered, reads it ready from the controller's event
    assert make().status(run, started.build_id).state == "ready"


def test_a_retried_start_adopts_its_job_and_creates_nothing_twice(
    builder: KanikoBuilder, kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    run, plan = build_run(), make_plan(context, registry)
    first = builder.start(run, plan)
    again = builder.start(run, plan)
    assert again == first
    creates = [path for method, path in kube.requests if method == "POST" and path.endswith("/jobs")]
    assert len(creates) == 1
    assert len(kube.kinds("jobs")) == 1
    # AND another run of the same image gets a build (and a context) of its own
    other = builder.start(build_run(), plan)
    assert other.build_id != first.build_id
    assert len(context_keys(s3)) == 2


def test_an_image_in_the_registry_is_ready_without_a_build(
    builder: KanikoBuilder, kube: KubeStandIn, context: Path, registry: FakeRegistry
) -> None:
    plan = make_plan(context, registry)
    registry.tags.add(plan.tag)
    assert builder.start(build_run(), plan).state == "ready"
    assert kube.kinds("jobs") == []


def test_ecr_credentials_are_mounted_and_the_helper_config_goes_with_the_job(
    kube: KubeStandIn, s3: S3Client, context: Path
) -> None:
    # GIVEN an ECR registry and W&B's secret-name/secret-key for the AWS credentials
    registry = EcrLike("123456789012.dkr.ecr.eu-west-1.amazonaws.com/train")
    builder = KanikoBuilder(
        registry,
        STORE,
        secret_name="aws-secret",
        secret_key="credentials",
        api_client=client_factory(kube.url),
        namespace=NAMESPACE,
        s3_client=s3,
    )
    run, plan = build_run(), make_plan(context, registry)
    started = builder.start(run, plan)
    # THEN the secret is where Kaniko's AWS SDK reads it, in the registry's region
    pod = the_job(kube, started.build_id)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"AWS_REGION": "eu-west-1", "AWS_SHARED_CREDENTIALS_FILE": "/root/.aws/credentials"}
    volumes = {v["name"]: v["secret"] for v in pod["volumes"]}
    assert volumes[mounts["/root/.aws"]]["secretName"] == "aws-secret"
    assert volumes[mounts["/root/.aws"]]["items"] == [{"key": "credentials", "path": "credentials"}]
    # AND the Docker config naming the ECR helper is a Secret owned by the Job
    helper = kube.one("secrets", volumes[mounts["/kaniko/.docker"]]["secretName"], NAMESPACE)
    assert helper is not None
    config = json.loads(helper["stringData"]["config.json"])
    assert config == {"credHelpers": {"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"}}
    assert helper["metadata"]["ownerReferences"][0]["name"] == started.build_id.split("/")[1]
    # WHEN the build ends, the Secret goes with the Job
    finish_pod(kube, started.build_id, "Succeeded", "ok\n")
    assert builder.status(run, started.build_id).state == "ready"
    assert kube.kinds("secrets") == []


# -- refusals -------------------------------------------------------------------------------
def test_an_unreachable_cluster_is_backend_unavailable(
    s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    nowhere = client_factory(f"http://127.0.0.1:{free_port()}")
    builder = KanikoBuilder(registry, STORE, api_client=nowhere, namespace=NAMESPACE, s3_client=s3)
    with pytest.raises(BackendUnavailable, match="did not answer"):
        builder.start(build_run(), make_plan(context, registry))
    with pytest.raises(BackendUnavailable):
        builder.status(build_run(), f"{NAMESPACE}/launchq-image-build-0123")


def test_a_job_the_api_server_refuses_is_a_failed_build_and_its_context_is_deleted(
    kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    skeleton: dict[str, Any] = {
        "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"cpu": []}}}]}}}
    }
    builder = KanikoBuilder(
        registry,
        STORE,
        kaniko_config=skeleton,
        api_client=client_factory(kube.url),
        namespace=NAMESPACE,
        s3_client=s3,
    )
    result = builder.start(build_run(), make_plan(context, registry))
    assert result.state == "failed"
    assert "422" in result.detail
    assert "resources" in result.detail
    assert (kube.kinds("jobs"), context_keys(s3)) == ([], [])


def test_a_dockerfile_outside_the_context_fails_before_anything_is_uploaded(
    builder: KanikoBuilder, kube: KubeStandIn, s3: S3Client, context: Path, registry: FakeRegistry
) -> None:
    (context.parent / "Dockerfile").write_text(DOCKERFILE)
    plan = make_plan(context, registry).model_copy(update={"dockerfile": "../Dockerfile"})
    result = builder.start(build_run(), plan)
    assert result.state == "failed"
    assert "not inside the build context" in result.detail
    assert (kube.kinds("jobs"), context_keys(s3)) == ([], [])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://bucket/contexts", "not an s3://"),
        ("s3://", "not an s3://"),
        ("gs://", "not an s3://"),  # gs:// and Azure blob stores are used since issue 10
        ("https://account.blob.example.com/contexts", "not an s3://"),
    ],
)
def test_a_build_context_store_it_cannot_use_is_refused_naming_the_field(
    registry: FakeRegistry, url: str, why: str
) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        KanikoBuilder(registry, url)
    assert refused.value.field == "builder.build-context-store"


def test_unknown_and_malformed_build_ids_are_failed_builds_without_a_log(builder: KanikoBuilder) -> None:
    run = build_run()
    unknown = builder.status(run, f"{NAMESPACE}/launchq-image-build-0123")
    assert (unknown.state, "not found" in unknown.detail) == ("failed", True)
    assert builder.status(run, "no/such/id").state == "failed"
    assert builder.logs(run, "no/such/id", 3) == ("", 3)
    with pytest.raises(InvalidInput) as negative:
        builder.logs(run, f"{NAMESPACE}/x", -1)
    assert negative.value.field == "offset"


@pytest.mark.parametrize(("phase", "state"), [("Succeeded", "ready"), ("Failed", "failed")])
def test_a_build_that_ends_is_reported_by_the_watch_as_it_happens(
    builder: KanikoBuilder, kube: KubeStandIn, context: Path, registry: FakeRegistry, phase: str, state: str
) -> None:
    # GIVEN a listener, and a build started (which opens the watch on the build Jobs)
    notices: queue.SimpleQueue[tuple[str, str, str]] = queue.SimpleQueue()
    builder.watch(lambda run_id, build_id, ended: notices.put((run_id, build_id, ended)))
    try:
        run = build_run()
        started = builder.start(run, make_plan(context, registry))
        assert notices.empty()  # nothing has ended yet
        # WHEN the Kaniko pod ends (the stand-in's Job controller sets the Job's condition)
        finish_pod(kube, started.build_id, phase, "done\n")
        # THEN the watch reports that build's end, with no status call in between
        assert notices.get(timeout=10) == (run.id, started.build_id, state)
    finally:
        builder.watch(None)
