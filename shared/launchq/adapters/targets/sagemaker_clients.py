"""The AWS clients the SageMaker target uses, for its own region and for the others a queue
config names with W&B's ``region`` / ``profile`` keys.

The target's own clients (SageMaker, CloudWatch Logs, STS) may be injected and are built
on first use otherwise. A job submitted with ``region`` or ``profile`` is followed with
clients of a ``boto3.Session`` for that pair, built once and kept. The SDK's errors are
raised here (the target's calls translate them, through ``launchq.adapters.aws_sdk``),
except a missing profile, which is LaunchFailed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from launchq.adapters import aws_sdk
from launchq.adapters.targets.sagemaker_config import Submission
from launchq.errors import InvalidInput, LaunchFailed

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sts import STSClient

HERE = Submission()


class SageMakerClients:
    """SageMaker, CloudWatch Logs and STS clients by (region, profile); HERE is the target's own."""

    def __init__(
        self,
        sagemaker: SageMakerClient | None = None,
        *,
        logs: CloudWatchLogsClient | None = None,
        sts: STSClient | None = None,
        account_id: str | None = None,
    ) -> None:
        self._here: dict[str, Any] = {
            name: client
            for name, client in (("sagemaker", sagemaker), ("logs", logs), ("sts", sts))
            if client
        }
        self._elsewhere: dict[tuple[str, str | None, str | None], Any] = {}
        self._accounts: dict[tuple[str | None, str | None], str] = {}
        if account_id is not None:
            self._accounts[(None, None)] = account_id

    def sagemaker(self, where: Submission = HERE) -> SageMakerClient:
        return cast("SageMakerClient", self._client("sagemaker", where))

    def logs(self, where: Submission = HERE) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", self._client("logs", where))

    def account(self, where: Submission = HERE) -> str:
        """The configured account, else the caller's (STS GetCallerIdentity, asked once per
        place: a profile may be another account). Raises the SDK's errors."""
        place = (where.region, where.profile) if where.profile else (None, None)
        if place not in self._accounts:
            sts = cast("STSClient", self._client("sts", where if where.profile else HERE))
            self._accounts[place] = sts.get_caller_identity()["Account"]
        return self._accounts[place]

    def _client(self, service: str, where: Submission) -> Any:
        if not where.handle():
            if service not in self._here:
                self._here[service] = aws_sdk.client(service)
            return self._here[service]
        key = (service, where.region, where.profile)
        if key not in self._elsewhere:
            self._elsewhere[key] = _session(where).client(service)
        return self._elsewhere[key]


def _session(where: Submission) -> Any:
    """A boto3 Session for ``where``. Raises LaunchFailed when its profile does not exist here."""
    try:
        return aws_sdk.session(profile=where.profile, region=where.region)
    except InvalidInput as exc:
        raise LaunchFailed(
            f"resource_args.sagemaker.profile: AWS profile {where.profile!r} is not configured here"
        ) from exc
