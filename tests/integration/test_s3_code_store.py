"""The S3 code store against a real moto server over HTTP: what only S3 does.

What every ``CodeStore`` owes (reference by content, round trip, dedupe, missing, refused
archives, corruption found on the way out) is the CodeStore contract, run on S3, the local
directory and the in-memory store: ``tests/contract/test_code_store_contract.py``. Here:
the object key, one upload per content (PutObject counted with a botocore ``before-send``
hook, the call still reaching moto), the SHA-256 sent with the upload (read from the
request: moto neither keeps nor checks it), and S3 and connection errors.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client

from launchq.adapters.code_stores.s3 import S3CodeStore
from launchq.errors import BackendUnavailable, InvalidInput
from tests.contract.test_code_store_contract import BUCKET, CODE
from tests.servers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(aws_env: dict[str, str]) -> S3Client:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def puts(store: S3CodeStore) -> list[str]:
    """The PutObject requests the store's client sends from now on (their URLs)."""
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.url)

    store.client.meta.events.register("before-send.s3.PutObject", record)
    return sent


# -- S3 only --------------------------------------------------------------------------------
def test_s3_keeps_the_archive_under_its_digest_with_its_checksum(s3: S3Client) -> None:
    # GIVEN a store with its own prefix, its PutObject headers recorded as sent
    store = S3CodeStore(BUCKET, prefix="uploads/code/", client=s3)
    headers: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: headers.append(dict(request.headers))
    )
    # WHEN an archive is stored
    digest = store.digest(store.put(CODE))
    # THEN the object is at <prefix><sha256>.tar.gz with exactly the uploaded bytes
    key = f"uploads/code/{digest}.tar.gz"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == CODE
    # AND the upload carried its SHA-256, for S3 to check the bytes it receives (read from
    # the request sent: moto neither keeps nor checks x-amz-checksum-sha256)
    (sent,) = headers
    assert sent["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(digest))


def test_s3_uploads_each_content_once(s3: S3Client) -> None:
    # GIVEN a store whose PutObject requests are counted
    store = S3CodeStore(BUCKET, client=s3)
    sent = puts(store)
    # WHEN the same archive is stored three times (from two stores sharing the bucket too)
    store.put(CODE)
    key = store.key(store.digest(store.put(CODE)))
    first = s3.head_object(Bucket=BUCKET, Key=key)
    S3CodeStore(BUCKET, client=s3).put(CODE)
    # THEN it was uploaded once and the object is untouched
    assert len(sent) == 1
    after = s3.head_object(Bucket=BUCKET, Key=key)
    assert (after["ETag"], after["LastModified"]) == (first["ETag"], first["LastModified"])


def test_s3_refused_archives_are_never_uploaded(s3: S3Client) -> None:
    store = S3CodeStore(BUCKET, client=s3)
    sent = puts(store)
    with pytest.raises(InvalidInput):
        store.put(b"not a tarball")
    assert sent == []
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_s3_errors_are_backend_unavailable(aws_env: dict[str, str], s3: S3Client, tmp_path: Path) -> None:
    # GIVEN a store on a bucket that does not exist, and one on a port nobody listens on
    missing = S3CodeStore("no-such-bucket", client=s3)
    config = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
    dead = S3CodeStore(
        BUCKET, client=boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)
    )
    ref, dest = f"code://{'0' * 64}", tmp_path / "out"
    # WHEN they are used  THEN BackendUnavailable naming S3's error, with no secret key
    with pytest.raises(BackendUnavailable, match="PutObject failed: NoSuchBucket") as put_missing:
        missing.put(CODE)
    with pytest.raises(BackendUnavailable, match="GetObject failed: NoSuchBucket") as fetch_missing:
        missing.fetch(ref, dest)
    with pytest.raises(BackendUnavailable, match="HeadObject failed") as put_dead:
        dead.put(CODE)
    with pytest.raises(BackendUnavailable, match="GetObject failed") as fetch_dead:
        dead.fetch(ref, dest)
    for caught in (put_missing, fetch_missing, put_dead, fetch_dead):
        assert "testing" not in str(caught.value)
