"""The launch-jobs part of the DynamoDB store.

==========================  ==============  =====================  ==========================
record                      PK              SK                     attributes
==========================  ==============  =====================  ==========================
a job's head                ``JOBS``        ``<name>``             ``latest`` (N), ``body``
one version of a job        ``JOB#<name>``  ``V#<0000000001>``     ``body``
==========================  ==============  =====================  ==========================

The head is the name's version counter and its entry in the list of jobs at once: it holds
the latest version's number and body. A create writes the next version and moves the head
in one ``TransactWriteItems``, on condition that the head still names the version the
create read (absent for a new name) and that the version item does not exist, so two
creates racing never get the same version and a head never points at a missing version.
The loser learns the head it lost to from the cancellation (``ALL_OLD``) and tries the
version after it, a bounded number of times (then BackendUnavailable, safe to retry).

Why a head partition rather than a Scan or an index: ``list_jobs`` is one strongly
consistent Query of the ``JOBS`` partition (one item per name, sorted by name, no runs
read), ``get_job`` of the latest version one GetItem. The cost is the head's write in
every create: a transaction bills 2 write units per item per KB, so a create of a job under
1 KB is 4 WCU (its version item and the head) plus 1 RCU to read the head, against 1 WCU for
a lone PutItem; creates are rare next to launches. Version numbers are zero-padded to ten
digits so the sort key orders them (``V#0000000010`` after ``V#0000000009``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from launchq.adapters.stores.dynamodb_items import ABSENT, key, n, number, s, text
from launchq.adapters.stores.dynamodb_table import Cancelled, backoff
from launchq.domain.jobs import Job, JobSpec, load_job, stored_version, unknown_job
from launchq.errors import BackendUnavailable

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from launchq.adapters.stores.dynamodb_table import DynamoTable
    from launchq.adapters.stores.dynamodb_writes import TransactionItems

    Item = dict[str, AttributeValueTypeDef]

JOBS_PK = "JOBS"
VERSION_PREFIX = "V#"
VERSION_DIGITS = 10
#: Creates of one name one call may lose to racing creates before it gives up.
CREATE_ATTEMPTS = 32
_LATEST = {"#latest": "latest"}


def head_key(name: str) -> Item:
    return key(JOBS_PK, name)


def version_key(name: str, version: int) -> Item:
    return key(f"JOB#{name}", f"{VERSION_PREFIX}{version:0{VERSION_DIGITS}d}")


class DynamoJobs:
    """The ``RunStore`` launch-job methods, on the store's table (``_db``, ``_tx``)."""

    _db: DynamoTable
    _tx: TransactionItems

    def add_job_version(self, spec: JobSpec, now: datetime) -> Job:
        head = self._db.get(head_key(spec.name))
        for attempt in range(CREATE_ATTEMPTS):
            latest = 0 if head is None else number(head, "latest")
            job = stored_version(spec, latest + 1, now)
            try:
                self._db.transact(self._create_items(job, latest))
            except Cancelled as exc:
                # the head that won, as the cancellation returned it (ALL_OLD)
                head = exc.item(0) if exc.failed(0) else self._db.get(head_key(spec.name))
                backoff(attempt)
                continue
            return job
        raise BackendUnavailable(f"job {spec.name!r} kept changing under concurrent creates; retry later")

    def _create_items(self, job: Job, latest: int) -> list[TransactWriteItemTypeDef]:
        """The new head (conditional on the head read) and the new version (on its absence)."""
        body = s(job.model_dump_json())
        head: Item = {**head_key(job.name), "latest": n(job.version), "body": body}
        if latest == 0:
            move_head = self._tx.put(head, ABSENT)
        else:
            move_head = self._tx.put(head, "#latest = :latest", {":latest": n(latest)}, _LATEST)
        return [move_head, self._tx.put({**version_key(job.name, job.version), "body": body}, ABSENT)]

    def get_job(self, name: str, version: int | None = None) -> Job:
        if version is None:
            head = self._db.get(head_key(name))
            if head is None:
                raise unknown_job(name)
            return load_job(text(head, "body"))
        item = self._db.get(version_key(name, version))
        if item is None:
            known = self._db.get(head_key(name)) is not None
            raise unknown_job(name, version) if known else unknown_job(name)
        return load_job(text(item, "body"))

    def list_jobs(self) -> list[Job]:
        heads = self._db.query("PK = :pk", {":pk": s(JOBS_PK)})
        return [load_job(text(item, "body")) for item in heads]

    def list_job_versions(self, name: str) -> list[Job]:
        found = self._db.query(
            "PK = :pk AND begins_with(SK, :prefix)",
            {":pk": s(f"JOB#{name}"), ":prefix": s(VERSION_PREFIX)},
            forward=False,
        )
        versions = [load_job(text(item, "body")) for item in found]
        if not versions:
            raise unknown_job(name)
        return versions
