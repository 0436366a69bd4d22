"""Kaniko build contexts in Azure blob storage (a real Azurite) and Google Cloud Storage.

Azure: the builder uploads to Azurite through ``azure-storage-blob`` (the store URL is
Azurite's path-style ``http://127.0.0.1:P/devstoreaccount1/<container>/<prefix>``), and
the test plays Kaniko's part as Kaniko does it: the account key read from the Secret the
Job's ``AZURE_STORAGE_ACCESS_KEY`` points at, the blob downloaded from the Job's own
``--context`` with a shared key. No GCS server runs here: ``gs://`` is tested at the client
boundary, ``google-cloud-storage`` (through ``STORAGE_EMULATOR_HOST``) talking to a small
stand-in of the JSON API's object get/upload/delete that records what it was sent
(``tests/gcs_stand_in.py``).
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobClient, ContainerClient

from launchq.adapters.builders.kaniko import KanikoBuilder
from launchq.adapters.builders.kaniko_context import context_store
from launchq.adapters.builders.kaniko_context_azure import AzureBlobContextStore
from launchq.adapters.builders.kaniko_context_gcs import GcsContextStore
from launchq.adapters.builders.kaniko_job import docker_config_secret, kaniko_job
from launchq.adapters.registries.fake import FakeRegistry
from launchq.build.build_context import packed_context
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed
from tests.contract.conftest import build_run
from tests.gcs_stand_in import GcsStandIn, gcs_server
from tests.integration.test_codebuild_builder import context
from tests.integration.test_kaniko_builder import (
    NAMESPACE,
    args_of,
    build_like_kaniko,
    finish_pod,
    kube,
    make_plan,
    registry,
    the_job,
)
from tests.kube_stand_in import KubeStandIn, client_factory
from tests.servers import AZURITE_KEY
from tests.unit.test_kaniko_job import job_for, valid

pytestmark = pytest.mark.integration

__all__ = ["context", "kube", "registry"]  # the other builders' tests' fixtures

ACCOUNT = "devstoreaccount1"


def packed(context: Path) -> bytes:
    with packed_context(context) as archive:
        return archive.read_bytes()


def names_in(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return sorted(tar.getnames())


# -- Azure blob storage (Azurite) ---------------------------------------------------------------
@pytest.fixture
def container(azurite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContainerClient]:
    """A fresh container in Azurite; launchq's environment holds the account key, as the chart sets it."""
    monkeypatch.setenv("AZURE_STORAGE_ACCESS_KEY", AZURITE_KEY)
    client = ContainerClient(
        azurite_url, f"ctx-{uuid.uuid4().hex[:12]}", credential=AzureNamedKeyCredential(ACCOUNT, AZURITE_KEY)
    )
    client.create_container()
    yield client
    client.delete_container()


def blobs(container: ContainerClient) -> list[str]:
    return [blob.name for blob in container.list_blobs()]


def azure_builder(kube: KubeStandIn, registry: FakeRegistry, store: str, **options: Any) -> KanikoBuilder:
    return KanikoBuilder(registry, store, api_client=client_factory(kube.url), namespace=NAMESPACE, **options)


def kaniko_reads_azure(kube: KubeStandIn, job: dict[str, Any]) -> bytes:
    """What Kaniko does with an Azure context: the key from the Job's env, the blob from --context."""
    kaniko = job["spec"]["template"]["spec"]["containers"][0]
    (key_env,) = [env for env in kaniko["env"] if env["name"] == "AZURE_STORAGE_ACCESS_KEY"]
    ref = key_env["valueFrom"]["secretKeyRef"]
    secret = kube.one("secrets", ref["name"], NAMESPACE)
    assert secret is not None, f"no secret {ref['name']}"
    key = secret["stringData"][ref["key"]]
    blob = BlobClient.from_blob_url(
        args_of(job)["--context"], credential=AzureNamedKeyCredential(ACCOUNT, key)
    )
    return bytes(blob.download_blob().readall())


def play_kaniko_azure(kube: KubeStandIn, build_id: str, workdir: Path) -> None:
    """Kaniko's whole part for an Azure context (the Builder contract suite's ``kaniko-azure``)."""
    build_like_kaniko(kube, build_id, kaniko_reads_azure(kube, the_job(kube, build_id)), workdir)


def test_an_azure_build_uploads_the_packed_context_and_kaniko_reads_it_with_the_builds_secret(
    kube: KubeStandIn, registry: FakeRegistry, container: ContainerClient, azurite_url: str, context: Path
) -> None:
    # GIVEN a kaniko builder whose build-context-store is a container in Azurite
    builder = azure_builder(kube, registry, f"{azurite_url}/{container.container_name}/builds/")
    run, plan = build_run(), make_plan(context, registry)
    # WHEN a build starts
    started = builder.start(run, plan)
    assert started.state == "building", started.detail
    name = started.build_id.split("/")[1]
    # THEN the blob is exactly the packed context, under the prefix, and the Job's --context names it
    assert blobs(container) == [f"builds/{name}.tar.gz"]
    uploaded = container.download_blob(f"builds/{name}.tar.gz").readall()
    assert uploaded == packed(context)
    assert names_in(uploaded) == ["docker", "docker/Dockerfile", "train.py"]
    job = the_job(kube, started.build_id)
    assert args_of(job)["--context"] == f"{azurite_url}/{container.container_name}/builds/{name}.tar.gz"
    # AND the account key reaches Kaniko only through the build's Secret, owned by the Job
    assert AZURITE_KEY not in json.dumps(job)
    secret = kube.one("secrets", f"{name}-docker", NAMESPACE)
    assert secret is not None
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert secret["metadata"]["labels"]["launchq.io/run-id"] == run.id
    assert kaniko_reads_azure(kube, job) == uploaded
    # WHEN the build's pod succeeds
    finish_pod(kube, started.build_id, "Succeeded", "INFO Pushed image\n")
    ended = builder.status(run, started.build_id)
    # THEN the build is ready and the Job, its Secret and the uploaded context are gone
    assert (ended.state, ended.image_uri) == ("ready", plan.image_uri)
    assert (kube.kinds("jobs"), kube.kinds("secrets"), blobs(container)) == ([], [], [])


def test_a_failed_azure_build_deletes_its_context_too(
    kube: KubeStandIn, registry: FakeRegistry, container: ContainerClient, azurite_url: str, context: Path
) -> None:
    builder = azure_builder(kube, registry, f"{azurite_url}/{container.container_name}")
    run = build_run()
    started = builder.start(run, make_plan(context, registry))
    assert blobs(container) == [f"{started.build_id.split('/')[1]}.tar.gz"]
    finish_pod(kube, started.build_id, "Failed", "error building image: COPY failed\n")
    ended = builder.status(run, started.build_id)
    assert ended.state == "failed"
    assert ended.detail.endswith("error building image: COPY failed")
    assert blobs(container) == []


def test_a_retried_azure_start_adopts_its_job_and_uploads_nothing_new(
    kube: KubeStandIn, registry: FakeRegistry, container: ContainerClient, azurite_url: str, context: Path
) -> None:
    builder = azure_builder(kube, registry, f"{azurite_url}/{container.container_name}/x")
    run, plan = build_run(), make_plan(context, registry)
    first = builder.start(run, plan)
    etag = container.get_blob_client(f"x/{first.build_id.split('/')[1]}.tar.gz").get_blob_properties().etag
    again = azure_builder(kube, registry, f"{azurite_url}/{container.container_name}/x").start(run, plan)
    assert again.build_id == first.build_id
    assert len(kube.kinds("jobs")) == 1
    assert len(blobs(container)) == 1
    blob = container.get_blob_client(f"x/{first.build_id.split('/')[1]}.tar.gz")
    assert blob.get_blob_properties().etag == etag


def test_an_azure_build_kaniko_could_not_read_is_refused_before_anything_is_uploaded(
    kube: KubeStandIn,
    registry: FakeRegistry,
    container: ContainerClient,
    azurite_url: str,
    context: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN launchq has no account key (it would upload with DefaultAzureCredential)
    # AND kaniko-config gives Kaniko none
    monkeypatch.delenv("AZURE_STORAGE_ACCESS_KEY")
    builder = azure_builder(kube, registry, f"{azurite_url}/{container.container_name}")
    result = builder.start(build_run(), make_plan(context, registry))
    # THEN the build fails naming the variable, and nothing is uploaded or created
    assert result.state == "failed"
    assert "AZURE_STORAGE_ACCESS_KEY" in result.detail
    assert "kaniko-config" in result.detail
    assert (blobs(container), kube.kinds("jobs"), kube.kinds("secrets")) == ([], [], [])


def test_a_key_given_to_kaniko_through_kaniko_config_is_kept_and_launchq_adds_no_secret(
    kube: KubeStandIn, registry: FakeRegistry, container: ContainerClient, azurite_url: str, context: Path
) -> None:
    # GIVEN kaniko-config gives Kaniko the key from the user's own Secret (launchq uploads with its own)
    mine = {"name": "AZURE_STORAGE_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "mine", "key": "k"}}}
    skeleton = {"spec": {"template": {"spec": {"containers": [{"env": [mine]}]}}}}
    builder = azure_builder(
        kube, registry, f"{azurite_url}/{container.container_name}", kaniko_config=skeleton
    )
    # (launchq uploads with the key in its environment, but hands Kaniko none: as with DefaultAzureCredential)
    builder.store.kaniko_secrets = dict  # type: ignore[method-assign]
    started = builder.start(build_run(), make_plan(context, registry))
    assert started.state == "building", started.detail
    env = the_job(kube, started.build_id)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [item for item in env if item["name"] == "AZURE_STORAGE_ACCESS_KEY"] == [mine]
    assert kube.kinds("secrets") == []


def test_an_azure_store_that_does_not_answer_is_backend_unavailable(
    container: ContainerClient, context: Path
) -> None:
    store = context_store(f"http://127.0.0.1:9/{ACCOUNT}/{container.container_name}")
    assert isinstance(store, AzureBlobContextStore)
    store.client.close()
    store.client_ = ContainerClient(
        store.account_url,
        store.container,
        credential=AzureNamedKeyCredential(ACCOUNT, AZURITE_KEY),
        retry_total=0,
    )
    with packed_context(context) as archive, pytest.raises(BackendUnavailable) as refused:
        store.upload(archive, "b-1")
    assert refused.value.field == "builder.build-context-store"
    assert AZURITE_KEY not in refused.value.detail


@pytest.mark.parametrize(
    ("url", "account_url", "container_name", "prefix"),
    [
        (
            "https://acct01.blob.core.windows.net/contexts",
            "https://acct01.blob.core.windows.net",
            "contexts",
            "",
        ),
        (
            "https://acct01.blob.core.windows.net/contexts/team/a/",
            "https://acct01.blob.core.windows.net",
            "contexts",
            "team/a/",
        ),
        (
            "https://acct01.blob.core.chinacloudapi.cn/c-1-x",
            "https://acct01.blob.core.chinacloudapi.cn",
            "c-1-x",
            "",
        ),
        (
            "http://127.0.0.1:10000/devstoreaccount1/ctx/p",
            "http://127.0.0.1:10000/devstoreaccount1",
            "ctx",
            "p/",
        ),
    ],
)
def test_azure_store_urls_give_the_account_container_and_prefix(
    url: str, account_url: str, container_name: str, prefix: str
) -> None:
    store = context_store(url)
    assert isinstance(store, AzureBlobContextStore)
    assert (store.account_url, store.container, store.prefix) == (account_url, container_name, prefix)
    assert store.url("b-1") == f"{account_url}/{container_name}/{prefix}b-1.tar.gz"
    assert store.key_of(store.url("b-1")) == f"{prefix}b-1.tar.gz"
    assert store.key_of(f"{account_url}/other/b-1.tar.gz") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://acct01.blob.core.windows.net/",  # no container
        "https://acct01.blob.core.windows.net/Contexts",  # upper case
        "https://acct01.blob.core.windows.net/a--b",  # double hyphen
        "https://acct01.blob.core.windows.net/ab",  # too short
        "https://acct01.blob.example.com/contexts",  # not Azure's host (Kaniko would not read it)
        "http://acct01.blob.core.windows.net/contexts",  # plain HTTP to the cloud
        "http://10.0.0.5:10000/devstoreaccount1/ctx",  # plain HTTP off this machine
        "gs://",
        "gs://UPPER/x",
    ],
)
def test_a_cloud_store_url_it_cannot_use_is_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        KanikoBuilder(FakeRegistry(), url)
    assert refused.value.field == "builder.build-context-store"
    assert "gs://" in refused.value.detail


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("https://acct01.blob.core.windows.net/contexts", "azure.storage.blob", "launchq[azure]"),
        ("gs://bucket/contexts", "google.cloud.storage", "launchq[gcp]"),
    ],
)
def test_a_missing_cloud_sdk_is_a_launch_failure_naming_the_extra(
    url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch, context: Path
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    if module == "google.cloud.storage":
        monkeypatch.setitem(sys.modules, "google.cloud", None)
    store = context_store(url)  # made without the SDK: it is needed only when a build uploads
    with packed_context(context) as archive, pytest.raises(LaunchFailed) as failed:
        store.upload(archive, "b-1")
    assert extra in failed.value.detail
    assert failed.value.field == "builder.build-context-store"


def test_an_acr_build_from_azure_keeps_the_key_and_the_docker_config_apart_in_one_secret() -> None:
    # GIVEN an ACR destination without a secret (workload identity: launchq's acr-env Docker config)
    # AND an Azure blob context with launchq's account key
    url = "https://acct01.blob.core.windows.net/contexts/b-1.tar.gz"
    job = job_for(
        "acr", "team.azurecr.io", context_url=url, context_secrets={"AZURE_STORAGE_ACCESS_KEY": "k3y"}
    )
    assert "k3y" not in repr(job)
    body = valid(kaniko_job(job))
    # THEN the Docker config volume mounts only config.json, and the key arrives by secretKeyRef
    pod = body["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {
            "name": "docker-config",
            "secret": {
                "secretName": job.docker_config_secret,
                "items": [{"key": "config.json", "path": "config.json"}],
            },
        }
    ]
    ref = {"name": job.docker_config_secret, "key": "AZURE_STORAGE_ACCESS_KEY"}
    assert body["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "AZURE_STORAGE_ACCESS_KEY", "valueFrom": {"secretKeyRef": ref}}
    ]
    assert "k3y" not in json.dumps(body)
    secret = docker_config_secret(job, {"metadata": {"uid": "u-1"}})
    assert secret is not None
    valid(secret)
    assert secret["stringData"] == {
        "config.json": json.dumps({"credHelpers": {"team.azurecr.io": "acr-env"}}),
        "AZURE_STORAGE_ACCESS_KEY": "k3y",
    }


# -- Google Cloud Storage (a stand-in of the JSON API) -------------------------------------------
@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[GcsStandIn]]:
    with gcs_server() as (url, handler):
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
        yield handler


def test_a_gs_build_uploads_the_packed_context_and_deletes_it_when_the_build_ends(
    kube: KubeStandIn, registry: FakeRegistry, gcs: type[GcsStandIn], context: Path
) -> None:
    # GIVEN a kaniko builder whose build-context-store is gs://
    builder = azure_builder(kube, registry, "gs://my-bucket/build-contexts/")
    assert isinstance(builder.store, GcsContextStore)
    run, plan = build_run(), make_plan(context, registry)
    # WHEN a build starts
    started = builder.start(run, plan)
    assert started.state == "building", started.detail
    name = started.build_id.split("/")[1]
    # THEN the client sent the packed context's exact bytes to the bucket, under the prefix
    uploads = [sent for sent in gcs.sent if sent["method"] == "POST"]
    assert [(sent["bucket"], sent["name"]) for sent in uploads] == [
        ("my-bucket", f"build-contexts/{name}.tar.gz")
    ]
    assert uploads[0]["bytes"] == packed(context)
    assert "ifGenerationMatch=0" in uploads[0]["query"]  # create-only: safe to retry
    # AND Kaniko is pointed at it, with no Azure key and no Secret of launchq's
    job = the_job(kube, started.build_id)
    assert args_of(job)["--context"] == f"gs://my-bucket/build-contexts/{name}.tar.gz"
    assert job["spec"]["template"]["spec"]["containers"][0]["env"] == []
    assert kube.kinds("secrets") == []
    # WHEN the build ends, THEN the object is deleted
    finish_pod(kube, started.build_id, "Succeeded", "INFO Pushed image\n")
    assert builder.status(run, started.build_id).state == "ready"
    deletes = [sent["object"] for sent in gcs.sent if sent["method"] == "DELETE"]
    assert deletes == [("my-bucket", f"build-contexts/{name}.tar.gz")]
    assert gcs.objects == {}


def test_a_gs_context_already_there_is_not_uploaded_again_and_a_gone_one_deletes_quietly(
    gcs: type[GcsStandIn], context: Path
) -> None:
    store = context_store("gs://my-bucket")
    assert isinstance(store, GcsContextStore)
    with packed_context(context) as archive:
        url = store.upload(archive, "b-1")
        assert store.upload(archive, "b-1") == url == "gs://my-bucket/b-1.tar.gz"
    assert [sent["method"] for sent in gcs.sent].count("POST") == 1
    assert store.exists(url)
    store.delete(url)
    store.delete(url)  # already gone: no error
    store.delete("gs://another/b-1.tar.gz")  # not this store's: nothing sent
    assert not store.exists(url)
    assert [sent["object"] for sent in gcs.sent if sent["method"] == "DELETE"] == [
        ("my-bucket", "b-1.tar.gz")
    ] * 2


def test_a_gcs_that_does_not_answer_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, context: Path
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    store = context_store("gs://my-bucket/x")
    assert isinstance(store, GcsContextStore)
    store.retry_seconds = 0.5  # retried for as long as that, then given up
    with packed_context(context) as archive, pytest.raises(BackendUnavailable) as refused:
        store.upload(archive, "b-1")
    assert refused.value.field == "builder.build-context-store"
