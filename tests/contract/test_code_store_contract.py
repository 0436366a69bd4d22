"""The CodeStore contract: one suite, run against every code store.

- ``s3``: S3 on a real moto server over HTTP;
- ``gcs``: Google Cloud Storage through ``google-cloud-storage`` against the JSON API stand-in
  (``tests/gcs_stand_in.py``: no GCS server runs here);
- ``local``: files in a directory (local mode);
- ``memory``: the package's ``MemoryCodeStore``.

What every store owes: reference by content, round trip, dedupe, missing, refused
archives, corruption found on the way out, and launchq's own error when its backend is
gone. What only S3 does (its key, one upload per content, the checksum sent, S3's own
errors) stays in ``tests/integration/test_s3_code_store.py``.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from launchq.adapters.code_stores.gcs import GcsCodeStore
from launchq.adapters.code_stores.local import LocalCodeStore
from launchq.adapters.code_stores.memory import MemoryCodeStore
from launchq.adapters.code_stores.s3 import S3CodeStore
from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed, NotFound
from launchq.ports import CodeStore
from tests.gcs_stand_in import GcsStandIn, gcs_stand_in  # noqa: F401 - a fixture, for the gcs param
from tests.servers import free_port

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


@dataclass
class CodeStoreUnderTest:
    store: CodeStore
    corrupt: Callable[[str], object]  # replaces the bytes stored under a digest, behind the store's back
    unreachable: Callable[[], CodeStore]  # a store of the same kind whose backend is gone


def _s3(tmp_path: Path) -> CodeStoreUnderTest:
    client = boto3.client("s3")  # AWS_ENDPOINT_URL points it at moto
    client.create_bucket(Bucket=BUCKET)
    store = S3CodeStore(BUCKET, client=client)

    def unreachable() -> CodeStore:
        config = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
        dead = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{free_port()}", config=config)
        return S3CodeStore(BUCKET, client=dead)

    return CodeStoreUnderTest(
        store,
        lambda digest: client.put_object(Bucket=BUCKET, Key=store.key(digest), Body=b"tampered"),
        unreachable,
    )


def _gcs(stand_in: type[GcsStandIn]) -> CodeStoreUnderTest:
    store = GcsCodeStore(BUCKET, retry_seconds=2)  # STORAGE_EMULATOR_HOST points it at the stand-in

    def corrupt(digest: str) -> None:
        stand_in.objects[(BUCKET, store.key(digest))] = b"tampered"

    def unreachable() -> CodeStore:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        endpoint = {"api_endpoint": f"http://127.0.0.1:{free_port()}"}
        dead = storage.Client("launchq-test", AnonymousCredentials(), client_options=endpoint)
        return GcsCodeStore(BUCKET, client=dead, retry_seconds=0.5)

    return CodeStoreUnderTest(store, corrupt, unreachable)


def _local(tmp_path: Path) -> CodeStoreUnderTest:
    store = LocalCodeStore(tmp_path / "code")

    def unreachable() -> CodeStore:
        blocked = tmp_path / "not-a-directory"
        blocked.write_text("a file where the store's directory should be")
        return LocalCodeStore(blocked)

    return CodeStoreUnderTest(
        store, lambda digest: (store.directory / digest).write_bytes(b"tampered"), unreachable
    )


def _memory(tmp_path: Path) -> CodeStoreUnderTest:
    store = MemoryCodeStore()

    def corrupt(digest: str) -> None:
        store.objects[digest] = b"tampered"

    def unreachable() -> CodeStore:
        gone = MemoryCodeStore()
        gone.unavailable = "connection refused"
        return gone

    return CodeStoreUnderTest(store, corrupt, unreachable)


@pytest.fixture(params=["s3", "gcs", "local", "memory"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> CodeStoreUnderTest:
    if request.param == "s3":
        request.getfixturevalue("aws_env")  # moto, reset for this test
        return _s3(tmp_path)
    if request.param == "gcs":
        return _gcs(request.getfixturevalue("gcs_stand_in"))
    return _local(tmp_path) if request.param == "local" else _memory(tmp_path)


@pytest.fixture
def store(under_test: CodeStoreUnderTest) -> CodeStore:
    return under_test.store


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


def test_stored_bytes_that_no_longer_match_are_refused_on_fetch(
    store: CodeStore, under_test: CodeStoreUnderTest, tmp_path: Path
) -> None:
    ref = store.put(CODE)
    under_test.corrupt(store.digest(ref))  # the stored bytes replaced behind the store's back
    with pytest.raises(LaunchFailed, match="corrupt"):
        store.fetch(ref, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_malformed_reference_is_invalid_input(store: CodeStore, tmp_path: Path) -> None:
    for ref in ("code://abc", f"code://{'A' * 64}", f"s3://{'0' * 64}"):
        with pytest.raises(InvalidInput):
            store.fetch(ref, tmp_path / "out")


def test_a_store_whose_backend_is_gone_is_backend_unavailable(
    under_test: CodeStoreUnderTest, tmp_path: Path
) -> None:
    # GIVEN a store of the same kind whose backend cannot be reached (or written)
    gone = under_test.unreachable()
    dest = tmp_path / "out"
    # WHEN an archive is stored or fetched  THEN launchq's own error, nothing left half-written
    with pytest.raises(BackendUnavailable) as putting:
        gone.put(CODE)
    with pytest.raises(BackendUnavailable) as fetching:
        gone.fetch(f"code://{hashlib.sha256(CODE).hexdigest()}", dest)
    assert list(dest.iterdir()) == []
    for caught in (putting, fetching):
        assert caught.value.detail
        assert "testing" not in str(caught.value)  # no credential in the message
