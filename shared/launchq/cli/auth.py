"""Signing the CLI's requests for the deployed API, which defaults to IAM auth (``ApiAuth=AWS_IAM``).

API Gateway refuses unsigned requests with 403, so the CLI signs with SigV4 — the AWS SDK's own
signer (through launchq's AWS edge, ``launchq.adapters.aws_sdk``), credentials from the default
chain (environment, ``AWS_PROFILE``/``--profile``, shared files, SSO, instance/container roles),
service ``execute-api``. Signing is on when the URL is an
``*.execute-api.<region>.amazonaws.com`` endpoint (``--auth auto``, the default) or when asked
for (``--auth aws-iam`` / ``LAUNCHQ_AUTH=aws-iam``, e.g. for a custom domain); ``--auth none``
turns it off. The SDK comes with the ``aws`` extra and is imported only when signing is on, so
local mode never needs it. Secrets never leave this module except inside the signature.

A launchq API key (``launchq serve --auth keys``, the stack's ``ApiAuth=API_KEY``) is read from
``LAUNCHQ_API_KEY`` -- an environment variable rather than a flag, so it stays out of shell
history and ``ps`` -- and sent as ``Authorization: Bearer <key>`` (``api_key_headers``); a key
set means "do not sign" under ``--auth auto``, and ``--auth keys`` insists on one. It is never
sent over plain http:// to a host other than this machine.
The signer itself (an ``httpx.Auth``) is ``launchq.cli.sigv4``'s, imported only when a
request is to be signed, so a command that signs nothing starts without httpx.
"""

from __future__ import annotations

import ipaddress
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
    """``--auth``: ``auto`` signs for API Gateway URLs only (unless an API key is set), ``aws-iam``
    always, ``none`` never; ``keys`` sends ``LAUNCHQ_API_KEY`` and never signs (``LAUNCHQ_AUTH=keys``
    also turns key checks on in ``launchq serve``)."""

    AUTO = "auto"
    AWS_IAM = "aws-iam"
    NONE = "none"
    KEYS = "keys"


API_KEY_ENV = "LAUNCHQ_API_KEY"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.lower().rstrip(".").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_refusal_hint(error: str) -> str | None:
    """What to check when launchq itself (``launchq serve --auth keys``), not API Gateway,
    refused the request: its error code is ``unauthorized`` (no live key) or ``forbidden``."""
    if error == "unauthorized":
        return f"set {API_KEY_ENV} to a live API key (launchq keys create; revoked keys stop working)"
    if error == "forbidden":
        return "the API key's role (read < submit < admin) or entity does not allow this"
    return None


def api_key_headers(url: str, mode: AuthMode, profile: str | None = None) -> dict[str, str]:
    """``{"Authorization": "Bearer <key>"}`` from ``LAUNCHQ_API_KEY``, or none when it is unset.

    Raises CliError (one line, exit 2, never the key) when ``--auth keys`` has no key, when a key
    would be combined with AWS signing (both set the header), or would travel over plain http://
    to another machine."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        if mode is AuthMode.KEYS:
            raise CliError(f"--auth keys: set {API_KEY_ENV} to your API key (launchq keys create makes one)")
        return {}
    if mode is AuthMode.AWS_IAM or profile is not None:
        raise CliError(
            f"{API_KEY_ENV}: cannot be combined with --auth aws-iam or --profile (both sign requests)"
        )
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
        raise CliError(
            f"{API_KEY_ENV}: refusing to send the API key over plain http:// to {parts.hostname}; "
            "use an https:// URL"
        )
    return {"Authorization": f"Bearer {key}"}


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
    if mode in (AuthMode.NONE, AuthMode.KEYS):
        if profile is not None:
            raise CliError(f"--profile: AWS credentials are not used with --auth {mode.value}")
        return None
    if (
        mode is AuthMode.AUTO
        and profile is None
        and (api_gateway_region(url) is None or os.environ.get(API_KEY_ENV))
    ):
        return None
    from launchq.cli.sigv4 import AwsSigV4

    credentials, configured = _identity(profile)  # first: it is where an unknown profile shows
    return AwsSigV4(credentials, _region(url, configured))
