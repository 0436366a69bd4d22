"""Signing the CLI's requests for the deployed API, which defaults to IAM auth (``ApiAuth=AWS_IAM``).

API Gateway refuses unsigned requests with 403, so the CLI signs with SigV4 — the AWS SDK's own
signer (through launchq's AWS edge, ``launchq.adapters.aws_sdk``), credentials from the default
chain (environment, ``AWS_PROFILE``/``--profile``, shared files, SSO, instance/container roles),
service ``execute-api``. Signing is on when the URL is an
``*.execute-api.<region>.amazonaws.com`` endpoint (``--auth auto``, the default) or when asked
for (``--auth aws-iam`` / ``LAUNCHQ_AUTH=aws-iam``, e.g. for a custom domain); ``--auth none``
turns it off. The SDK comes with the ``aws`` extra and is imported only when signing is on, so
local mode never needs it. Secrets never leave this module except inside the signature.
The signer itself (an ``httpx.Auth``) is ``launchq.cli.sigv4``'s, imported only when a
request is to be signed, so a command that signs nothing starts without httpx.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from launchq.adapters import aws_sdk
from launchq.cli.errors import CliError
from launchq.errors import BackendUnavailable, InvalidInput

if TYPE_CHECKING:
    from launchq.adapters.aws_sdk import Credentials
    from launchq.cli.sigv4 import AwsSigV4

_API_GATEWAY_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class AuthMode(StrEnum):
    """``--auth``: ``auto`` signs for API Gateway URLs only, ``aws-iam`` always, ``none`` never."""

    AUTO = "auto"
    AWS_IAM = "aws-iam"
    NONE = "none"


def api_gateway_region(url: str) -> str | None:
    """The region in an ``https://{id}.execute-api.{region}.amazonaws.com`` URL, else None."""
    match = _API_GATEWAY_HOST.match((urlsplit(url).hostname or "").lower())
    return match.group(1) if match else None


def _identity(profile: str | None) -> tuple[Credentials, str | None]:
    """The credentials to sign with and the profile's region. Raises CliError."""
    try:
        credentials, region = aws_sdk.signing_identity(profile)
    except ImportError:
        raise CliError(
            "--auth: signing requests for AWS (IAM auth) needs boto3: pip install 'launchq[aws]'"
        ) from None
    except InvalidInput as exc:
        raise CliError(f"--profile: {exc.detail}") from None
    except BackendUnavailable as exc:  # a broken profile, an expired SSO token: the SDK says which
        raise CliError(f"--auth: cannot load AWS credentials: {exc.detail}") from None
    if credentials is None:
        raise CliError(
            "--auth: no AWS credentials found to sign requests with: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile (or use --auth none for an open API)"
        )
    return credentials, region


def _region(url: str, configured: str | None) -> str:
    region = api_gateway_region(url) or os.environ.get("AWS_REGION") or configured
    if not region:
        raise CliError(
            f"--auth: cannot tell which AWS region {url} is in: set AWS_REGION (or the profile's region)"
        )
    return region


def signer_for(url: str, mode: AuthMode, profile: str | None = None) -> AwsSigV4 | None:
    """The signer ``url`` and ``mode`` call for, or None for unsigned requests.

    A ``profile`` asks for signing (under ``auto``); it is refused with ``none`` rather than
    ignored. Raises CliError (one line, exit 2) when signing is wanted but boto3, the profile,
    the region or the credentials are missing.
    """
    if mode is AuthMode.NONE:
        if profile is not None:
            raise CliError("--profile: AWS credentials are not used with --auth none")
        return None
    if mode is AuthMode.AUTO and profile is None and api_gateway_region(url) is None:
        return None
    from launchq.cli.sigv4 import AwsSigV4

    credentials, configured = _identity(profile)  # first: it is where an unknown profile shows
    return AwsSigV4(credentials, _region(url, configured))
