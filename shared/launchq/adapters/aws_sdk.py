"""launchq's one edge to the AWS SDK: clients, error translation, request models, signing.

Every AWS adapter (CodeBuild, S3, SQS, ECR, EventBridge Scheduler, SageMaker) and the CLI's
SigV4 signer reach boto3 and botocore only through this module, so that:

- the SDK is imported when a call is made, never when a module loads: launchq runs without
  the ``aws`` extra, and this module imports nothing but launchq's errors (a Lambda cold
  start stays AWS-only);
- no SDK exception crosses a port: ``aws_call`` turns each into one of ``launchq.errors``
  by AWS's error code, from a table the caller extends for the call;
- no error carries request data: a detail is the action, AWS's code and message, or the
  SDK's own words (its request validation report with the offending values removed).

The DynamoDB store keeps its own edge, ``DynamoTable._call``: failed conditions and cancelled
transactions need more than a table of codes. The Kubernetes, Google and Azure adapters
follow the same shape: one edge module per cloud with a lazily imported client factory and
one translating call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from launchq.errors import BackendUnavailable, InvalidInput, LaunchFailed, LaunchqError, NotFound

if TYPE_CHECKING:  # the SDK's types, for modules that type against them without importing it
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError
    from botocore.model import ListShape, MapShape, Shape, StructureShape  # noqa: F401 - for sagemaker_config
    from mypy_boto3_s3 import S3Client

__all__ = [  # and, for type checking only, Credentials, ListShape, MapShape, Shape, StructureShape
    "MISSING_OBJECT",
    "RETRYABLE",
    "Translation",
    "aws_call",
    "client",
    "codes",
    "default_region",
    "eks_cluster",
    "input_shape",
    "presign_sts_caller_identity",
    "profiles",
    "redact_values",
    "s3_object_exists",
    "session",
    "signing_identity",
    "sigv4_headers",
    "validation_report",
]

Translation = Callable[[str], LaunchqError]
"""Builds launchq's error from a detail: an error class, or e.g. ``partial(InvalidInput, field=...)``."""

#: Codes AWS uses for "try again later" (with any HTTP 5xx): never a refusal of the request.
RETRYABLE = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def codes(kind: Translation, *names: str) -> dict[str, Translation]:
    """A translation table sending each of ``names`` to ``kind``; tables combine with ``|``."""
    return dict.fromkeys(names, kind)


#: S3 answers a missing key with these (HeadObject has no body, so only "404").
MISSING_OBJECT = codes(NotFound, "404", "NoSuchKey", "NotFound")


# -- clients ------------------------------------------------------------------------------
def client(service: str, *, region: str | None = None, fresh: bool = False) -> Any:
    """A client from the environment, shared files and roles: of the process's default session,
    or with ``fresh`` of a new one that reads them again.

    Raises BackendUnavailable when the SDK cannot build it (no region for a regional
    service, ``AWS_PROFILE`` naming a profile that is not there).
    """
    import boto3

    with aws_call(f"building the AWS {service} client"):
        sdk: Any = boto3.session.Session() if fresh else boto3
        return sdk.client(service, region_name=region)


def session(*, profile: str | None = None, region: str | None = None) -> Any:
    """A new boto3 Session. Raises InvalidInput (field ``profile``) for a profile not configured here."""
    import boto3

    with aws_call("AWS session", codes(partial(InvalidInput, field="profile"), "ProfileNotFound")):
        return boto3.session.Session(profile_name=profile, region_name=region)


def default_region() -> str | None:
    """The region the SDK would use (AWS_REGION, AWS_DEFAULT_REGION, the profile's), if any.

    Raises InvalidInput (field ``profile``) when ``AWS_PROFILE`` names a profile that is not there.
    """
    region: str | None = session().region_name
    return region


def profiles() -> list[str]:
    """The AWS profiles of this machine's config and credentials files."""
    import botocore.session

    return list(botocore.session.Session().available_profiles)


# -- errors -------------------------------------------------------------------------------
@contextmanager
def aws_call(
    action: str,
    table: Mapping[str, Translation] | None = None,
    *,
    field: str | None = None,
    otherwise: Translation = BackendUnavailable,
) -> Iterator[None]:
    """Run the block; an SDK error raised in it leaves as one of launchq's errors.

    The error's code (for the SDK's client-side errors, its class name: ``ParamValidationError``,
    ``EndpointConnectionError``, ...) is looked up in ``table``. A code not there is
    BackendUnavailable when AWS says to retry (throttling, 5xx) or the request never got an
    answer, and ``otherwise`` when AWS refused the request. ``field`` goes to every error
    whose translation names none. The detail reads "<action> failed: <code>: <message>".
    """
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error: Mapping[str, Any] = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = f"{action} failed: {code or 'error'}: {error.get('Message', '')}"
        kind = (table or {}).get(code) or (BackendUnavailable if _retryable(exc, code) else otherwise)
        raise _with_field(kind(detail), field) from exc
    except (BotoCoreError, Boto3Error) as exc:  # no answer: connection, credentials, validation, transfer
        names = [cls.__name__ for cls in type(exc).__mro__]
        kind = next((table[name] for name in names if table and name in table), BackendUnavailable)
        detail = f"{action} failed: {type(exc).__name__}: {redact_values(str(exc))}"
        raise _with_field(kind(detail), field) from exc


def _retryable(exc: ClientError, code: str) -> bool:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in RETRYABLE or status >= 500


def _with_field(error: LaunchqError, field: str | None) -> LaunchqError:
    if error.field is None:
        error.field = field
    return error


def s3_object_exists(s3: S3Client, bucket: str, key: str) -> bool:
    """HeadObject: whether ``key`` is in ``bucket``. Raises BackendUnavailable.

    A missing bucket reads as a missing key (HEAD answers both with a bare 404); the write
    that follows names it.
    """
    try:
        with aws_call("S3 HeadObject", MISSING_OBJECT):
            s3.head_object(Bucket=bucket, Key=key)
    except NotFound:
        return False
    return True


def eks_cluster(name: str, region: str) -> tuple[str, str]:
    """EKS DescribeCluster: the cluster's API endpoint and certificate authority (base64 PEM).

    Raises NotFound (no such cluster), LaunchFailed (refused, e.g. no ``eks:DescribeCluster``
    on it), BackendUnavailable (no credentials, no answer, throttled).
    """
    with aws_call(
        "EKS DescribeCluster", codes(NotFound, "ResourceNotFoundException"), otherwise=LaunchFailed
    ):
        described = client("eks", region=region).describe_cluster(name=name)["cluster"]
    endpoint, ca_data = described.get("endpoint"), (described.get("certificateAuthority") or {}).get("data")
    if not (endpoint and ca_data):  # a cluster still being created has neither yet
        raise LaunchFailed(f"EKS cluster {name!r} has no API endpoint yet (status {described.get('status')})")
    return str(endpoint), str(ca_data)


# -- request models -----------------------------------------------------------------------
@cache
def input_shape(service: str, operation: str) -> StructureShape:
    """The SDK's model of ``operation``'s request (loaded once per process, ~0.1 s)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    if shape is None:  # pragma: no cover - only for operations that take no input
        raise RuntimeError(f"the AWS SDK has no model of the {service} {operation} request")
    return shape


def validation_report(request: Mapping[str, Any], shape: Shape) -> str | None:
    """The SDK's own type and length checks of ``request``: its report, values removed, or None."""
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(request, shape)
    return redact_values(report.generate_report()) if report.has_errors() else None


def redact_values(report: str) -> str:
    """The SDK's validation report without the offending values (they may be secrets)."""
    return re.sub(r"value: .*?, (type|valid)", r"\1", report)


# -- signing (the CLI, for an API deployed with IAM auth) ---------------------------------
def signing_identity(profile: str | None) -> tuple[Credentials | None, str | None]:
    """The default chain's credentials (None when it has none) and the configured region.

    Raises ImportError without the SDK, InvalidInput (field ``profile``) for a profile the
    config files lack, BackendUnavailable in the SDK's words when credentials cannot be
    loaded (a broken profile, an expired SSO token).
    """
    import botocore.session
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    sdk = botocore.session.Session(profile=profile)
    try:
        credentials = sdk.get_credentials()
    except ProfileNotFound as exc:
        raise InvalidInput(f"no AWS profile {profile!r} in the AWS config files", field="profile") from exc
    except BotoCoreError as exc:
        raise BackendUnavailable(str(exc)) from exc
    region = sdk.get_config_variable("region")
    return credentials, str(region) if region else None


def sigv4_headers(
    credentials: Credentials,
    *,
    service: str,
    region: str,
    method: str,
    url: str,
    params: Mapping[str, str] | list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, str]:
    """The SigV4 headers (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) of a request.

    ``params`` are the decoded query pairs, a list when a key repeats (the SDK encodes and sorts
    them canonically; a dict would sign only a repeated key's last value); the frozen
    credentials are asked for on every call, so temporary ones are refreshed before they expire.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    pairs: Any = params if isinstance(params, list) else dict(params)  # stubs: Mapping; botocore: pairs too
    signed = AWSRequest(method=method, url=url, params=pairs, headers=dict(headers), data=body)
    SigV4Auth(credentials.get_frozen_credentials(), service, region).add_auth(signed)
    return {name: signed.headers[name] for name in SIGNATURE_HEADERS if name in signed.headers}


def presign_sts_caller_identity(region: str, headers: Mapping[str, str], expires_in: int) -> str:
    """A presigned ``GET`` URL of STS ``GetCallerIdentity`` in ``region``, ``headers`` signed
    with it (EKS's bearer token is this URL: ``x-k8s-aws-id`` names the cluster).

    Raises BackendUnavailable when no credentials can be found.
    """
    import boto3

    with aws_call("presigning STS GetCallerIdentity"):
        sts = boto3.session.Session().client(
            "sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com"
        )

        def add_headers(request: Any, **_: Any) -> None:
            for name, value in headers.items():
                request.headers[name] = value

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_headers)
        url: str = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=expires_in, HttpMethod="GET"
        )
        return url
