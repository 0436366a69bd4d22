"""The EKS bearer token: a presigned STS GetCallerIdentity URL, checked here the way EKS's
authenticator checks it -- decoded, its region, expiry and signed ``x-k8s-aws-id`` header
read from the query, and its SigV4 signature recomputed independently (hmac + sha256 per
AWS's published algorithm, not botocore) with the same credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from launchq.adapters.targets.kubernetes_eks import CLUSTER_HEADER, TOKEN_PREFIX, eks_token

ACCESS_KEY, SECRET_KEY = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(url: str, cluster: str, secret: str) -> str:
    """SigV4 of a presigned GET with headers ``host`` and ``x-k8s-aws-id`` (AWS's algorithm)."""
    parts = urlsplit(url)
    query = sorted((k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    fields = dict(query)
    headers = f"host:{parts.netloc}\n{CLUSTER_HEADER}:{cluster}\n"
    canonical = "\n".join(
        [
            "GET",
            parts.path or "/",
            canonical_query,
            headers,
            fields["X-Amz-SignedHeaders"],
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    scope = fields["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", fields["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    date, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def decode(token: str) -> str:
    assert token.startswith(TOKEN_PREFIX)
    body = token.removeprefix(TOKEN_PREFIX)
    assert "=" not in body  # unpadded, as aws-iam-authenticator expects
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


@pytest.mark.usefixtures("credentials")
def test_the_eks_token_is_a_presigned_sts_request_for_the_cluster_that_verifies() -> None:
    # WHEN a token is made for cluster "training" in eu-west-1
    url = decode(eks_token("training", "eu-west-1"))
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # THEN it is STS GetCallerIdentity in that region
    assert (parts.scheme, parts.netloc) == ("https", "sts.eu-west-1.amazonaws.com")
    assert query["Action"] == "GetCallerIdentity"
    assert query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
    assert query["X-Amz-Credential"].endswith("/eu-west-1/sts/aws4_request")
    # AND it expires 60 seconds after it was signed, which was now
    assert query["X-Amz-Expires"] == "60"
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=2)
    # AND the cluster header is among the signed headers, and the signature holds for it
    assert CLUSTER_HEADER in query["X-Amz-SignedHeaders"].split(";")
    assert query["X-Amz-Signature"] == expected_signature(url, "training", SECRET_KEY)
    # AND the same URL for another cluster would not verify: the header is bound in
    assert query["X-Amz-Signature"] != expected_signature(url, "other", SECRET_KEY)
