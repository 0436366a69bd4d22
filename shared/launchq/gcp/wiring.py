"""The Google Cloud composition root: Firestore store, Pub/Sub doorbell, Vertex AI and GKE targets,
Kaniko builds into Artifact Registry.

The three Cloud Functions (``functions/gcp/main.py``) share it: each builds its services once
per instance, at the first invocation, from ``GcpSettings`` (the environment ``infra/gcp``
sets).

- **Targets**: ``LAUNCHQ_TARGETS`` names them. ``vertex`` is the Vertex AI target
  (``launchq.adapters.targets.vertex``, imported only when named), handed a JobServiceClient on
  the region's endpoint over REST; the client is built at its first call, so the HTTP
  function, which only validates queue configs against the target, never pays for the
  aiplatform import at a cold start. ``kubernetes`` runs Jobs on GKE clusters: a queue names
  its cluster in ``launchq: {gke: {project, location, cluster}}`` (endpoint, CA and token from
  the GKE API and the function's service account; no kubeconfig exists in a Cloud Function).
- **Builds**: Kaniko on a GKE cluster, contexts in GCS, images into Artifact Registry --
  because that path exists and is tested end to end in launchq (the GKE credentials, the
  ``gs://`` context store, the Kaniko Job and its watch), and a GCP team running training on
  GKE already has the cluster. Cloud Build would need no cluster; its adapter is not written.
- **Uploaded code**: ``launchq code push`` archives go to the GCS bucket ``LAUNCHQ_CODE_BUCKET``
  names (``GcsCodeStore``: ``code/<sha256>.tar.gz``, the same ``code://`` references as the S3
  and local stores); Kaniko builds read them from there through the dispatcher.
- **Schedules**: Cloud Scheduler fires the reconciler every minute through Pub/Sub; it fires
  cron schedules too (``ReconcilerOnlyTrigger``).
- **Job state changes**: a log sink routes Vertex AI's own job messages to the
  ``target_events`` function (``launchq.gcp.events.target_event``); the reconciler's poll is
  the fallback.

Only Google SDK code is imported here, and only when a service is built: no boto3, botocore or
azure module in a Cloud Function (``tests/unit/test_cloud_imports.py``).
"""

from __future__ import annotations

import importlib
import tempfile
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from launchq.adapters.builders.noop import NoopBuilder
from launchq.adapters.code_stores.gcs import GcsCodeStore
from launchq.adapters.doorbells.pubsub import PubSubDoorbell
from launchq.adapters.registries.gcr import ArtifactRegistry
from launchq.adapters.schedulers.reconciler_only import ReconcilerOnlyTrigger
from launchq.adapters.stores.firestore import FirestoreRunStore
from launchq.adapters.targets.kubernetes import KubernetesTarget
from launchq.adapters.targets.kubernetes_spec import check_object
from launchq.bootstrap import Services, build_services
from launchq.domain.models import JsonObject, RunSpec
from launchq.errors import InvalidInput
from launchq.gcp.errors import gcp_call, import_sdk
from launchq.gcp.settings import GcpSettings, plain_http_allowed
from launchq.ports import Builder, Registry, Target
from launchq.service.context import Context
from launchq.service.targets import TargetCatalog

__all__ = [
    "CODE_PREFIX",
    "GkeKubernetesTarget",
    "LazyClient",
    "build_gcp",
    "code_store",
    "services_from_env",
    "vertex_job_client",
]

CODE_PREFIX = "code/"
"""Where uploaded code lives in the code bucket (the AWS stack's S3 prefix too)."""

# tempfile's directory is /tmp in Cloud Functions (its only writable place), a local one in tests.
BUILD_DIR = Path(tempfile.gettempdir()) / "launchq-builds"


class GkeKubernetesTarget(KubernetesTarget):
    """The kubernetes target as a Cloud Function can use it: on a GKE cluster the queue names."""

    def validate(self, spec: RunSpec, resolved: JsonObject) -> None:
        if check_object(spec, resolved).options.gke is None:
            raise InvalidInput(
                "name the cluster: gke: {project, location, cluster}; a Cloud Function has no "
                "kubeconfig and runs in no pod, so context, in_cluster, eks, aks or none cannot be reached",
                field="resource_args.kubernetes.launchq",
            )
        super().validate(spec, resolved)


class LazyClient:
    """Stands in for an SDK client, building it at its first attribute access (once, under a lock)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
        return getattr(self._client, name)


def vertex_job_client(settings: GcpSettings) -> Any:
    """A ``google.cloud.aiplatform_v1.JobServiceClient`` on the settings' endpoint, over REST.

    An ``http://`` loopback endpoint (a stand-in for tests) gets anonymous credentials, as
    Google's emulators do; any other uses Application Default Credentials (the function's
    service account). Raises BackendUnavailable without the SDK or credentials.
    """
    aiplatform = import_sdk("google.cloud.aiplatform_v1", "google-cloud-aiplatform")
    endpoint = settings.vertex_api_endpoint()
    credentials = None
    if plain_http_allowed(endpoint):
        credentials = import_sdk("google.auth.credentials", "google-auth").AnonymousCredentials()
    with gcp_call("building the Vertex AI client", field="resource_args.vertex"):
        return aiplatform.JobServiceClient(
            credentials=credentials, transport="rest", client_options={"api_endpoint": endpoint}
        )


def _vertex_target(settings: GcpSettings) -> Target:
    module = importlib.import_module("launchq.adapters.targets.vertex")
    target: Target = module.VertexTarget(
        settings.project,
        settings.region,
        job_client=LazyClient(lambda: vertex_job_client(settings)),
        staging_bucket=settings.vertex_staging_bucket,
    )
    return target


def targets(settings: GcpSettings) -> TargetCatalog:
    """The targets ``LAUNCHQ_TARGETS`` names, each by its resource name."""
    makers: dict[str, Callable[[GcpSettings], Target]] = {
        "vertex": _vertex_target,
        "kubernetes": lambda _: GkeKubernetesTarget(),
    }
    offered = [makers[name](settings) for name in dict.fromkeys(settings.targets)]
    return TargetCatalog({target.resource: target for target in offered})


def image_builds(settings: GcpSettings) -> tuple[Builder, Registry | None]:
    """Kaniko on the build cluster into Artifact Registry when the settings name all three
    (repository, cluster, context store); else the noop builder.

    Raises InvalidInput when the repository is not an Artifact Registry one or the context
    store not a ``gs://`` URL.
    """
    repository, cluster, contexts = (
        settings.image_repository,
        settings.build_cluster,
        settings.build_context_store,
    )
    if not (repository and cluster and contexts):
        return NoopBuilder(), None
    if not contexts.startswith("gs://"):
        raise InvalidInput("a GCP deployment keeps build contexts in gs://<bucket>/<prefix>", field="builder")
    from launchq.adapters.builders.kaniko import KanikoBuilder
    from launchq.adapters.targets.kubernetes_options import GkeCluster, KubeOptions

    location, name = cluster.split("/")
    gke = GkeCluster(project=settings.project, location=location, cluster=name)
    registry = ArtifactRegistry(repository)
    builder = KanikoBuilder(
        registry, contexts, cluster=KubeOptions(gke=gke), namespace=settings.build_namespace
    )
    return builder, registry


def firestore_store(settings: GcpSettings) -> FirestoreRunStore:
    """The store on the settings' database (``FIRESTORE_EMULATOR_HOST`` points the client at
    the emulator). Raises BackendUnavailable without the SDK or credentials."""
    firestore = import_sdk("google.cloud.firestore", "google-cloud-firestore")
    with gcp_call("building the Firestore client", field="store"):
        client = firestore.Client(project=settings.project, database=settings.firestore_database)
    return FirestoreRunStore(client, settings.collection_prefix)


def code_store(settings: GcpSettings) -> GcsCodeStore | None:
    """The bucket uploads go to, when the settings name one (the client is built at first use)."""
    if not settings.code_bucket:
        return None
    return GcsCodeStore(settings.code_bucket, CODE_PREFIX, project=settings.project)


def build_gcp(settings: GcpSettings) -> Services:
    builder, registry = image_builds(settings)
    ctx = Context(
        store=firestore_store(settings),
        doorbell=PubSubDoorbell(settings.doorbell_topic),
        targets=targets(settings),
        builder=builder,
        settings=settings.service,
        trigger=ReconcilerOnlyTrigger(),  # Cloud Scheduler ticks the reconciler; it fires cron schedules
        registry=registry,
        code_store=code_store(settings),
        build_dir=BUILD_DIR,
        control_plane=True,  # agents queues are left to agents over HTTP
    )
    return build_services(ctx)


@cache
def services_from_env() -> Services:
    """The process-wide services of a Cloud Function instance (built at the first invocation)."""
    return build_gcp(GcpSettings())  # fields come from the environment
