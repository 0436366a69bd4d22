"""The CLI signs its requests with SigV4, and a verifier written from the spec accepts them.

Every request goes through ``tests.sigv4_proxy`` (API Gateway's IAM auth stand-in) over real
HTTP, in front of the scripted fake API: a request counts as signed only if the proxy could
recompute its signature from what arrived, and reached the API only if it did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from launchq.cli.auth import AuthMode, api_gateway_region, signer_for
from launchq.cli.client import ApiClient
from launchq.cli.errors import ApiError
from launchq.cli.main import app
from tests.sigv4_proxy import MISMATCH, AccessKey, Received, SigV4Proxy, Verifier
from tests.unit.cli_fake_server import FakeApi

KEY = AccessKey("AKIDLAUNCHQTEST00001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token/with+odd=chars")
TEAM_KEY = AccessKey("AKIDLAUNCHQTEAM00002", "team-secret-0123456789abcdefghij")
REGION = "us-east-1"


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS settings from the machine: empty config files, no IMDS, no AWS_* variables."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.startswith("LAUNCHQ_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


@pytest.fixture
def env_key(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> AccessKey:
    """KEY in the environment, as `aws configure export-credentials --format env` leaves it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEY.secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", str(KEY.session_token))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return KEY


@pytest.fixture
def gateway(fake: FakeApi) -> Iterator[SigV4Proxy]:
    """The IAM-auth stand-in for us-east-1, knowing KEY and TEAM_KEY, in front of ``fake``."""
    with SigV4Proxy(Verifier([KEY, TEAM_KEY], REGION), fake.url) as proxy:
        yield proxy


def cli(proxy: SigV4Proxy, *args: str) -> Result:
    return CliRunner().invoke(app, ["--url", proxy.url, *args])


# -- the verifier itself ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "signature"),
    [  # AWS's SigV4 test suite: get-vanilla, get-vanilla-query-order-key-case
        ("/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ],
)
def test_the_verifier_agrees_with_the_aws_test_suite(target: str, signature: str) -> None:
    # GIVEN the suite's key, scope and clock
    key = AccessKey("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    verifier = Verifier(
        [key], "us-east-1", service="service", clock=lambda: datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
    )
    headers = {
        "host": "example.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}",
    }

    # THEN the published signature verifies, and one changed bit of the request does not
    assert verifier.refusal(Received("GET", target, headers, b"")) is None
    assert verifier.refusal(Received("GET", target, headers, b" ")) == MISMATCH
    assert (
        verifier.refusal(Received("GET", target, {**headers, "host": "example.amazonaws.co"}, b""))
        == MISMATCH
    )


# -- signed requests verify -------------------------------------------------------------------
def test_signed_requests_verify_and_reach_the_api(
    env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi
) -> None:
    # GIVEN the API behind IAM auth, and credentials in the environment
    fake.reply("GET", "/runs", 200, {"runs": []})
    fake.reply("POST", "/queues/gpu/runs", 201, {"id": "run-1", "state": "queued", "position": 1})

    # WHEN the CLI lists with a query string and enqueues with a body and an idempotency key
    listed = cli(gateway, "--auth", "aws-iam", "runs", "list", "-q", "gpu", "--state", "queued")
    launched = cli(
        gateway, "--auth", "aws-iam", "launch", "-q", "gpu", "-d", "img:1", "--env", "A=b c",
        "--idempotency-key", "nightly 2026/01/02",
    )  # fmt: skip

    # THEN the stand-in recomputed both signatures and passed the requests on
    assert listed.exit_code == 0, listed.output
    assert launched.exit_code == 0, launched.output
    assert gateway.refused == []
    assert [(r.method, r.target.split("?")[0]) for r in gateway.verified] == [
        ("GET", "/runs"),
        ("POST", "/queues/gpu/runs"),
    ]
    (post,) = fake.calls("POST", "/queues/gpu/runs")
    assert post.body == {"docker_image": "img:1", "env": {"A": "b c"}}
    assert post.headers["idempotency-key"] == "nightly 2026/01/02"
    assert fake.calls("GET", "/runs")[0].query == {"queue": ["gpu"], "state": ["queued"]}
    signed = gateway.verified[1].headers
    assert signed["x-amz-security-token"] == KEY.session_token
    assert "idempotency-key" in signed["authorization"]  # the key is signed, not just sent


def test_a_path_that_needs_encoding_verifies(env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi) -> None:
    # WHEN a run id with a space and a slash is asked for (quoted into one path segment)
    result = cli(gateway, "--auth", "aws-iam", "runs", "show", "a b/c")

    # THEN the signature over the doubly-encoded path verified, and the API itself answered 404
    assert gateway.refused == []
    assert gateway.verified[0].target == "/runs/a%20b%2Fc"
    assert result.exit_code == 2
    assert "fake: no route GET /runs/a%20b%2Fc" in result.stderr


def test_launchq_auth_env_turns_signing_on(env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi) -> None:
    fake.reply("GET", "/queues", 200, {"queues": []})

    result = CliRunner().invoke(
        app, ["queue", "list"], env={"LAUNCHQ_URL": gateway.url, "LAUNCHQ_AUTH": "aws-iam"}
    )

    assert result.exit_code == 0, result.output
    assert len(gateway.verified) == 1


def test_a_profile_signs_with_its_own_keys_and_region(
    aws_home: Path, gateway: SigV4Proxy, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a named profile with its own keys and region, and other keys in the environment
    (aws_home / "aws-credentials").write_text(
        f"[team]\naws_access_key_id = {TEAM_KEY.access_key_id}\naws_secret_access_key = {TEAM_KEY.secret}\n"
    )
    (aws_home / "aws-config").write_text(f"[profile team]\nregion = {REGION}\n")
    fake.reply("GET", "/queues", 200, {"queues": []})

    # WHEN --profile is given (no --auth: a profile asks for signing)
    result = cli(gateway, "--profile", "team", "queue", "list")

    # THEN the profile's key signed for the profile's region
    assert result.exit_code == 0, result.output
    (request,) = gateway.verified
    assert f"Credential={TEAM_KEY.access_key_id}/" in request.headers["authorization"]
    assert f"/{REGION}/execute-api/aws4_request" in request.headers["authorization"]


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com", "eu-west-2"),
        ("https://A1B2C3D4E5.execute-api.us-gov-west-1.amazonaws.com/prod/", "us-gov-west-1"),
        ("https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("https://api.example.com", None),
        ("http://127.0.0.1:8080", None),
        ("https://evil.com/a1b2c3.execute-api.us-east-1.amazonaws.com", None),
        ("https://a1b2c3.execute-api.us-east-1.amazonaws.com.evil.com", None),
    ],
)
def test_api_gateway_urls_are_recognised_with_their_region(url: str, region: str | None) -> None:
    assert api_gateway_region(url) == region


@pytest.mark.parametrize("auth", [AuthMode.AUTO, AuthMode.NONE])
def test_an_api_gateway_url_is_signed_for_its_region_unless_turned_off(
    env_key: AccessKey, auth: AuthMode
) -> None:
    # GIVEN an execute-api URL with a stage, in eu-west-2 (the environment says us-east-1)
    verifier = Verifier([KEY], "eu-west-2")
    seen: list[Received] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen.append(Received(request.method, request.url.raw_path.decode(), headers, request.read()))
        return httpx.Response(201, json={"id": "run-1", "state": "queued"})

    url = "https://a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com/prod"

    # WHEN the client is made as the CLI makes it, and enqueues over https
    signer = signer_for(url, auth)
    with ApiClient(url, signer=signer, transport=httpx.MockTransport(gateway)) as client:
        client.enqueue_run("gpu", {"docker_image": "img:1"})

    # THEN under auto the request (path with its stage, body hash) verifies for eu-west-2;
    # with --auth none it goes unsigned
    (request,) = seen
    assert request.target == "/prod/queues/gpu/runs"
    if auth is AuthMode.AUTO:
        assert verifier.refusal(request) is None
        assert verifier.refusal(Received(request.method, request.target, request.headers, b"{}")) == MISMATCH
    else:
        assert "authorization" not in request.headers


# -- refusals ---------------------------------------------------------------------------------
def _resend(change: str) -> httpx.BaseTransport:
    """A transport that alters the signed request in flight, as a man in the middle would."""

    class Tamper(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            headers = dict(request.headers)
            body, url = request.read(), request.url
            if change == "body":
                body = body.replace(b'"img:1"', b'"evil:1"')
            elif change == "query":
                url = url.copy_with(params={"queue": "other"})
            elif change == "path":
                url = url.copy_with(path="/queues/other/runs")
            else:
                headers.pop(change)
            headers["content-length"] = str(len(body))
            return super().handle_request(httpx.Request(request.method, url, headers=headers, content=body))

    return Tamper()


@pytest.mark.parametrize(
    ("change", "message"),
    [("body", MISMATCH), ("query", MISMATCH), ("path", MISMATCH), ("x-amz-date", MISMATCH),
     ("idempotency-key", MISMATCH), ("x-amz-security-token", "The security token included")],
)  # fmt: skip
def test_a_request_changed_after_signing_is_refused(
    env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi, change: str, message: str
) -> None:
    # GIVEN a signed request that is altered on its way to the gateway
    url = gateway.url
    client = ApiClient(url, signer=signer_for(url, AuthMode.AWS_IAM), transport=_resend(change))

    def send() -> object:
        if change == "query":
            return client.list_runs(queue="gpu")
        return client.enqueue_run("gpu", {"docker_image": "img:1"}, idempotency_key="k-1")

    # WHEN it is sent
    with client, pytest.raises(ApiError) as refused:
        send()

    # THEN the gateway refuses it and the API never sees it
    assert refused.value.status == 403
    assert message in refused.value.message
    assert fake.requests == []


def test_wrong_secret_is_refused_with_what_to_check(
    env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")

    result = cli(gateway, "--auth", "aws-iam", "queue", "create", "q", "--resource", "local-process")

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {gateway.url} refused the request (HTTP 403): {MISMATCH}")
    assert f"region {REGION}, credentials from env" in result.stderr
    assert "execute-api:Invoke" in result.stderr
    assert "not-the-secret" not in result.output
    assert fake.requests == []


def test_unknown_access_key_is_refused(
    env_key: AccessKey, gateway: SigV4Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDNOBODYKNOWS00000")

    result = cli(gateway, "--auth", "aws-iam", "queue", "list")

    assert result.exit_code == 2
    assert "The security token included in the request is invalid." in result.stderr


def test_a_stale_signature_is_refused(
    env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a client clock 20 minutes behind
    import botocore.auth

    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda: datetime.now(UTC) - timedelta(minutes=20)
    )

    result = cli(gateway, "--auth", "aws-iam", "queue", "list")

    assert result.exit_code == 2
    assert "Signature expired" in result.stderr
    assert fake.requests == []


def test_unsigned_request_to_an_iam_api_says_how_to_sign(
    env_key: AccessKey, gateway: SigV4Proxy, fake: FakeApi
) -> None:
    result = cli(gateway, "--auth", "none", "queue", "list")

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {gateway.url} refused the request (HTTP 403): Forbidden — the request was not signed; "
        "an API deployed with IAM auth (ApiAuth=AWS_IAM) needs --auth aws-iam (or LAUNCHQ_AUTH=aws-iam) "
        "and AWS credentials\n"
    )
    assert "authorization" not in gateway.refused[0][0].headers


# -- local mistakes, before anything is sent --------------------------------------------------
def test_no_credentials_is_one_clear_line(aws_home: Path, gateway: SigV4Proxy) -> None:
    result = cli(gateway, "--auth", "aws-iam", "queue", "list")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --auth: no AWS credentials found to sign requests with: ")
    assert result.stderr.count("\n") == 1
    assert (gateway.verified, gateway.refused) == ([], [])


def test_no_region_is_one_clear_line(
    env_key: AccessKey, gateway: SigV4Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    result = cli(gateway, "--auth", "aws-iam", "queue", "list")

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --auth: cannot tell which AWS region {gateway.url} is in: "
        "set AWS_REGION (or the profile's region)\n"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--profile", "nope"], "Error: --profile: no AWS profile 'nope' in the AWS config files\n"),
        (
            ["--profile", "team", "--auth", "none"],
            "Error: --profile: AWS credentials are not used with --auth none\n",
        ),
        (["--auth", "iam"], "Error: Invalid value for '--auth'"),
    ],
)
def test_bad_auth_flags_are_refused(
    env_key: AccessKey, gateway: SigV4Proxy, flags: list[str], message: str
) -> None:
    result = cli(gateway, *flags, "queue", "list")

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert (gateway.verified, gateway.refused) == ([], [])


def test_a_bad_auth_value_names_the_choices(gateway: SigV4Proxy) -> None:
    result = cli(gateway, "--auth", "iam", "queue", "list")

    assert result.exit_code == 2
    assert "'iam' is not one of 'auto', 'aws-iam', 'none'" in result.stderr
    assert "Traceback" not in result.output


def test_signing_without_boto3_says_which_extra_to_install(
    env_key: AccessKey, gateway: SigV4Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN botocore cannot be imported (launchq installed without the aws extra)
    for name in [m for m in sys.modules if m == "botocore" or m.startswith("botocore.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "botocore", None)

    result = cli(gateway, "--auth", "aws-iam", "queue", "list")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --auth: signing requests for AWS (IAM auth) needs boto3: pip install 'launchq[aws]'\n"
    )
