"""The AWS edge (``launchq.adapters.aws_sdk``): SDK errors become launchq's, by code.

Errors are provoked for real where a server can provoke them (moto over HTTP: a missing
bucket, key or queue; a port nobody listens on; no credentials at all). Refusals no local
server makes (throttling, a 5xx) are pinned with the SDK's ``Stubber``, which raises them
exactly as the SDK does for a real answer.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from mypy_boto3_s3 import S3Client
from mypy_boto3_sqs import SQSClient

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import MISSING_OBJECT, aws_call, codes
from launchq.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LaunchFailed,
    NotFound,
)
from tests.conftest import REPO
from tests.servers import free_port

BUCKET = "edge"
NO_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


@pytest.fixture
def s3(aws_env: dict[str, str]) -> S3Client:
    client: S3Client = aws_sdk.client("s3", fresh=True)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sqs(aws_env: dict[str, str]) -> SQSClient:
    client: SQSClient = aws_sdk.client("sqs", fresh=True)
    return client


@pytest.fixture
def gone_queue(sqs: SQSClient) -> str:
    url = sqs.create_queue(QueueName="gone")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    return url


def offline(service: str) -> Any:
    """A client of a port nobody listens on, trying once."""
    config = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1)
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def stubbed_sqs() -> SQSClient:
    client: SQSClient = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client


# -- refusals, by code --------------------------------------------------------------------
@pytest.mark.integration
def test_an_unlisted_refusal_is_backend_unavailable_with_aws_code_and_message(s3: S3Client) -> None:
    # WHEN an object is read from a bucket that does not exist
    with pytest.raises(BackendUnavailable) as caught, aws_call("S3 GetObject"):
        s3.get_object(Bucket="no-such-bucket", Key="k")
    # THEN launchq's error says what failed, with S3's code and message, and keeps the cause
    assert caught.value.detail == "S3 GetObject failed: NoSuchBucket: The specified bucket does not exist"
    assert caught.value.field is None
    assert isinstance(caught.value.__cause__, ClientError)
    assert "testing" not in str(caught.value)


@pytest.mark.integration
def test_the_callers_table_turns_a_code_into_its_error(s3: S3Client) -> None:
    with pytest.raises(NotFound) as missing, aws_call("S3 GetObject", MISSING_OBJECT):
        s3.get_object(Bucket=BUCKET, Key="absent")
    # a code the table does not name keeps the default
    with pytest.raises(BackendUnavailable), aws_call("S3 GetObject", MISSING_OBJECT):
        s3.get_object(Bucket="no-such-bucket", Key="absent")
    assert missing.value.detail.startswith("S3 GetObject failed: NoSuchKey: ")


@pytest.mark.integration
def test_head_object_answers_a_bare_404_which_reads_as_missing(s3: S3Client) -> None:
    # GIVEN an empty bucket  WHEN a key is looked up  THEN it is missing; once put, it exists
    assert aws_sdk.s3_object_exists(s3, BUCKET, "k") is False
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert aws_sdk.s3_object_exists(s3, BUCKET, "k") is True
    # HEAD cannot tell a missing bucket from a missing key: the write that follows names it
    assert aws_sdk.s3_object_exists(s3, "no-such-bucket", "k") is False


@pytest.mark.integration
def test_field_goes_to_every_error_whose_translation_names_none(sqs: SQSClient, gone_queue: str) -> None:
    def send() -> None:
        sqs.send_message(QueueUrl=gone_queue, MessageBody="x")

    with pytest.raises(BackendUnavailable) as default, aws_call("SQS SendMessage", field="doorbell"):
        send()
    table = codes(NotFound, NO_QUEUE)
    with pytest.raises(NotFound) as listed, aws_call("SQS SendMessage", table, field="doorbell"):
        send()
    own = codes(partial(AlreadyExists, field="queue"), NO_QUEUE)
    with pytest.raises(AlreadyExists) as named, aws_call("SQS SendMessage", own, field="doorbell"):
        send()
    assert (default.value.field, listed.value.field, named.value.field) == ("doorbell", "doorbell", "queue")
    assert default.value.detail == (
        f"SQS SendMessage failed: {NO_QUEUE}: The specified queue does not exist."
    )


@pytest.mark.integration
def test_a_refusal_is_otherwise_but_a_retryable_answer_stays_unavailable(
    sqs: SQSClient, gone_queue: str
) -> None:
    # GIVEN calls whose refusals are the caller's kind (SageMaker's submit: LaunchFailed)
    launch = partial(aws_call, "SQS SendMessage", otherwise=LaunchFailed)
    # WHEN AWS refuses the request itself  THEN it is that kind
    with pytest.raises(LaunchFailed), launch():
        sqs.send_message(QueueUrl=gone_queue, MessageBody="x")
    # WHEN AWS throttles or fails inside  THEN it is BackendUnavailable: a retry may succeed
    client = stubbed_sqs()
    with Stubber(client) as stub:
        stub.add_client_error("send_message", "ThrottlingException", "Rate exceeded", http_status_code=400)
        stub.add_client_error("send_message", "SomethingNew", "oops", http_status_code=503)
        stub.add_client_error("send_message", "ThrottlingException", "Rate exceeded", http_status_code=400)
        for _ in range(2):
            with pytest.raises(BackendUnavailable), launch():
                client.send_message(QueueUrl="https://sqs/1/q", MessageBody="x")
        # ... unless the caller's table says otherwise
        with pytest.raises(Conflict), launch(codes(Conflict, "ThrottlingException")):
            client.send_message(QueueUrl="https://sqs/1/q", MessageBody="x")


# -- no answer at all ---------------------------------------------------------------------
@pytest.mark.integration
def test_an_unreachable_endpoint_is_backend_unavailable_naming_the_sdk_error() -> None:
    client = offline("sqs")
    with pytest.raises(BackendUnavailable) as caught, aws_call("SQS SendMessage", field="doorbell"):
        client.send_message(QueueUrl="http://127.0.0.1:9/1/q", MessageBody="x")
    assert caught.value.detail.startswith("SQS SendMessage failed: EndpointConnectionError: ")
    assert caught.value.field == "doorbell"


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str) -> None:
    """An environment where the default chain finds nothing (no keys, files, profile or IMDS)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)


@pytest.mark.integration
def test_no_credentials_is_backend_unavailable(no_credentials: None) -> None:
    client: SQSClient = aws_sdk.client("sqs", fresh=True)
    with pytest.raises(BackendUnavailable) as caught, aws_call("SQS ListQueues"):
        client.list_queues()
    assert caught.value.detail == "SQS ListQueues failed: NoCredentialsError: Unable to locate credentials"


def test_a_request_the_sdk_refuses_never_echoes_its_values() -> None:
    client = stubbed_sqs()
    # WHEN a request of the wrong type is sent, with the caller's table naming the SDK's refusal
    with (
        pytest.raises(LaunchFailed) as caught,
        aws_call("SQS SendMessage", codes(LaunchFailed, "ParamValidationError")),
    ):
        client.send_message(QueueUrl="https://sqs/1/q", MessageBody=424242)  # type: ignore[arg-type]
    # THEN the parameter is named, its value is not (a value may be a secret)
    assert caught.value.detail.startswith("SQS SendMessage failed: ParamValidationError: ")
    assert "MessageBody" in caught.value.detail
    assert "424242" not in caught.value.detail
    # and by default the same refusal is BackendUnavailable, also without the value
    with pytest.raises(BackendUnavailable) as default, aws_call("SQS SendMessage"):
        client.send_message(QueueUrl="https://sqs/1/q", MessageBody=424242)  # type: ignore[arg-type]
    assert "424242" not in default.value.detail


@pytest.mark.integration
def test_a_failed_s3_transfer_is_backend_unavailable(s3: S3Client, tmp_path: Path) -> None:
    # GIVEN a file to upload with boto3's transfer manager, which raises its own exception type
    archive = tmp_path / "context.tar.gz"
    archive.write_bytes(b"x")
    # WHEN the bucket does not exist  THEN BackendUnavailable, naming S3's refusal
    with pytest.raises(BackendUnavailable) as caught, aws_call("S3 upload"):
        s3.upload_file(str(archive), "no-such-bucket", "k")
    assert caught.value.detail.startswith("S3 upload failed: S3UploadFailedError: ")
    assert "NoSuchBucket" in caught.value.detail


def test_what_is_not_the_sdks_passes_through_untouched() -> None:
    # GIVEN a table that would translate any SDK error
    table = codes(NotFound, "ValueError", "LaunchqError", "Exception")
    with pytest.raises(ValueError, match="mine"), aws_call("anything", table):
        raise ValueError("mine")
    with pytest.raises(InvalidInput) as own, aws_call("anything", table, field="other"):
        raise InvalidInput("kept", field="mine")
    assert (own.value.detail, own.value.field) == ("kept", "mine")


def test_the_block_runs_and_returns_normally() -> None:
    ran: list[int] = []
    with aws_call("nothing"):
        ran.append(1)
    assert ran == [1]


# -- clients and sessions -----------------------------------------------------------------
def test_a_missing_profile_is_invalid_input_naming_the_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a config file with one profile
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # THEN it is listed, a session of it has its region, and a session of another is refused
    assert "team" in aws_sdk.profiles()
    assert aws_sdk.session(profile="team").region_name == "eu-west-1"
    with pytest.raises(InvalidInput) as caught:
        aws_sdk.session(profile="nope")
    assert caught.value.field == "profile"
    assert "nope" in caught.value.detail
    # AND a client of an environment naming a missing profile is BackendUnavailable
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(BackendUnavailable, match="ProfileNotFound"):
        aws_sdk.client("sqs", fresh=True)


def test_a_regional_client_without_a_region_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert aws_sdk.default_region() is None
    with pytest.raises(BackendUnavailable, match="NoRegionError"):
        aws_sdk.client("sagemaker", fresh=True)


def test_the_edge_imports_no_sdk_until_a_call_is_made() -> None:
    # GIVEN a fresh interpreter  WHEN the edge is imported  THEN neither boto3 nor botocore is
    probe = (
        "import sys, launchq.adapters.aws_sdk; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'httpx')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO / "shared"
    )
    assert out.stdout.strip() == "[]"


# -- request models -----------------------------------------------------------------------
def test_the_sdks_request_checks_report_without_values() -> None:
    shape = aws_sdk.input_shape("sqs", "SendMessage")
    assert shape is aws_sdk.input_shape("sqs", "SendMessage")  # loaded once
    assert aws_sdk.validation_report({"QueueUrl": "u", "MessageBody": "b"}, shape) is None
    report = aws_sdk.validation_report({"QueueUrl": "u", "MessageBody": 8_675_309}, shape)
    assert report is not None
    assert "MessageBody" in report
    assert "8675309" not in report


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")


def test_signing_headers_carry_the_key_id_scope_and_token_never_the_secret(key_env: None) -> None:
    credentials, region = aws_sdk.signing_identity(None)
    assert credentials is not None
    assert region == "eu-central-1"
    headers = aws_sdk.sigv4_headers(
        credentials,
        service="execute-api",
        region="eu-central-1",
        method="GET",
        url="https://abc.execute-api.eu-central-1.amazonaws.com/queues",
        params={"state": "queued"},
        headers={"host": "abc.execute-api.eu-central-1.amazonaws.com"},
        body=b"",
    )
    assert set(headers) == {"Authorization", "X-Amz-Date", "X-Amz-Security-Token"}
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + headers["X-Amz-Date"][:8] + "/eu-central-1/execute-api/"
    )
    assert headers["X-Amz-Security-Token"] == "token-1"
    assert "wJalrXUtnFEMI" not in "".join(headers.values())


def test_a_broken_credential_source_is_backend_unavailable_in_the_sdks_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a profile whose credentials come from a process that fails
    config = tmp_path / "config"
    config.write_text(f"[profile broken]\ncredential_process = {sys.executable} -c 'raise SystemExit(3)'\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BackendUnavailable, match="custom-process"):
        aws_sdk.signing_identity("broken")
    with pytest.raises(InvalidInput) as missing:
        aws_sdk.signing_identity("nope")
    assert missing.value.field == "profile"
