"""The Vertex AI target at the client boundary (no Vertex AI emulator exists).

The client is the package's ``FakeJobService``: it takes requests as Google's generated
``JobServiceClient`` does, records them as the SDK's own request messages, answers with
``aiplatform_v1.CustomJob`` messages and raises ``google.api_core`` exceptions. The configs
are shaped as W&B's "Set up Vertex AI" page writes them (``spec.worker_pool_specs`` with
``machine_spec`` / ``replica_count`` / ``container_spec.image_uri: ${image_uri}``,
``spec.staging_bucket``, ``run.restart_job_on_worker_restart``). One test drives Google's own
``JobServiceClient`` over REST against the JobService REST stand-in (``tests/gcp_functions_server``),
so the request shapes and the REST transport's errors (FAILED_PRECONDITION arrives as HTTP 400)
are the SDK's. Cloud Logging is read over real HTTP (a loopback server) for its errors.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import requests
from google.api_core import exceptions as api
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1 import JobServiceClient, JobState

from launchq.adapters.targets import vertex_logs
from launchq.adapters.targets.vertex import VertexTarget
from launchq.adapters.targets.vertex_fake import FakeJobService
from launchq.adapters.targets.vertex_logs import CloudLoggingReader
from launchq.adapters.targets.vertex_status import STATES, job_id_of_event, job_status
from launchq.config.macros import MacroValues, substitute_macros
from launchq.domain.launch_config import LaunchConfig
from launchq.domain.models import QueueSettings, Run, RunSpec
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed
from launchq.local.build_wiring import cloud_targets
from launchq.ports import TargetState
from launchq.service.queues import check_config_fits_target
from tests.gcp_functions_server import vertex_rest_server
from tests.loopback_http import LoopbackServer, QuietHandler

PROJECT, LOCATION = "launchq-test", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
IMAGE = "us-central1-docker.pkg.dev/launchq-test/train/fit:3f2a"
FIELD = "resource_args.vertex"

# The queue config of W&B's Vertex AI page, as a user pastes it.
WANDB_QUEUE_CONFIG: dict[str, Any] = {
    "spec": {
        "worker_pool_specs": [
            {
                "machine_spec": {
                    "machine_type": "n1-standard-4",
                    "accelerator_type": "ACCELERATOR_TYPE_UNSPECIFIED",
                    "accelerator_count": 0,
                },
                "replica_count": 1,
                "container_spec": {"image_uri": "${image_uri}"},
            }
        ],
        "staging_bucket": "gs://launchq-staging",
    },
    "run": {"restart_job_on_worker_restart": False},
}


@pytest.fixture
def jobs() -> FakeJobService:
    return FakeJobService()


@pytest.fixture
def target(jobs: FakeJobService) -> VertexTarget:
    return VertexTarget(PROJECT, LOCATION, job_client=jobs)


def _run(config: dict[str, Any] | None = None, *, preemptions: int = 0, **spec: Any) -> Run:
    now = datetime.now(UTC)
    resolved = copy.deepcopy(WANDB_QUEUE_CONFIG if config is None else config)
    fields = {"docker_image": IMAGE, "entry_point": ["python", "train.py"]} | spec
    run = Run(
        id="3f2a9c0e1b7d4a55",
        queue="gpu",
        entity="team",
        spec=RunSpec(**fields),
        resolved=resolved,
        preemptions=preemptions,
        created_at=now,
        updated_at=now,
    )
    # As the dispatcher hands a run to its target: macros substituted with the run's image.
    values = MacroValues(image_uri=run.spec.docker_image or "", run_id=run.id, queue_name=run.queue)
    return run.model_copy(update={"resolved": substitute_macros(run.resolved, values)})


def _launched(target: VertexTarget, run: Run) -> Run:
    return run.model_copy(update={"handle": target.submit(run)})


def _pool(**container: Any) -> dict[str, Any]:
    return {"machine_spec": {"machine_type": "n1-standard-4"}, "container_spec": container}


def _config(spec: dict[str, Any] | None = None, run: dict[str, Any] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(WANDB_QUEUE_CONFIG)
    config["spec"].update(spec or {})
    config["run"].update(run or {})
    return config


# -- the request -------------------------------------------------------------------------------
def test_the_wandb_docs_config_becomes_one_custom_job_with_the_runs_image_and_entry_point(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    # GIVEN W&B's documented queue config, whose container names ${image_uri}
    run = _run(args=["--epochs", "5"], env={"LR": "0.1"})
    target.validate(run.spec, WANDB_QUEUE_CONFIG)
    # WHEN the run is submitted
    handle = target.submit(run)
    # THEN exactly one CreateCustomJob went to the project and location
    (request,) = jobs.calls("create_custom_job")
    assert request["parent"] == PARENT
    job = request["custom_job"]
    (pool,) = job["job_spec"]["worker_pool_specs"]
    # (no accelerator: ACCELERATOR_TYPE_UNSPECIFIED and a count of 0 are protobuf's defaults)
    assert pool["machine_spec"] == {"machine_type": "n1-standard-4"}
    assert pool["replica_count"] == "1"  # int64, as protobuf's JSON form spells it
    container = pool["container_spec"]
    assert container["image_uri"] == IMAGE
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--epochs", "5"]
    env = {var["name"]: var["value"] for var in container["env"]}
    assert env["LR"] == "0.1"
    assert env["LAUNCHQ_RUN_ID"] == env["WANDB_RUN_ID"] == run.id
    assert env["WANDB_LAUNCH_QUEUE_NAME"] == "gpu"
    # AND the output goes under the staging bucket, in a directory of the run's own
    assert job["job_spec"]["base_output_directory"] == {
        "output_uri_prefix": f"gs://launchq-staging/launchq/{run.id}"
    }
    # AND the job carries the run in its display name and labels, and the handle names it
    assert job["display_name"] == f"launchq-{run.id}"
    assert job["labels"] == {"launchq-run-id": run.id, "launchq-attempt": "0", "launchq-queue": "gpu"}
    assert handle["job_name"] == next(iter(jobs.jobs))
    assert handle["job_name"].startswith(f"{PARENT}/customJobs/")


def test_a_container_without_image_uri_runs_the_runs_image_in_every_pool(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    config = _config({"worker_pool_specs": [_pool(), _pool(command=["python", "worker.py"])]})
    target.submit(_run(config, entry_point=[]))
    pools = jobs.calls("create_custom_job")[0]["custom_job"]["job_spec"]["worker_pool_specs"]
    assert [pool["container_spec"]["image_uri"] for pool in pools] == [IMAGE, IMAGE]
    # a run without its own entry point keeps each container's command
    assert "command" not in pools[0]["container_spec"]
    assert pools[1]["container_spec"]["command"] == ["python", "worker.py"]


def test_a_run_with_no_image_anywhere_is_refused_naming_docker_image(target: VertexTarget) -> None:
    config = _config({"worker_pool_specs": [_pool()]})
    run = _run(config, docker_image=None)
    with pytest.raises(InvalidInput) as caught:
        target.validate(run.spec, run.resolved)
    assert caught.value.field == "docker_image"
    with pytest.raises(LaunchFailed, match=r"needs an image"):
        target.submit(run)


def test_wandb_run_arguments_reach_the_job_spec_and_scheduling(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run_args = {
        "timeout": 3600,
        "service_account": "trainer@launchq-test.iam.gserviceaccount.com",
        "network": "projects/12345/global/networks/train",
        "enable_web_access": True,
        "tensorboard": f"{PARENT}/tensorboards/77",
        "restart_job_on_worker_restart": True,
        "scheduling_strategy": "SPOT",
        "max_wait_duration": "1800s",
        "sync": True,  # W&B's "wait in the submit call": launchq never waits, and says nothing
    }
    spec = {
        "labels": {"team": "vision"},
        "encryption_spec_key_name": "projects/p/locations/l/keyRings/r/cryptoKeys/k",
    }
    target.submit(_run(_config(spec, run_args)))
    job = jobs.calls("create_custom_job")[0]["custom_job"]
    job_spec = job["job_spec"]
    assert job_spec["scheduling"] == {
        "timeout": "3600s",
        "restart_job_on_worker_restart": True,
        "strategy": "SPOT",
        "max_wait_duration": "1800s",
    }
    assert job_spec["service_account"] == run_args["service_account"]
    assert job_spec["network"] == run_args["network"]
    assert job_spec["enable_web_access"] is True
    assert job_spec["tensorboard"] == run_args["tensorboard"]
    assert job["labels"]["team"] == "vision"
    assert job["encryption_spec"] == {"kms_key_name": spec["encryption_spec_key_name"]}


def test_base_output_dir_wins_and_the_targets_staging_bucket_is_the_fallback(jobs: FakeJobService) -> None:
    target = VertexTarget(PROJECT, LOCATION, job_client=jobs, staging_bucket="gs://deployment-bucket/")
    config = {"spec": {"worker_pool_specs": [_pool()]}}
    target.submit(_run(config))
    target.submit(_run(_config({"base_output_dir": "gs://out/run"}), preemptions=1))
    prefixes = [
        call["custom_job"]["job_spec"]["base_output_directory"]["output_uri_prefix"]
        for call in jobs.calls("create_custom_job")
    ]
    assert prefixes == ["gs://deployment-bucket/launchq/3f2a9c0e1b7d4a55", "gs://out/run"]


def test_no_staging_bucket_anywhere_is_refused_naming_it(target: VertexTarget) -> None:
    run = _run({"spec": {"worker_pool_specs": [_pool()]}})
    with pytest.raises(InvalidInput) as caught:
        target.validate(run.spec, run.resolved)
    assert caught.value.field == f"{FIELD}.spec.staging_bucket"


def test_a_users_value_for_launchqs_variable_wins_and_the_handle_says_so(target: VertexTarget) -> None:
    config = _config({"worker_pool_specs": [_pool(env=[{"name": "WANDB_PROJECT", "value": "mine"}])]})
    handle = target.submit(_run(config))
    assert (
        "WANDB_PROJECT set by resource_args.vertex.spec.worker_pool_specs[0].container_spec.env"
        in handle["note"]
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda c: c["spec"].pop("worker_pool_specs"), "spec.worker_pool_specs", "Field required"),
        (lambda c: c["spec"].update(worker_pool_specs=[]), "spec.worker_pool_specs", "at least 1"),
        (
            lambda c: c["spec"]["worker_pool_specs"][0]["machine_spec"].pop("machine_type"),
            "spec.worker_pool_specs.0.machine_spec.machine_type",
            "Field required",
        ),
        (
            lambda c: c["spec"]["worker_pool_specs"][0].update(replica_count=0),
            "spec.worker_pool_specs.0.replica_count",
            "greater than or equal to 1",
        ),
        (
            lambda c: c["spec"]["worker_pool_specs"][0].update(python_package_spec={}),
            "spec.worker_pool_specs.0.python_package_spec",
            "give container_spec",
        ),
        (lambda c: c["spec"].update(staging_bucket="s3://not-gcs"), "spec.staging_bucket", "pattern"),
        (lambda c: c["spec"].update(labels={"Team": "x"}), "spec.labels", "lower-case"),
        (lambda c: c["run"].update(timeout=-1), "run.timeout", "greater than 0"),
        (lambda c: c["run"].update(experiment="exp"), "run.experiment", "Experiments are not supported"),
        (lambda c: c["run"].update(scheduling_strategy="CHEAP"), "run.scheduling_strategy", "SPOT"),
        (lambda c: c["run"].update(servce_account="typo@x"), "run.servce_account", "unknown key"),
        (lambda c: c.update(run=[]), "run", "valid dictionary"),
        (
            lambda c: c["spec"]["worker_pool_specs"][0]["machine_spec"].update(
                accelerator_type="NVIDIA_NOPE"
            ),
            "spec.worker_pool_specs[0].machine_spec.accelerator_type",
            "not a Vertex AI accelerator type",
        ),
    ],
)
def test_a_bad_shape_is_refused_naming_the_field(
    target: VertexTarget, jobs: FakeJobService, change: Any, field: str, words: str
) -> None:
    config = copy.deepcopy(WANDB_QUEUE_CONFIG)
    change(config)
    with pytest.raises(InvalidInput) as caught:
        target.validate(RunSpec(docker_image=IMAGE), config)
    assert caught.value.field == f"{FIELD}.{field}"
    assert words in caught.value.detail
    # AND at submit the same mistake is a LaunchFailed, and nothing reaches Vertex AI
    with pytest.raises(LaunchFailed):
        target.submit(_run(config))
    assert jobs.requests == []


def test_the_wrapped_spelling_and_macros_in_labels_are_accepted_at_enqueue(target: VertexTarget) -> None:
    config = _config({"labels": {"run": "${run_id}"}})
    target.validate(RunSpec(docker_image=IMAGE), {"vertex": config})
    target.validate(RunSpec(docker_image=IMAGE), {"gcp-vertex": config})  # W&B's older spelling


def test_a_queue_config_typo_is_blamed_on_the_queue_config(target: VertexTarget) -> None:
    config = _config(run={"restart_job_on_worker_restarts": True})
    with pytest.raises(InvalidInput) as caught:
        check_config_fits_target(QueueSettings(resource="vertex", config=config), target)
    assert caught.value.field == "config.run.restart_job_on_worker_restarts"


# -- adoption ------------------------------------------------------------------------------------
def test_a_repeated_submit_adopts_the_job_its_attempt_created(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _run()
    first = target.submit(run)
    again = target.submit(run)
    assert again == first
    assert len(jobs.calls("create_custom_job")) == 1
    (listed,) = jobs.calls("list_custom_jobs")[1:]
    assert listed == {"parent": PARENT, "filter": f'display_name="launchq-{run.id}"'}


def test_a_requeued_attempt_gets_its_own_job(target: VertexTarget, jobs: FakeJobService) -> None:
    first = target.submit(_run())
    second = target.submit(_run(preemptions=1))
    assert second["job_name"] != first["job_name"]
    job = jobs.calls("create_custom_job")[1]["custom_job"]
    assert job["display_name"].endswith("-a1")
    assert job["labels"]["launchq-attempt"] == "1"


def test_a_job_of_the_same_display_name_but_another_runs_labels_is_not_adopted(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _run()
    foreign = {"display_name": f"launchq-{run.id}", "labels": {"launchq-run-id": "someone-else"}}
    jobs.create_custom_job(request={"parent": PARENT, "custom_job": foreign})
    handle = target.submit(run)
    assert handle["job_name"] != next(iter(jobs.jobs))
    assert len(jobs.jobs) == 2


# -- states --------------------------------------------------------------------------------------
EXPECTED: dict[str, TargetState] = {
    "JOB_STATE_UNSPECIFIED": "starting",
    "JOB_STATE_QUEUED": "starting",
    "JOB_STATE_PENDING": "starting",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "finished",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_CANCELLED": "stopped",
    "JOB_STATE_PAUSED": "running",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "failed",
}


@pytest.mark.parametrize("state", list(JobState), ids=lambda state: state.name)
def test_every_job_state_of_the_sdk_maps_to_a_target_state(
    target: VertexTarget, jobs: FakeJobService, state: JobState
) -> None:
    # GIVEN a job Vertex AI reports in this state
    run = _launched(target, _run())
    jobs.set_state(run.handle["job_name"], state, error="quota 'GPUS' exceeded" if state in (5, 9) else "")
    # WHEN its status is read  THEN it is a known TargetState, the one chosen for it, never unknown
    status = target.status(run)
    assert STATES[int(state)][0] == state.name  # the table is keyed as the SDK numbers states
    assert status.state in get_args(TargetState)
    assert status.state == EXPECTED[state.name]
    assert status.detail


def test_a_cancelled_job_is_stopped_and_an_expired_one_failed_with_its_reason(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _launched(target, _run())
    jobs.set_state(run.handle["job_name"], JobState.JOB_STATE_EXPIRED, error="no SPOT capacity within 1800s")
    assert target.status(run).model_dump(include={"state", "detail"}) == {
        "state": "failed",
        "detail": "expired: no SPOT capacity within 1800s",
    }
    jobs.set_state(
        run.handle["job_name"],
        JobState.JOB_STATE_FAILED,
        error="The replica workerpool0-0 exited with a non-zero status of 1.",
    )
    assert target.status(run).detail == "The replica workerpool0-0 exited with a non-zero status of 1."
    jobs.set_state(run.handle["job_name"], JobState.JOB_STATE_CANCELLED)
    assert target.status(run).state == "stopped"


def test_paused_and_updating_are_still_running_and_say_so() -> None:
    assert job_status(JobState.JOB_STATE_PAUSED).model_dump(include={"state", "detail"}) == {
        "state": "running",
        "detail": "paused by Vertex AI; the job resumes where it was",
    }
    assert job_status(JobState.JOB_STATE_UPDATING).detail == "Vertex AI is updating the job"
    assert job_status(99).model_dump(include={"state", "detail"}) == {
        "state": "running",
        "detail": "unrecognised Vertex AI job state 99",
    }


def test_a_job_vertex_does_not_know_is_lost(target: VertexTarget) -> None:
    run = _run().model_copy(update={"handle": {"job_name": f"{PARENT}/customJobs/42"}})
    status = target.status(run)
    assert status.state == "lost"
    assert "customJobs/42" in status.detail


# -- stop ----------------------------------------------------------------------------------------
def test_stop_cancels_the_job_and_a_second_stop_is_quiet(target: VertexTarget, jobs: FakeJobService) -> None:
    run = _launched(target, _run())
    target.stop(run)
    target.stop(run)  # Vertex AI refuses (FailedPrecondition): the job is cancelling already
    assert jobs.calls("cancel_custom_job") == [{"name": run.handle["job_name"]}] * 2
    assert target.status(run).state == "running"  # cancelling
    jobs.advance(run.handle["job_name"])
    assert target.status(run).state == "stopped"


def test_stop_of_an_ended_or_unknown_job_needs_nothing(target: VertexTarget, jobs: FakeJobService) -> None:
    run = _launched(target, _run())
    jobs.set_state(run.handle["job_name"], JobState.JOB_STATE_SUCCEEDED)
    target.stop(run)
    target.stop(run.model_copy(update={"handle": {"job_name": f"{PARENT}/customJobs/42"}}))
    target.stop(_run())  # no handle at all


def test_a_refused_cancel_of_a_job_still_running_is_backend_unavailable(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _launched(target, _run())
    jobs.set_state(run.handle["job_name"], JobState.JOB_STATE_RUNNING)
    jobs.fail_next("cancel_custom_job", api.FailedPrecondition("the job is being updated"))
    with pytest.raises(BackendUnavailable, match=r"CancelCustomJob .* failed: FailedPrecondition"):
        target.stop(run)


# -- errors at the one Google SDK edge -----------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            api.InvalidArgument("worker_pool_specs[0].machine_spec.machine_type is not supported"),
            LaunchFailed,
        ),
        (api.PermissionDenied("aiplatform.customJobs.create denied"), LaunchFailed),
        (api.ServiceUnavailable("failed to connect to all addresses"), BackendUnavailable),
        (api.ResourceExhausted("too many requests"), BackendUnavailable),
    ],
)
def test_create_errors_are_translated_with_googles_words(
    target: VertexTarget, jobs: FakeJobService, exc: Exception, kind: type[Exception]
) -> None:
    jobs.fail_next("create_custom_job", exc)
    with pytest.raises(kind) as caught:
        target.submit(_run())
    assert type(caught.value) is kind
    assert f"CreateCustomJob in {PARENT} failed: {type(exc).__name__}: " in str(caught.value)
    assert jobs.jobs == {}


def test_status_when_vertex_is_unreachable_is_backend_unavailable(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _launched(target, _run())
    jobs.fail_next("get_custom_job", api.ServiceUnavailable("connection reset"))
    with pytest.raises(BackendUnavailable):
        target.status(run)


# -- logs (Cloud Logging entries.list) -------------------------------------------------------------
def _with_logs(jobs: FakeJobService, reader: CloudLoggingReader) -> VertexTarget:
    return VertexTarget(PROJECT, LOCATION, job_client=jobs, logs=reader)


def test_logs_are_the_jobs_cloud_logging_entries_from_the_offset_on(jobs: FakeJobService) -> None:
    session = jobs.logging_session()
    target = _with_logs(jobs, CloudLoggingReader(PROJECT, session=session))
    run = _launched(target, _run())
    for line in ("epoch 1 loss 0.5", "epoch 2 loss 0.25\n"):
        jobs.log(run.handle["job_name"], line)
    text, following = target.logs(run, 0)
    assert text == "Waiting for job to be provisioned.\nepoch 1 loss 0.5\nepoch 2 loss 0.25\n"
    assert following == 3
    assert target.logs(run, following) == ("", 3)
    jobs.log(run.handle["job_name"], "done")
    assert target.logs(run, following) == ("done\n", 4)
    job_id = run.handle["job_name"].rsplit("/", 1)[1]
    assert session.bodies[0] == {
        "resourceNames": [f"projects/{PROJECT}"],
        "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
        "orderBy": "timestamp asc",
        "pageSize": 1000,
    }
    with pytest.raises(InvalidInput) as caught:
        target.logs(run, -1)
    assert caught.value.field == "offset"
    assert target.logs(_run(), 5) == ("", 5)  # no job yet


def test_logs_follow_every_page(jobs: FakeJobService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vertex_logs, "PAGE_SIZE", 2)
    session = jobs.logging_session()
    target = _with_logs(jobs, CloudLoggingReader(PROJECT, session=session))
    run = _launched(target, _run())
    for n in range(4):
        jobs.log(run.handle["job_name"], f"line {n}")
    text, following = target.logs(run, 2)
    assert text == "line 1\nline 2\nline 3\n"
    assert following == 5
    assert [body.get("pageToken") for body in session.bodies] == [None, "2", "4"]


class _LoggingRefuses(QuietHandler):
    def do_POST(self) -> None:
        self.read_body()
        error = {
            "code": 403,
            "message": "Permission 'logging.logEntries.list' denied",
            "status": "PERMISSION_DENIED",
        }
        self.answer(403, {"content-type": "application/json"}, json.dumps({"error": error}).encode())


def test_a_cloud_logging_refusal_over_http_is_backend_unavailable_with_googles_words(
    jobs: FakeJobService,
) -> None:
    with LoopbackServer(_LoggingRefuses) as server:
        target = _with_logs(
            jobs, CloudLoggingReader(PROJECT, endpoint=server.url, session=requests.Session())
        )
        run = _launched(target, _run())
        with pytest.raises(BackendUnavailable) as caught:
            target.logs(run, 0)
    assert "Cloud Logging entries.list for launchq-test failed: Forbidden" in str(caught.value)
    assert "logging.logEntries.list" in str(caught.value)


def test_cloud_logging_not_answering_is_backend_unavailable(jobs: FakeJobService) -> None:
    with LoopbackServer(QuietHandler) as server:
        url = server.url  # closed when the block ends: nothing listens there any more
    target = _with_logs(jobs, CloudLoggingReader(PROJECT, endpoint=url, session=requests.Session()))
    with pytest.raises(BackendUnavailable, match=r"Cloud Logging entries.list failed"):
        target.logs(_launched(target, _run()), 0)


# -- the default client --------------------------------------------------------------------------
def test_the_module_imports_nothing_from_google(tmp_path: Path) -> None:
    # (the SDK's namespace-package .pth files put bare ``google`` / ``google.cloud`` in place at start-up)
    code = (
        "import sys; before = set(sys.modules); import launchq.adapters.targets.vertex as v; "
        "v.VertexTarget('p', 'us-central1'); "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'google'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert shown.stdout.strip() == "[]"


def test_the_default_client_speaks_to_the_regional_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Application Default Credentials of a user (a file read locally, no call is made)
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps({"type": "authorized_user", "client_id": "id", "client_secret": "s", "refresh_token": "r"})
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    client = VertexTarget(PROJECT, "europe-west4").client
    assert client.api_endpoint == "europe-west4-aiplatform.googleapis.com"


def test_no_credentials_is_backend_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(
        BackendUnavailable, match=r"building the Vertex AI client failed: DefaultCredentialsError"
    ):
        VertexTarget(PROJECT, LOCATION).status(_run().model_copy(update={"handle": {"job_name": "x"}}))


# -- events --------------------------------------------------------------------------------------
def test_a_job_id_is_read_from_an_audit_log_or_a_job_log_entry_and_leads_to_its_run(
    target: VertexTarget, jobs: FakeJobService
) -> None:
    run = _launched(target, _run())
    job_id = run.handle["job_name"].rsplit("/", 1)[1]
    audit = {
        "protoPayload": {
            "serviceName": "aiplatform.googleapis.com",
            "methodName": "google.cloud.aiplatform.v1.JobService.CancelCustomJob",
            "resourceName": run.handle["job_name"],
        }
    }
    entry = {"resource": {"type": "ml_job", "labels": {"job_id": job_id, "project_id": PROJECT}}}
    assert job_id_of_event(audit) == job_id_of_event(entry) == job_id
    assert target.run_id_of_job(job_id) == run.id
    assert target.run_id_of_job("42") is None
    other = {
        "protoPayload": {"serviceName": "storage.googleapis.com", "resourceName": run.handle["job_name"]}
    }
    assert job_id_of_event(other) is None
    assert job_id_of_event({"resource": {"type": "gce_instance"}}) is None


# -- local mode ----------------------------------------------------------------------------------
def test_local_mode_offers_vertex_for_a_wandb_gcp_environment() -> None:
    config = LaunchConfig.model_validate(
        {"environment": {"type": "gcp", "region": "europe-west4", "project": "p1"}}
    )
    (target,) = cloud_targets(config)
    assert isinstance(target, VertexTarget)
    assert (target.project, target.location, target.parent) == (
        "p1",
        "europe-west4",
        "projects/p1/locations/europe-west4",
    )
    # without a project (W&B allows it for registries only) nothing is offered
    bare = LaunchConfig.model_validate({"environment": {"type": "gcp", "region": "europe-west4"}})
    assert cloud_targets(bare) == []


# -- the SDK's own client over REST ----------------------------------------------------------------
def test_the_sdks_rest_client_against_the_job_service_stand_in_submits_adopts_and_stops() -> None:
    # GIVEN Google's JobServiceClient (REST transport) on the JobService REST stand-in
    with vertex_rest_server() as (url, jobs):
        client = JobServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": url}
        )
        target = VertexTarget(PROJECT, LOCATION, job_client=client)
        run = _run()
        # WHEN the run is submitted twice  THEN one job exists, adopted by the second submit
        first = target.submit(run)
        assert target.submit(run) == first
        assert len(jobs.jobs) == 1
        launched = run.model_copy(update={"handle": first})
        assert target.status(launched).state == "starting"
        # AND a stop cancels it; a second stop, refused over REST as HTTP 400, is quiet
        target.stop(launched)
        target.stop(launched)
        jobs.advance(first["job_name"])
        assert target.status(launched).state == "stopped"
    assert len(jobs.calls("cancel_custom_job")) == 2
