"""``code push``'s upload: a streamed ``POST /code`` body whose progress callback follows the bytes sent."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from launchq.cli.auth import AuthMode, signer_for
from launchq.cli.client import UPLOAD_PIECE_BYTES, ApiClient
from launchq.cli.code import launch_hint
from launchq.cli.errors import ApiError
from launchq.cli.progress import Transfer
from tests.sigv4_proxy import AccessKey, SigV4Proxy, Verifier
from tests.unit.cli_fake_server import FakeApi

URI = "code://" + "ab" * 32


def test_the_progress_callback_counts_up_to_the_archive_size_as_pieces_are_sent(fake: FakeApi) -> None:
    # GIVEN an archive of several pieces whose size is not a multiple of a piece (nor of 3)
    archive = os.urandom(3 * UPLOAD_PIECE_BYTES + 1001)
    fake.reply("POST", "/code", 201, {"uri": URI})
    seen: list[tuple[int, int]] = []

    # WHEN it is uploaded with a progress callback
    with ApiClient(fake.url) as client:
        uri = client.upload_code(archive, lambda done, total: seen.append((done, total)))

    # THEN the callback was told once per piece, each time more, ending at the archive's size
    assert uri == URI
    assert [total for _, total in seen] == [len(archive)] * 4
    done = [count for count, _ in seen]
    assert done == sorted(set(done)), done
    assert done[-1] == len(archive)
    assert sum(b - a for a, b in zip([0, *done], done, strict=False)) == len(archive)
    # AND the server got one JSON body with a declared length, the archive intact in base64
    (request,) = fake.calls("POST", "/code")
    assert request.body == {"data": base64.b64encode(archive).decode()}
    assert "transfer-encoding" not in request.headers
    assert request.headers["content-type"] == "application/json"
    assert int(request.headers["content-length"]) == len(b'{"data": ""}') + len(request.body["data"])


def test_a_refused_upload_is_the_api_error_and_progress_stops_short(fake: FakeApi) -> None:
    # GIVEN an API that refuses the archive (as it does one over its size limit)
    fake.reply(
        "POST", "/code", 413, {"error": "payload_too_large", "detail": "code: the archive is too large"}
    )
    seen: list[int] = []

    # WHEN a small archive is uploaded
    with ApiClient(fake.url) as client, pytest.raises(ApiError) as refused:
        client.upload_code(b"x" * 10, lambda done, _total: seen.append(done))

    # THEN the error is the API's own, one line naming the field (exit 2), after the body was sent
    assert str(refused.value) == "code: the archive is too large"
    assert refused.value.exit_code == 2
    assert seen == [10]


def test_the_final_line_says_size_time_and_rate_and_the_hint_follows_it() -> None:
    record = Transfer(total=2_300_000, done=2_300_000, started=10.0, ended=10.5)

    line = launch_hint(URI, record.summary())

    assert line.startswith("uploaded 2.3 MB in 0.5 s (4.6 MB/s); run it with: ")
    assert f"launchq launch -q default -u {URI} -E" in line


def test_a_signed_upload_is_hashed_whole_verified_and_reports_progress_once(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the API behind the IAM-auth stand-in and AWS credentials in the environment
    key = AccessKey("AKIDLAUNCHQUPLOAD001", "upload-secret-0123456789abcdefghij")
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    fake.reply("POST", "/code", 201, {"uri": URI})
    archive = os.urandom(2 * UPLOAD_PIECE_BYTES + 5)
    seen: list[tuple[int, int]] = []

    # WHEN an archive is uploaded with signing on
    with SigV4Proxy(Verifier([key], "us-east-1"), fake.url) as gateway:
        signer = signer_for(gateway.url, AuthMode.AWS_IAM)
        with ApiClient(gateway.url, signer=signer) as client:
            uri = client.upload_code(archive, lambda done, total: seen.append((done, total)))

        # THEN the stand-in verified the signature over the body as it arrived, and passed it on
        assert gateway.refused == []
        assert [r.target for r in gateway.verified] == ["/code"]
    assert uri == URI
    assert fake.calls("POST", "/code")[0].body == {"data": base64.b64encode(archive).decode()}
    # AND progress was told once, at the end: SigV4 hashes the whole body before sending any of it
    assert seen == [(len(archive), len(archive))]
