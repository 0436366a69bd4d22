"""The ``kaniko`` builder: images built inside the Kubernetes cluster by a Kaniko Job.

Like ``codebuild`` it is asynchronous, because a Lambda or the dispatcher cannot wait for a
build. ``start`` packs the plan's context (``pack_context``: deterministic bytes), uploads
it to ``build-context-store`` (``kaniko_context``), creates the Job ``kaniko_job`` describes
-- its name derived from the run and the plan, so a retried ``start`` finds and adopts its
own Job instead of creating a second -- and answers ``building`` with the build id
``<namespace>/<job name>``. An image already in the registry is ``ready`` without a build.

``status`` reads the Job's conditions: ``Complete`` is ``ready`` (the image URI is on the
Job), ``Failed`` is ``failed`` with the tail of the Kaniko pod's log. When a build ends,
its log is read, then the Job (foreground: its pods and launchq's Docker-config Secret go
with it) and the uploaded context are deleted; the ended result and log are kept in this
process, and a Job already gone is judged from its events (``Completed``, or the
controller's failure reason), else ``failed``. While the local loops listen (``watch``), one
watch on the build Jobs reports each end at once (``kaniko_watch``); polling stays the net.

``logs`` is the Kaniko pod's log, by lines from ``offset``. Cluster calls go through the
target's one edge, ``kubernetes_client`` (the cluster named by ``KubeOptions``: a
kubeconfig context, the pod's service account, or EKS), so SDK errors arrive as
launchq's: a cluster that does not answer is BackendUnavailable, an object it refuses a
``failed`` build with the API server's words.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from launchq.adapters.builders.kaniko_context import context_store
from launchq.adapters.builders.kaniko_job import (
    BUILD_LABEL,
    CONTAINER,
    CONTEXT_ANNOTATION,
    IMAGE_ANNOTATION,
    KanikoJob,
    docker_config_secret,
    job_name_prefix,
    kaniko_job,
    kaniko_job_name,
)
from launchq.adapters.builders.kaniko_watch import BuildWatch, ended_condition
from launchq.adapters.registries.oci import OciRegistry
from launchq.adapters.targets.kubernetes_client import (
    ClientFactory,
    ClusterClient,
    context_namespace,
    default_api_client,
    kube_call,
)
from launchq.adapters.targets.kubernetes_options import KubeOptions
from launchq.build.build_context import dockerfile_in_context, packed_context
from launchq.domain.models import Run
from launchq.errors import AlreadyExists, InvalidInput, LaunchFailed, NotFound
from launchq.ports import Builder, BuildNotice, BuildPlan, BuildResult, Registry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from launchq.domain.launch_config_blocks import KanikoBuilderConfig

__all__ = ["DEFAULT_KANIKO_IMAGE", "KanikoBuilder"]

DEFAULT_KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
LOG_TAIL_LINES = 30
MAX_DETAIL_CHARS = 4_000
NEEDS_SOURCE = "the kaniko builder needs a source to build (uri) when no docker_image is given"
_REMEMBERED = 256  # ended builds whose result and log this process keeps
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")
_BUILD_ID = re.compile(r"^(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")
JOB = ("batch/v1", "Job")


def _tail(text: str) -> str:
    tail = "\n".join(text.rstrip("\n").splitlines()[-LOG_TAIL_LINES:])
    return tail if len(tail) <= MAX_DETAIL_CHARS else "..." + tail[-MAX_DETAIL_CHARS:]


class KanikoBuilder(Builder):
    """Builds with Kaniko Jobs in one cluster, contexts through ``build-context-store``."""

    type: ClassVar[str] = "kaniko"

    def __init__(
        self,
        registry: Registry,
        build_context_store: str,
        *,
        build_job_name: str = "launchq-image-build",
        secret_name: str | None = None,
        secret_key: str | None = None,
        kaniko_image: str = DEFAULT_KANIKO_IMAGE,
        kaniko_config: dict[str, Any] | None = None,
        cluster: KubeOptions | None = None,
        namespace: str | None = None,
        region: str | None = None,
        api_client: ClientFactory | None = None,
        s3_client: S3Client | None = None,
        platform: str | None = None,
    ) -> None:
        """Raises InvalidInput naming the ``builder.*`` key that cannot be used."""
        if (secret_name is None) != (secret_key is None):
            raise InvalidInput(
                "secret-name and secret-key must be given together", field="builder.secret-name"
            )
        self.registry = registry
        self.store = context_store(build_context_store, s3_client)
        job_name_prefix(build_job_name)
        self.build_job_name = build_job_name
        self.secret_name, self.secret_key = secret_name, secret_key
        self.kaniko_image = kaniko_image
        self.kaniko_config = kaniko_config or {}
        self.cluster = cluster or KubeOptions()
        self.region = region
        self.platform = platform
        self._namespace = namespace
        self._factory = api_client or default_api_client
        self._client: ClusterClient | None = None
        self._lock = threading.Lock()
        self._ended: OrderedDict[str, tuple[BuildResult, str]] = OrderedDict()
        self._watch = BuildWatch(lambda: self.client, lambda: self.namespace)

    @classmethod
    def from_config(cls, config: KanikoBuilderConfig, registry: Registry, **options: Any) -> KanikoBuilder:
        """From launch-config.yaml's ``builder: {type: kaniko, ...}`` block (W&B's keys)."""
        return cls(
            registry,
            config.build_context_store,
            build_job_name=config.build_job_name,
            secret_name=config.secret_name,
            secret_key=config.secret_key,
            kaniko_image=config.kaniko_image,
            kaniko_config=config.kaniko_config,
            platform=config.platform,
            **options,
        )

    # -- the cluster ------------------------------------------------------------------------
    @property
    def client(self) -> ClusterClient:
        """The cluster's client, made on first use. Raises BackendUnavailable."""
        with self._lock:
            if self._client is None:
                with kube_call("connect to the build cluster"):
                    self._client = ClusterClient(self._factory(self.cluster))
            return self._client

    @property
    def namespace(self) -> str:
        """The namespace builds run in: the one given, else the context's, else ``default``."""
        if self._namespace is None:
            self._namespace = context_namespace(self.cluster) or "default"
        return self._namespace

    # -- Builder ------------------------------------------------------------------------
    def check(self, run: Run) -> None:
        if not run.spec.docker_image and not run.spec.uri:
            raise InvalidInput(NEEDS_SOURCE, field="uri")

    def start(self, run: Run, plan: BuildPlan) -> BuildResult:
        """Upload the context and create the Kaniko Job (or adopt the one a retry finds).

        ``ready`` when the registry has the tag; ``failed`` for a plan that cannot be built
        or a Job the cluster refuses. Raises BackendUnavailable.
        """
        if self.registry.exists(plan.tag):
            return BuildResult(
                state="ready", image_uri=plan.image_uri, detail="image already in the registry"
            )
        try:
            job = self._describe(run, plan)
            build_id = f"{job.namespace}/{job.name}"
            try:
                found = self.client.get(*JOB, job.namespace, job.name)
            except NotFound:
                found = self._create(job, Path(plan.context_dir))
        except (InvalidInput, LaunchFailed) as exc:
            return BuildResult(state="failed", image_uri=plan.image_uri, detail=str(exc))
        self._own_docker_config(job, found)
        self._watch.follow()
        return BuildResult(state="building", build_id=build_id, image_uri=plan.image_uri)

    def watch(self, notify: BuildNotice | None) -> None:
        """Report each build's end as its Job's condition turns (``kaniko_watch``)."""
        self._watch.listen(notify)

    def status(self, run: Run, build_id: str) -> BuildResult:
        where = _BUILD_ID.match(build_id)
        if where is None:
            return BuildResult(
                state="failed", build_id=build_id, detail=f"not a kaniko build id: {build_id!r}"
            )
        remembered = self._ended.get(build_id)
        if remembered is not None:
            return remembered[0]
        namespace, name = where["ns"], where["name"]
        try:
            job = self.client.get(*JOB, namespace, name)
        except NotFound:
            return self._judged_from_events(namespace, name, build_id)
        image = str((job.get("metadata", {}).get("annotations") or {}).get(IMAGE_ANNOTATION, ""))
        ended = ended_condition(job)
        if ended is None:
            return BuildResult(state="building", build_id=build_id, image_uri=image)
        log = self._pod_log(namespace, name)
        if ended["type"] == "Complete":
            result = BuildResult(state="ready", build_id=build_id, image_uri=image)
        else:
            why = ": ".join(str(ended.get(k)) for k in ("reason", "message") if ended.get(k))
            detail = f"Kaniko build {name} failed ({why or 'no reason given'})"
            tail = _tail(log)
            result = BuildResult(
                state="failed",
                build_id=build_id,
                image_uri=image,
                detail=f"{detail}:\n{tail}" if tail else detail,
            )
        self._clean_up(namespace, name, job)  # first: a failed clean-up is retried by the next poll
        self._remember(build_id, result, log)
        return result

    def logs(self, run: Run, build_id: str, offset: int = 0) -> tuple[str, int]:
        """Log lines from line ``offset`` on (each ending in a newline) and the next offset."""
        if offset < 0:
            raise InvalidInput("must be 0 or more", field="offset")
        where = _BUILD_ID.match(build_id)
        if where is None:
            return "", offset
        remembered = self._ended.get(build_id)
        text = remembered[1] if remembered is not None else self._pod_log(where["ns"], where["name"])
        lines = text.splitlines(keepends=True)[offset:]
        chunk = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return chunk, offset + len(lines)

    # -- helpers ------------------------------------------------------------------------
    def _describe(self, run: Run, plan: BuildPlan) -> KanikoJob:
        """This build's Job facts. Raises InvalidInput (a Dockerfile outside the context, ...)."""
        context = Path(plan.context_dir)
        if not context.is_dir():
            raise InvalidInput(f"{context} is not a directory", field="context_dir")
        dockerfile = dockerfile_in_context(context, plan.dockerfile)
        name = kaniko_job_name(self.build_job_name, run.id, plan)
        host = plan.image_uri.split("/", 1)[0]
        ecr = _ECR_HOST.match(host)
        return KanikoJob(
            name=name,
            namespace=self.namespace,
            run_id=run.id,
            image=self.kaniko_image,
            context_url=self.store.url(name),
            context_secrets=self.store.kaniko_secrets(),
            dockerfile=dockerfile,
            destination=plan.image_uri,
            platform=plan.platform,
            registry_kind=self.registry.type,
            registry_host=host,
            insecure=isinstance(self.registry, OciRegistry) and self.registry.insecure,
            region=ecr["region"] if ecr else self.region,
            secret_name=self.secret_name,
            secret_key=self.secret_key,
            skeleton=self.kaniko_config,
        )

    def _create(self, job: KanikoJob, context: Path) -> dict[str, Any]:
        """Upload the context, then create the Job (a Job a racing retry made is adopted).

        Raises LaunchFailed (the context cannot be packed, the cluster refuses the Job; the
        context is then deleted), InvalidInput, BackendUnavailable.
        """
        body = kaniko_job(job)
        with packed_context(context) as archive:
            self.store.upload(archive, job.name)
        try:
            return self.client.create(*JOB, job.namespace, body, LaunchFailed)
        except AlreadyExists:
            return self.client.get(*JOB, job.namespace, job.name)
        except LaunchFailed:
            self.store.delete(job.context_url)
            raise

    def _own_docker_config(self, job: KanikoJob, owner: dict[str, Any]) -> None:
        """Create launchq's Docker-config Secret, owned by the Job (kept if a retry made it)."""
        secret = docker_config_secret(job, owner)
        if secret is None:
            return
        with contextlib.suppress(AlreadyExists):
            self.client.create("v1", "Secret", job.namespace, secret, LaunchFailed)

    def _pod_log(self, namespace: str, name: str) -> str:
        """The Kaniko container's log of the build's newest started pod ("" before it starts)."""
        pods = self.client.list("v1", "Pod", namespace, label_selector=f"{BUILD_LABEL}={name}")
        started = [p for p in pods if (p.get("status") or {}).get("phase") not in (None, "Pending")]
        if not started:
            return ""
        newest = max(started, key=lambda p: str(p.get("metadata", {}).get("creationTimestamp") or ""))
        try:
            return self.client.pod_log(namespace, newest["metadata"]["name"], CONTAINER)
        except NotFound:
            return ""

    def _judged_from_events(self, namespace: str, name: str, build_id: str) -> BuildResult:
        """A Job already deleted (by another process, or its TTL): its controller's last event."""
        events = self.client.list("v1", "Event", namespace, field_selector=f"involvedObject.name={name}")
        for event in reversed(events):
            reason = str(event.get("reason") or "")
            if reason == "Completed":
                return BuildResult(state="ready", build_id=build_id)
            if event.get("type") == "Warning" and reason:
                detail = f"Kaniko build {name} failed ({reason}: {event.get('message') or ''})"
                return BuildResult(state="failed", build_id=build_id, detail=detail)
        return BuildResult(state="failed", build_id=build_id, detail=f"build job not found: {build_id}")

    def _remember(self, build_id: str, result: BuildResult, log: str) -> None:
        with self._lock:
            self._ended[build_id] = (result, log)
            while len(self._ended) > _REMEMBERED:
                self._ended.popitem(last=False)

    def _clean_up(self, namespace: str, name: str, job: dict[str, Any]) -> None:
        """Delete the Job (with its pods and Secret) and its context. Idempotent."""
        with contextlib.suppress(NotFound):
            self.client.delete(*JOB, namespace, name)
        context = (job.get("metadata", {}).get("annotations") or {}).get(CONTEXT_ANNOTATION)
        if context:
            self.store.delete(str(context))
