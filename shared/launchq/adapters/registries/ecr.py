"""Amazon ECR (W&B's ``registry.type: ecr``), through the ECR API rather than ``/v2/``.

The repository comes from ``uri`` (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>``)
or from ``repository`` (+ ``region``, else the SDK's default region; the account is the
caller's, asked of STS once). ``exists`` is ``DescribeImages`` for the tag: an
``ImageNotFoundException`` is False, a missing repository is InvalidInput naming it (a
config mistake: W&B does not create repositories either), anything else is
BackendUnavailable. ``credentials`` decode ``GetAuthorizationToken``'s ``AWS:<token>``;
the server is this registry's host (the token is valid for every registry the caller may
use, so a cross-account URI logs in to the URI's registry, not the caller's).

The SDK is imported on first use (``launchq.adapters.aws_sdk``, which also translates its
errors): this module loads without the ``aws`` extra.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, ClassVar

from launchq.adapters import aws_sdk
from launchq.adapters.aws_sdk import aws_call, codes
from launchq.adapters.registries.uri import ecr_uri, parse_registry_uri, tagged
from launchq.errors import BackendUnavailable, InvalidInput, NotFound
from launchq.ports import Registry, RegistryCredentials

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_sts import STSClient

__all__ = ["EcrRegistry"]

FIELD = "registry.uri"


_IMAGE_LOOKUP = codes(NotFound, "ImageNotFoundException") | codes(InvalidInput, "RepositoryNotFoundException")


class EcrRegistry(Registry):
    """An ECR repository; the ECR and STS clients are built on first use unless injected."""

    type: ClassVar[str] = "ecr"

    def __init__(
        self,
        uri: str | None = None,
        *,
        repository: str | None = None,
        region: str | None = None,
        account_id: str | None = None,
        client: ECRClient | None = None,
        sts_client: STSClient | None = None,
    ) -> None:
        """Raises InvalidInput when neither uri nor repository is given, or they disagree."""
        self._client = client
        self._sts_client = sts_client
        self._registry_id: str | None = None  # only sent when the URI names the account
        self._uri: str | None = None
        if uri is not None:
            where = parse_registry_uri(uri, expect="ecr")
            for key, given, parsed in (
                ("repository", repository, where.path),
                ("region", region, where.region),
                ("account_id", account_id, where.account),
            ):
                if given is not None and given != parsed:
                    raise InvalidInput(f"{key} {given!r} differs from the uri's {parsed!r}", field=FIELD)
            repository, region, account_id = where.path, where.region, where.account
            self._registry_id = account_id
            self._uri = where.uri
        elif not repository:
            raise InvalidInput("give `uri` or `repository`", field="registry")
        self.repository: str = repository
        self._region = region
        self._account_id = account_id

    # -- clients ------------------------------------------------------------------------
    @property
    def region(self) -> str:
        """The configured region, else the SDK's default. Raises InvalidInput when there is none."""
        if self._region is None:
            region = self._client.meta.region_name if self._client is not None else None
            if region is None:
                region = aws_sdk.default_region()
            if not region:
                raise InvalidInput(
                    "no AWS region: set registry.region or AWS_REGION", field="registry.region"
                )
            self._region = region
        return self._region

    @property
    def client(self) -> ECRClient:
        if self._client is None:
            self._client = aws_sdk.client("ecr", region=self.region)
        return self._client

    def account_id(self) -> str:
        """The URI's account, else the caller's (STS GetCallerIdentity, asked once)."""
        if self._account_id is None:
            if self._sts_client is None:
                self._sts_client = aws_sdk.client("sts", region=self.region)
            with aws_call("ECR STS GetCallerIdentity"):
                self._account_id = self._sts_client.get_caller_identity()["Account"]
        return self._account_id

    @property
    def uri(self) -> str:
        """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>``. Raises BackendUnavailable."""
        if self._uri is None:
            self._uri = ecr_uri(self.account_id(), self.region, self.repository)
        return self._uri

    @property
    def host(self) -> str:
        return self.uri.split("/", 1)[0]

    # -- Registry -----------------------------------------------------------------------
    def image_uri(self, tag: str) -> str:
        """Raises InvalidInput for a malformed tag; BackendUnavailable when the account must be
        asked of STS and cannot be."""
        return tagged(self.uri, tag)

    def exists(self, tag: str) -> bool:
        """DescribeImages for ``tag``. Raises InvalidInput (no such repository), BackendUnavailable."""
        tagged(self.repository, tag)  # a malformed tag is the caller's mistake, not a missing image
        client = self.client  # outside the call: its own InvalidInput (no region) is not a missing repository
        try:
            with aws_call("ECR DescribeImages", _IMAGE_LOOKUP):
                if self._registry_id:
                    answer = client.describe_images(
                        registryId=self._registry_id,
                        repositoryName=self.repository,
                        imageIds=[{"imageTag": tag}],
                    )
                else:
                    answer = client.describe_images(
                        repositoryName=self.repository, imageIds=[{"imageTag": tag}]
                    )
        except NotFound:
            return False
        except InvalidInput as exc:
            raise InvalidInput(
                f"ECR repository {self.repository!r} does not exist in {self.region}: create it first",
                field=FIELD,
            ) from exc
        return len(answer.get("imageDetails", [])) > 0

    def credentials(self) -> RegistryCredentials:
        """User ``AWS`` and a 12-hour token (GetAuthorizationToken). Raises BackendUnavailable."""
        with aws_call("ECR GetAuthorizationToken"):
            data = self.client.get_authorization_token()["authorizationData"]
        if not data or "authorizationToken" not in data[0]:
            raise BackendUnavailable("ECR GetAuthorizationToken answered no token")
        try:
            pair = base64.b64decode(data[0]["authorizationToken"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BackendUnavailable("ECR GetAuthorizationToken answered a malformed token") from exc
        username, sep, password = pair.partition(":")
        if not sep:
            raise BackendUnavailable("ECR GetAuthorizationToken answered a malformed token")
        return RegistryCredentials(username=username, password=password, server=self.host)
