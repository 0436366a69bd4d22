"""The Firestore store's launch jobs and schedules (the ``RunStore`` methods that hold no runs).

A job version is its own document (``<name>#<version>``) and a head document per name holds
the latest, so ``job list`` reads one document per name. A new version is one batch: the
``create`` of version n+1 (the guard: a racing create of the same version fails and tries
n+2) and the head. Because version n+1 can only be written after n was, heads only move
forward, and two creates at once always get distinct, consecutive versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from launchq.adapters.stores import common
from launchq.adapters.stores.firestore_docs import FirestoreDocs, job_id, quoted
from launchq.domain.jobs import Job, JobSpec, load_job, stored_version, unknown_job
from launchq.domain.models import Schedule
from launchq.errors import AlreadyExists, BackendUnavailable, NotFound

if TYPE_CHECKING:
    from google.cloud.firestore import Transaction

#: How often ``add_job_version`` tries the next version after losing one to a racing create.
ATTEMPTS = 25


class FirestoreCatalog:
    """Jobs and schedules; mixed into ``FirestoreRunStore``, which sets ``_docs``."""

    _docs: FirestoreDocs

    # -- launch jobs --------------------------------------------------------------------
    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        docs = self._docs
        for _ in range(ATTEMPTS):
            head = docs.get("job_heads", quoted(spec.name), "reading a job")
            job = stored_version(spec, (head["latest"] if head else 0) + 1, now)
            body = job.model_dump_json()
            batch = docs.client.batch()
            version = {"name": job.name, "version": job.version, "body": body}
            batch.create(docs.collection("jobs").document(job_id(job.name, job.version)), version)
            batch.set(
                docs.collection("job_heads").document(quoted(job.name)),
                {"name": job.name, "latest": job.version, "body": body},
            )
            try:
                with docs.call(f"storing job {spec.name!r}"):
                    batch.commit()
            except AlreadyExists:
                continue
            return job
        raise BackendUnavailable(f"versions of job {spec.name!r} kept being taken by other creates; retry")

    def get_job(self, name: str, version: int | None = None) -> Job:
        docs = self._docs
        found = docs.get("job_heads", quoted(name), "reading a job")
        if found is None:
            raise unknown_job(name)
        if version is not None and version != found["latest"]:
            found = docs.get("jobs", job_id(name, version), "reading a job")
            if found is None:
                raise unknown_job(name, version)
        return load_job(found["body"])

    def list_jobs(self) -> list[Job]:
        docs = self._docs
        return [
            load_job(doc["body"])
            for doc in docs.stream(docs.collection("job_heads").order_by("name"), "listing jobs")
        ]

    def list_job_versions(self, name: str) -> list[Job]:
        docs = self._docs
        if docs.get("job_heads", quoted(name), "reading a job") is None:
            raise unknown_job(name)
        query = docs.where(docs.collection("jobs"), "name", "==", name).order_by(
            "version", direction="DESCENDING"
        )
        return [load_job(doc["body"]) for doc in docs.stream(query, "listing job versions")]

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        fields = {"name": schedule.name, "body": schedule.model_dump_json()}
        self._docs.create_named("schedules", "schedule", schedule.name, fields)

    def get_schedule(self, name: str) -> Schedule:
        return Schedule.model_validate_json(self._docs.get_named("schedules", "schedule", name)["body"])

    def list_schedules(self) -> list[Schedule]:
        docs = self._docs
        query = docs.collection("schedules").order_by("name")
        return [Schedule.model_validate_json(doc["body"]) for doc in docs.stream(query, "listing schedules")]

    def delete_schedule(self, name: str) -> None:
        self.get_schedule(name)
        with self._docs.call(f"deleting schedule {name!r}"):
            self._docs.collection("schedules").document(quoted(name)).delete()

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        """Set the next fire time if it is still ``expected_next`` (a transaction: two
        reconcilers firing one tick cannot both advance it on Firestore itself)."""
        docs = self._docs
        ref = docs.collection("schedules").document(quoted(name))

        def attempt(tx: Transaction) -> None:
            snapshot = ref.get(transaction=tx)
            if not snapshot.exists:
                raise NotFound(f"schedule {name!r} does not exist", field="schedule")
            schedule = Schedule.model_validate_json((snapshot.to_dict() or {})["body"])
            advanced = common.advanced_schedule(schedule, expected_next, next_fire_at, last_run_id)
            tx.set(ref, {"name": name, "body": advanced.model_dump_json()})

        with docs.call(f"advancing schedule {name!r}"):
            docs.sdk.transactional(attempt)(docs.client.transaction())
