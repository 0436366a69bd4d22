"""The Azure Tables store's launch jobs, schedules and API keys (the methods that hold no runs).

* jobs (``<prefix>jobs``): one partition per job name; each version its own entity
  (``v<version:08d>``) and a ``head`` entity holding the latest. A new version is one
  transaction: create version n+1 (a racing create of the same version fails it) and write
  the head on the ETag it was read with, so two creates at once get distinct, consecutive
  versions and a stored version never changes;
* schedules (``<prefix>schedules``): one partition, RowKey the name; ``advance_schedule``
  writes on the ETag it read, so of two reconcilers firing one tick only one advances it;
* API keys (``<prefix>apikeys``): one partition, RowKey the key's public id, ``Entity`` a
  property (one entity's keys are one filtered query); the body holds the secret's SHA-256,
  never the secret. Every read goes to the table, so a revoke holds at the next request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from launchq.adapters.stores import common
from launchq.adapters.stores.azure_tables_edge import etag
from launchq.adapters.stores.azure_tables_entities import job_row, keys, name_key, packed, unpacked
from launchq.adapters.stores.azure_tables_moves import ATTEMPTS, backoff
from launchq.domain.api_keys import ApiKey, key_taken, oldest_first, revoked, unknown_key
from launchq.domain.jobs import Job, JobSpec, load_job, stored_version, unknown_job
from launchq.domain.models import Schedule
from launchq.errors import AlreadyExists, BackendUnavailable, NotFound, StaleWrite

if TYPE_CHECKING:
    from datetime import datetime

    from launchq.adapters.stores.azure_tables_edge import TablesEdge

_HEAD = "head"
_SCHEDULES = "schedules"
_KEYS = "keys"


class TablesCatalog:
    """Jobs, schedules and API keys; mixed into ``AzureTablesStore``, which sets ``_edge``."""

    _edge: TablesEdge

    # -- launch jobs --------------------------------------------------------------------
    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        edge = self._edge
        partition = name_key(spec.name)
        for attempt in range(ATTEMPTS):
            head = edge.get("jobs", partition, _HEAD, "reading a job")
            job = stored_version(spec, (0 if head is None else int(head["Latest"])) + 1, now)
            body = packed(job.model_dump_json(), "job")
            version = {**keys(partition, job_row(job.version)), "Name": job.name, **body}
            latest = {**keys(partition, _HEAD), "Name": job.name, "Latest": job.version, **body}
            write_head = edge.create_op(latest) if head is None else edge.replace_op(latest, etag(head))
            if edge.transact("jobs", [edge.create_op(version), write_head], f"storing job {spec.name!r}"):
                return job
            backoff(attempt)
        raise BackendUnavailable(f"versions of job {spec.name!r} kept being taken by other creates; retry")

    def get_job(self, name: str, version: int | None = None) -> Job:
        edge = self._edge
        found = edge.get("jobs", name_key(name), _HEAD, "reading a job")
        if found is None:
            raise unknown_job(name)
        if version is not None and version != int(found["Latest"]):
            found = edge.get("jobs", name_key(name), job_row(version), "reading a job")
            if found is None:
                raise unknown_job(name, version)
        return load_job(unpacked(found))

    def list_jobs(self) -> list[Job]:
        heads = self._edge.query("jobs", "RowKey eq @head", {"head": _HEAD}, "listing jobs")
        return sorted((load_job(unpacked(head)) for head in heads), key=lambda job: job.name)

    def list_job_versions(self, name: str) -> list[Job]:
        edge = self._edge
        if edge.get("jobs", name_key(name), _HEAD, "reading a job") is None:
            raise unknown_job(name)
        where = "PartitionKey eq @pk and RowKey ge @first and RowKey lt @after"
        params = {"pk": name_key(name), "first": "v", "after": "w"}
        found = edge.query("jobs", where, params, "listing job versions")
        return [load_job(unpacked(entity)) for entity in reversed(found)]

    # -- schedules ----------------------------------------------------------------------
    def create_schedule(self, schedule: Schedule) -> None:
        try:
            self._edge.create("schedules", _schedule_entity(schedule), f"creating schedule {schedule.name!r}")
        except AlreadyExists:
            raise AlreadyExists(f"schedule {schedule.name!r} already exists", field="name") from None

    def get_schedule(self, name: str) -> Schedule:
        return Schedule.model_validate_json(unpacked(self._schedule(name)))

    def list_schedules(self) -> list[Schedule]:
        found = self._edge.query("schedules", "PartitionKey eq @pk", {"pk": _SCHEDULES}, "listing schedules")
        return [Schedule.model_validate_json(unpacked(entity)) for entity in found]

    def delete_schedule(self, name: str) -> None:
        self._schedule(name)
        self._edge.delete("schedules", _SCHEDULES, name_key(name), f"deleting schedule {name!r}")

    def advance_schedule(
        self, name: str, expected_next: datetime, next_fire_at: datetime, last_run_id: str
    ) -> None:
        for attempt in range(ATTEMPTS):
            found = self._schedule(name)
            schedule = Schedule.model_validate_json(unpacked(found))
            advanced = common.advanced_schedule(schedule, expected_next, next_fire_at, last_run_id)
            try:
                self._edge.replace(
                    "schedules", _schedule_entity(advanced), etag(found), f"advancing schedule {name!r}"
                )
            except (StaleWrite, NotFound):
                backoff(attempt)  # moved meanwhile: read again (then StaleWrite or NotFound)
                continue
            return
        raise BackendUnavailable(f"schedule {name!r} kept moving under its advance; retry")

    def _schedule(self, name: str) -> dict[str, Any]:
        found = self._edge.get("schedules", _SCHEDULES, name_key(name), "reading a schedule")
        if found is None:
            raise NotFound(f"schedule {name!r} does not exist", field="schedule")
        return found

    # -- API keys -----------------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        try:
            self._edge.create("apikeys", _key_entity(key), "storing an API key")
        except AlreadyExists:
            raise key_taken(key.id) from None

    def get_api_key(self, key_id: str) -> ApiKey:
        found = self._edge.get("apikeys", _KEYS, key_id, "reading an API key")
        if found is None:
            raise unknown_key(key_id)
        return ApiKey.model_validate_json(found["Body"])

    def list_api_keys(self, entity: str | None = None) -> list[ApiKey]:
        where, params = "PartitionKey eq @pk", {"pk": _KEYS}
        if entity is not None:
            where, params = f"{where} and Entity eq @entity", {**params, "entity": entity}
        found = self._edge.query("apikeys", where, params, "listing API keys")
        return oldest_first(ApiKey.model_validate_json(item["Body"]) for item in found)

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKey:
        for attempt in range(ATTEMPTS):
            found = self._edge.get("apikeys", _KEYS, key_id, "reading an API key")
            if found is None:
                raise unknown_key(key_id)
            current = ApiKey.model_validate_json(found["Body"])
            done = revoked(current, at)
            if done is current:
                return done
            try:
                self._edge.replace("apikeys", _key_entity(done), etag(found), "revoking an API key")
            except (StaleWrite, NotFound):
                backoff(attempt)
                continue
            return done
        raise BackendUnavailable(f"API key {key_id} kept changing under its revoke; retry")


def _schedule_entity(schedule: Schedule) -> dict[str, Any]:
    return {
        **keys(_SCHEDULES, name_key(schedule.name)),
        "Name": schedule.name,
        **packed(schedule.model_dump_json(), "schedule"),
    }


def _key_entity(key: ApiKey) -> dict[str, Any]:
    return {**keys(_KEYS, key.id), "Entity": key.entity, "Body": key.model_dump_json()}
