"""The RunStore launch-jobs contract, run against every store adapter (conftest ``store``).

A job's versions count up from 1 per name, ``latest`` is the highest, a stored version
never changes, and creates racing on one name get distinct, consecutive versions.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from launchq.domain.jobs import Job, JobSpec
from launchq.errors import NotFound
from launchq.ports import RunStore

T0 = datetime(2030, 1, 1, tzinfo=UTC)
SCHEMA = {"type": "object", "properties": {"lr": {"type": "number", "minimum": 0}}, "required": ["lr"]}


def spec(name: str = "train", *args: str, **fields: object) -> JobSpec:
    """A job from a local directory, ``args`` telling its versions apart."""
    return JobSpec.model_validate(
        {
            "name": name,
            "source": {"uri": "examples"},
            "entry_point": ["python", "train.py"],
            "args": list(args),
            **fields,
        }
    )


def create(store: RunStore, name: str, *args: str, minute: int = 0) -> Job:
    return store.add_job_version(spec(name, *args), T0 + timedelta(minutes=minute))


def test_versions_count_up_from_one_and_latest_is_the_highest(store: RunStore) -> None:
    # GIVEN three creates of one name, each with other args
    made = [create(store, "train", f"--epochs={n}", minute=n) for n in (1, 2, 3)]
    # THEN they are versions 1, 2, 3, each stored as given and created when told
    assert [(job.version, job.args, job.created_at) for job in made] == [
        (1, ["--epochs=1"], T0 + timedelta(minutes=1)),
        (2, ["--epochs=2"], T0 + timedelta(minutes=2)),
        (3, ["--epochs=3"], T0 + timedelta(minutes=3)),
    ]
    assert made[2].ref == "train:v3"
    # AND each version reads back as it was returned, the latest being v3
    assert [store.get_job("train", version) for version in (1, 2, 3)] == made
    assert store.get_job("train") == made[2]


def test_a_version_keeps_its_whole_spec(store: RunStore) -> None:
    # GIVEN a job with every field set, from uploaded code
    full = spec(
        "full",
        "--fast",
        source={"code": "code://" + "ab" * 32},
        env={"MODE": "fast", "EMPTY": ""},
        input_schema=SCHEMA,
        description="fits a line",
    )
    created = store.add_job_version(full, T0)
    # WHEN it is read back  THEN every field is as created
    stored = store.get_job("full", 1)
    assert stored == created
    assert stored.model_dump(exclude={"version", "created_at"}) == full.model_dump()
    assert stored.source.run_fields() == {"uri": "code://" + "ab" * 32}


def test_names_count_their_versions_apart(store: RunStore) -> None:
    create(store, "a")
    create(store, "a")
    # WHEN another name is created  THEN it starts at version 1
    assert create(store, "b").version == 1
    assert create(store, "a").version == 3


def test_unknown_job_or_version_raises_not_found_naming_job(store: RunStore) -> None:
    create(store, "train")
    for call in (
        lambda: store.get_job("nope"),
        lambda: store.get_job("nope", 1),
        lambda: store.list_job_versions("nope"),
    ):
        with pytest.raises(NotFound, match="'nope' does not exist") as raised:
            call()
        assert raised.value.field == "job"
    # AND a version the name does not have says so
    with pytest.raises(NotFound, match="no version v2") as missing:
        store.get_job("train", 2)
    assert missing.value.field == "job"


def test_list_jobs_is_the_latest_of_each_name_by_name(store: RunStore) -> None:
    # GIVEN an empty store  THEN no jobs
    assert store.list_jobs() == []
    # GIVEN names created out of order, some with several versions
    create(store, "zeta")
    create(store, "alpha", "--old")
    create(store, "mid")
    latest_alpha = create(store, "alpha", "--new")
    create(store, "zeta")
    # WHEN listed  THEN one entry per name, sorted, each its latest version
    listed = store.list_jobs()
    assert [job.ref for job in listed] == ["alpha:v2", "mid:v1", "zeta:v2"]
    assert listed[0] == latest_alpha


def test_list_job_versions_is_newest_first(store: RunStore) -> None:
    made = [create(store, "train", str(n)) for n in range(4)]
    create(store, "other")
    assert store.list_job_versions("train") == list(reversed(made))


def test_a_stored_version_cannot_be_changed_through_what_is_returned(store: RunStore) -> None:
    # GIVEN a stored job, and the copies a create, a read and both listings returned
    created = store.add_job_version(spec("train", "--a", env={"K": "v"}, input_schema=SCHEMA), T0)
    original = created.model_copy(deep=True)
    returned = [created, store.get_job("train"), store.list_jobs()[0], store.list_job_versions("train")[0]]
    # WHEN every returned copy is changed in place
    for job in returned:
        job.args.append("--injected")
        job.env["K"] = "changed"
        job.entry_point.clear()
        assert job.input_schema is not None
        job.input_schema["required"].append("momentum")
        job.description = "changed"
    # THEN what is stored is as created
    assert store.get_job("train", 1) == original
    assert store.list_jobs() == [original]


def test_concurrent_creates_of_one_name_get_distinct_consecutive_versions(store: RunStore) -> None:
    # GIVEN 8 threads released at once, each creating a version of one name
    threads = 8
    start = threading.Barrier(threads)
    made: list[Job] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def go(n: int) -> None:
        start.wait()
        try:
            job = create(store, "train", f"--thread={n}")
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            made.append(job)

    workers = [threading.Thread(target=go, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    # THEN none failed, and the versions are 1..8, each once
    assert errors == []
    assert sorted(job.version for job in made) == list(range(1, threads + 1))
    # AND each version holds the args of the create that got it; the latest is v8
    stored = {job.version: job.args for job in store.list_job_versions("train")}
    assert stored == {job.version: job.args for job in made}
    assert store.get_job("train").version == threads
