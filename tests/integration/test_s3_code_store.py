"""The S3 code store against a real moto server over HTTP, and the local store beside it.

The behaviour every ``CodeStore`` owes (reference by content, round trip, dedupe, missing,
refused archives, corruption found on the way out) runs over both backends; then what only
S3 does: the object key, one upload per content (PutObject counted with a botocore
``before-send`` hook, the call still reaching moto), the SHA-256 sent with the upload (read
from the request: moto neither keeps nor checks it), and S3 and connection errors.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from mypy_boto3_s3 import S3Client

from launchq.adapters.code_stores.s3 import S3CodeStore
from launchq.build.code_store import CodeStore, LocalCodeStore
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed, NotFound
from tests.servers import free_port

pytestmark = pytest.mark.integration

BUCKET = "launchq-artifacts"


def archive(files: dict[str, bytes], *, gz: bool = True) -> bytes:
    """A tar (gzip'd unless told) holding ``files``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


CODE = archive({"train.py": b"print('hi')\n", "requirements.txt": b"numpy\n"})


@pytest.fixture
def s3(aws_env: dict[str, str]) -> S3Client:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CodeStore:
    if request.param == "local":
        return LocalCodeStore(tmp_path / "code")
    return S3CodeStore(BUCKET, client=request.getfixturevalue("s3"))


def puts(store: S3CodeStore) -> list[str]:
    """The PutObject requests the store's client sends from now on (their URLs)."""
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.url)

    store.client.meta.events.register("before-send.s3.PutObject", record)
    return sent


def corrupt(store: CodeStore, digest: str) -> None:
    """Replace the stored bytes behind the store's back."""
    if isinstance(store, S3CodeStore):
        store.client.put_object(Bucket=store.bucket, Key=store.key(digest), Body=b"tampered")
    else:
        assert isinstance(store, LocalCodeStore)
        (store.directory / digest).write_bytes(b"tampered")


# -- every backend --------------------------------------------------------------------------
def test_put_names_the_content_and_fetch_returns_it(store: CodeStore, tmp_path: Path) -> None:
    # WHEN a tar.gz and a plain tar are stored
    ref = store.put(CODE)
    plain = store.put(archive({"a.py": b"x = 1\n"}, gz=False))
    # THEN each is named by its sha256, and fetches back byte for byte
    assert ref == f"code://{hashlib.sha256(CODE).hexdigest()}"
    assert store.digest(ref) == hashlib.sha256(CODE).hexdigest()
    fetched = store.fetch(ref, tmp_path / "out")
    assert fetched.parent == tmp_path / "out"
    assert fetched.read_bytes() == CODE
    assert store.fetch(plain, tmp_path / "out").read_bytes() == archive({"a.py": b"x = 1\n"}, gz=False)


def test_the_same_archive_twice_is_one_reference(store: CodeStore) -> None:
    assert store.put(CODE) == store.put(CODE)
    assert store.put(archive({"other.py": b""})) != store.put(CODE)


def test_fetching_what_was_never_stored_is_not_found(store: CodeStore, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with pytest.raises(NotFound) as caught:
        store.fetch(f"code://{'0' * 64}", dest)
    assert caught.value.field == "uri"
    assert list(dest.iterdir()) == []  # nothing half-written is left


@pytest.mark.parametrize(
    "data",
    [
        b"this is not an archive",
        b"",
        archive({"../escape.py": b"boom"}),
        archive({"/etc/cron.d/x": b"boom"}),
    ],
    ids=["not-a-tar", "empty", "dot-dot", "absolute"],
)
def test_archives_that_are_not_safe_tarballs_are_refused(store: CodeStore, data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        store.put(data)
    assert caught.value.field == "code"


def test_stored_bytes_that_no_longer_match_are_refused_on_fetch(store: CodeStore, tmp_path: Path) -> None:
    ref = store.put(CODE)
    corrupt(store, store.digest(ref))
    with pytest.raises(LaunchFailed, match="corrupt"):
        store.fetch(ref, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_malformed_reference_is_invalid_input(store: CodeStore, tmp_path: Path) -> None:
    for ref in ("code://abc", f"code://{'A' * 64}", f"s3://{'0' * 64}"):
        with pytest.raises(InvalidInput):
            store.fetch(ref, tmp_path / "out")


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
