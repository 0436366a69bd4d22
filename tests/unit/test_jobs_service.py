"""Launch jobs in the service: versions, runs filled from a job, run_config against its schema.

Against the in-memory store and the package's fake target (as the other service tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launchq.adapters.code_stores.memory import MemoryCodeStore
from launchq.bootstrap import Services
from launchq.build.tarball import pack_context
from launchq.domain.jobs import JobSource, JobSpec
from launchq.domain.models import RunSpec
from launchq.errors import Conflict, InvalidInput, NotFound
from launchq.service.queues import QueueCreate
from launchq.service.runs import request_hash
from tests.unit.fakes import Clock, FakeTarget, services

SCHEMA = {
    "type": "object",
    "properties": {"lr": {"type": "number"}, "epochs": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}


def train_job(**fields: object) -> JobSpec:
    body: dict[str, object] = {
        "name": "train",
        "source": {"uri": "/src/examples"},
        "entry_point": ["python", "train.py"],
        "args": ["--epochs", "5"],
        "env": {"MODE": "job", "SEED": "1"},
        "input_schema": SCHEMA,
        **fields,
    }
    return JobSpec.model_validate(body)


@pytest.fixture
def svc() -> Services:
    world = services(FakeTarget(), Clock())
    world.queues.create(QueueCreate(name="q", resource="local-process", max_jobs=-1))
    return world


def test_each_create_is_the_next_version_and_latest_moves(svc: Services) -> None:
    first = svc.jobs.create(train_job())
    second = svc.jobs.create(train_job(args=["--epochs", "9"]))

    assert (first.version, second.version) == (1, 2)
    assert svc.jobs.resolve("train").version == 2
    assert svc.jobs.resolve("train:latest").args == ["--epochs", "9"]
    assert svc.jobs.resolve("train:v1").args == ["--epochs", "5"]
    assert svc.jobs.resolve("train:1").version == 1  # W&B users also type NAME:N
    assert [job.version for job in svc.jobs.versions("train")] == [2, 1]
    assert [job.ref for job in svc.jobs.all()] == ["train:v2"]


def test_a_run_from_a_job_is_filled_from_it_and_records_the_version(svc: Services) -> None:
    svc.jobs.create(train_job())

    run, created = svc.runs.enqueue("q", RunSpec(job="train"))

    assert created
    assert run.job == "train:v1"
    assert run.spec.job == "train"  # the request as sent
    assert run.spec.uri == "/src/examples"
    assert run.spec.entry_point == ["python", "train.py"]
    assert run.spec.args == ["--epochs", "5"]
    assert run.spec.env == {"MODE": "job", "SEED": "1"}
    assert svc.runs.get(run.id).job == "train:v1"


def test_the_runs_own_entry_point_args_and_env_win_over_the_jobs(svc: Services) -> None:
    svc.jobs.create(train_job())

    run, _ = svc.runs.enqueue(
        "q", RunSpec(job="train:v1", entry_point=["python", "eval.py"], args=["--fast"], env={"MODE": "run"})
    )

    assert run.spec.entry_point == ["python", "eval.py"]
    assert run.spec.args == ["--fast"]
    assert run.spec.env == {"MODE": "run", "SEED": "1"}


def test_run_config_is_checked_against_the_schema_and_reaches_the_job_as_wandb_config(svc: Services) -> None:
    svc.jobs.create(train_job())

    run, _ = svc.runs.enqueue("q", RunSpec(job="train", run_config={"lr": 0.1, "epochs": 3}))

    assert json.loads(run.spec.env["WANDB_CONFIG"]) == {"lr": 0.1, "epochs": 3}
    assert run.spec.run_config == {"lr": 0.1, "epochs": 3}


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"lr": "x"}, "run_config.lr", "'x' is not of type 'number'"),
        ({"epochs": 0}, "run_config.epochs", "0 is less than the minimum of 1"),
        ({"batch": 8}, "run_config", "'batch' was unexpected"),
    ],
)
def test_a_run_config_the_schema_refuses_names_its_path_and_stores_nothing(
    svc: Services, config: dict[str, object], field: str, words: str
) -> None:
    svc.jobs.create(train_job())

    with pytest.raises(InvalidInput) as refused:
        svc.runs.enqueue("q", RunSpec(job="train", run_config=config))

    assert refused.value.field == field
    assert words in refused.value.detail
    assert svc.runs.find("q") == []


def test_a_schema_with_required_inputs_refuses_a_run_without_config(svc: Services) -> None:
    svc.jobs.create(train_job(input_schema={**SCHEMA, "required": ["lr"]}))

    with pytest.raises(InvalidInput) as refused:
        svc.runs.enqueue("q", RunSpec(job="train"))

    assert (refused.value.field, refused.value.detail) == ("run_config", "'lr' is a required property")


@pytest.mark.parametrize(
    "source", [{"uri": "/elsewhere"}, {"git_version": "main"}, {"docker_image": "busybox:1"}]
)
def test_a_source_given_with_a_job_is_refused(svc: Services, source: dict[str, str]) -> None:
    svc.jobs.create(train_job())

    with pytest.raises(InvalidInput) as refused:
        svc.runs.enqueue("q", RunSpec(job="train", **source))

    assert refused.value.field == "job"
    assert f"leave {next(iter(source))} unset" in refused.value.detail
    assert svc.runs.find("q") == []


def test_an_unknown_job_or_version_is_not_found_and_a_bad_reference_is_invalid(svc: Services) -> None:
    svc.jobs.create(train_job())

    for ref in ("nope", "train:v2"):
        with pytest.raises(NotFound) as missing:
            svc.runs.enqueue("q", RunSpec(job=ref))
        assert missing.value.field == "job"
    with pytest.raises(InvalidInput) as bad:
        svc.runs.enqueue("q", RunSpec(job="train:vx"))
    assert bad.value.field == "job"
    assert svc.runs.find("q") == []


def test_a_retry_with_the_same_key_gets_the_first_run_even_after_a_new_version(svc: Services) -> None:
    svc.jobs.create(train_job())
    first, created = svc.runs.enqueue("q", RunSpec(job="train", run_config={"lr": 0.1}), "key-1")
    svc.jobs.create(train_job(args=["--epochs", "50"]))

    again, created_again = svc.runs.enqueue("q", RunSpec(job="train", run_config={"lr": 0.1}), "key-1")

    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.job == "train:v1"
    with pytest.raises(Conflict):
        svc.runs.enqueue("q", RunSpec(job="train", run_config={"lr": 0.2}), "key-1")
    assert len(svc.runs.find("q")) == 1


def test_run_config_without_a_job_becomes_wandb_config_but_not_twice(svc: Services) -> None:
    run, _ = svc.runs.enqueue("q", RunSpec(entry_point=["train"], run_config={"lr": 1}))
    assert run.spec.env == {"WANDB_CONFIG": '{"lr":1}'}
    assert run.job is None

    with pytest.raises(InvalidInput) as refused:
        svc.runs.enqueue(
            "q", RunSpec(entry_point=["train"], run_config={"lr": 1}, env={"WANDB_CONFIG": "{}"})
        )
    assert refused.value.field == "run_config"


def test_a_job_leaves_priority_unset_so_a_fifo_queue_still_takes_its_runs(svc: Services) -> None:
    svc.queues.create(QueueCreate(name="fifo", resource="local-process", prioritization=False))
    svc.jobs.create(train_job())

    run, _ = svc.runs.enqueue("fifo", RunSpec(job="train"))

    assert run.job == "train:v1"


def test_a_code_source_must_have_been_uploaded(svc: Services, tmp_path: Path) -> None:
    missing = "code://" + "0" * 64
    with pytest.raises(InvalidInput) as no_store:
        svc.jobs.create(train_job(source=JobSource(code=missing)))
    assert no_store.value.field == "source.code"

    svc.ctx.code_store = MemoryCodeStore()
    with pytest.raises(NotFound) as not_uploaded:
        svc.jobs.create(train_job(source=JobSource(code=missing)))
    assert not_uploaded.value.field == "source.code"
    assert "launchq code push" in not_uploaded.value.detail

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hi')\n")
    pack_context(tmp_path / "src", tmp_path / "code.tar.gz")
    ref = svc.ctx.code_store.put((tmp_path / "code.tar.gz").read_bytes())
    job = svc.jobs.create(train_job(source=JobSource(code=ref)))
    run, _ = svc.runs.enqueue("q", RunSpec(job=job.ref))
    assert run.spec.uri == ref
    assert [j.version for j in svc.jobs.versions("train")] == [1]  # the refused creates stored nothing


def test_a_request_that_uses_no_newer_field_hashes_as_it_did_before_jobs() -> None:
    # taken from launchq before RunSpec had job, run_config and build_context: a retry with an
    # Idempotency-Key that crosses the upgrade must still be recognised as the same request
    spec = RunSpec(
        entry_point=["python", "train.py"], args=["--epochs", "5"], env={"A": "1"}, priority="high"
    )
    assert request_hash("q", spec) == "c5f2d24661ca99ba65235f8c1ccac051e9182d74867b557ce6b69946a4bfee77"
    assert request_hash("q", RunSpec(job="train")) != request_hash("q", RunSpec(job="train:v1"))
