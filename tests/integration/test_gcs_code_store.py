"""The GCS code store through ``google-cloud-storage`` against the JSON API stand-in: what only GCS does.

What every ``CodeStore`` owes is the CodeStore contract (``tests/contract/test_code_store_contract.py``,
``gcs`` among its backends). Here: the object name, one upload per content (a lookup first,
then a create-only upload carrying the bytes' MD5, which the stand-in checks as GCS does), a
concurrent upload that won, and GCS's refusals as launchq's errors. No GCS server runs on our
machines: ``tests/gcs_stand_in.py`` serves the JSON API calls the client makes, over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from launchq.adapters.code_stores.gcs import GcsCodeStore
from launchq.errors import BackendUnavailable, NotFound
from tests.contract.test_code_store_contract import BUCKET, CODE
from tests.gcs_stand_in import GcsStandIn, gcs_stand_in

pytestmark = pytest.mark.integration

__all__ = ["gcs_stand_in"]  # the fixture

DIGEST = hashlib.sha256(CODE).hexdigest()


def test_an_archive_is_uploaded_once_create_only_with_its_md5(gcs_stand_in: type[GcsStandIn]) -> None:
    # GIVEN a store on a bucket under a prefix of its own
    store = GcsCodeStore(BUCKET, "uploads/")
    # WHEN the same archive is stored twice
    assert store.put(CODE) == store.put(CODE) == f"code://{DIGEST}"
    # THEN one object holds it, under the prefix and its digest
    assert gcs_stand_in.objects == {(BUCKET, f"uploads/{DIGEST}.tar.gz"): CODE}
    # AND one upload was sent: create-only, with the MD5 GCS checks the bytes against
    (upload,) = [sent for sent in gcs_stand_in.sent if sent["method"] == "POST"]
    assert "ifGenerationMatch=0" in upload["query"]
    assert upload["metadata"]["md5Hash"] == base64.b64encode(hashlib.md5(CODE).digest()).decode()  # noqa: S324
    assert upload["content_type"] == "application/octet-stream"
    # AND the second put only looked the object up
    lookups = [sent["object"] for sent in gcs_stand_in.sent if sent["method"] == "GET" and not sent["media"]]
    assert lookups.count((BUCKET, f"uploads/{DIGEST}.tar.gz")) == 2


def test_an_upload_that_lost_a_race_to_the_same_archive_is_fine(
    gcs_stand_in: type[GcsStandIn], tmp_path: Path
) -> None:
    # GIVEN another upload of the same archive lands between the lookup and the upload
    store = GcsCodeStore(BUCKET)
    key = (BUCKET, store.key(DIGEST))
    original = gcs_stand_in.do_GET

    def lookup_then_lose(handler: GcsStandIn) -> None:
        original(handler)
        gcs_stand_in.objects[key] = CODE  # the other upload, done meanwhile

    gcs_stand_in.do_GET = lookup_then_lose  # type: ignore[method-assign]
    # WHEN it is stored  THEN GCS's 412 for the create-only upload is no error, and the archive is there
    assert store.put(CODE) == f"code://{DIGEST}"
    gcs_stand_in.do_GET = original  # type: ignore[method-assign]
    assert store.fetch(f"code://{DIGEST}", tmp_path).read_bytes() == CODE


def test_gcs_refusing_the_call_is_backend_unavailable_naming_gcs(
    gcs_stand_in: type[GcsStandIn], tmp_path: Path
) -> None:
    # GIVEN GCS answers 403 (the function's account may not write the bucket)
    def forbidden(handler: GcsStandIn) -> None:
        handler.read_body()
        handler.answer(
            403, {"Content-Type": "application/json"}, b'{"error": {"code": 403, "message": "no"}}'
        )

    gcs_stand_in.do_GET = gcs_stand_in.do_POST = forbidden  # type: ignore[method-assign]
    store = GcsCodeStore(BUCKET, retry_seconds=1)
    with pytest.raises(BackendUnavailable, match=r"GCS upload of gs://launchq-artifacts/code/.*Forbidden"):
        store.put(CODE)
    with pytest.raises(BackendUnavailable, match="GCS download"):
        store.fetch(f"code://{DIGEST}", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_missing_archive_is_not_found_naming_its_reference(
    gcs_stand_in: type[GcsStandIn], tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match=f"no uploaded code code://{DIGEST}") as missing:
        GcsCodeStore(BUCKET).fetch(f"code://{DIGEST}", tmp_path)
    assert missing.value.field == "uri"
    (download,) = [sent for sent in gcs_stand_in.sent if sent["media"]]
    assert download["object"] == (BUCKET, f"code/{DIGEST}.tar.gz")
