"""``launchq.gcp.errors``: the one place Google's SDK exceptions become launchq's errors.

The exceptions are Google's own classes, built as the SDK builds them from a gRPC status;
the Pub/Sub doorbell's tests see the same translation on a real emulator.
"""

from __future__ import annotations

from functools import partial

import pytest
from google.api_core import exceptions as api
from google.auth.exceptions import DefaultCredentialsError

from launchq.errors import AlreadyExists, BackendUnavailable, Conflict, InvalidInput, LaunchFailed, NotFound
from launchq.gcp.errors import gcp_call, import_sdk, transient


def _raised(exc: Exception, **kwargs: object) -> Exception:
    with pytest.raises(Exception) as raised, gcp_call("Pub/Sub Publish to projects/p/topics/t", **kwargs):
        raise exc
    return raised.value


@pytest.mark.parametrize(
    "exc",
    [
        api.ServiceUnavailable("failed to connect to all addresses"),
        api.DeadlineExceeded("Deadline Exceeded"),
        api.InternalServerError("boom"),
        api.Unknown("?"),
        api.Aborted("contention"),  # a 409, but Google says to retry it
        api.ResourceExhausted("quota"),
        api.TooManyRequests("slow down"),
        api.RetryError("Timeout of 2.0s exceeded", cause=api.ServiceUnavailable("refused")),
        DefaultCredentialsError("Your default credentials were not found."),
    ],
)
def test_retryable_or_unanswered_is_backend_unavailable_even_when_refusals_are_not(exc: Exception) -> None:
    error = _raised(exc, otherwise=LaunchFailed, field="doorbell")
    assert type(error) is BackendUnavailable
    assert error.field == "doorbell"
    assert str(error).startswith(
        f"doorbell: Pub/Sub Publish to projects/p/topics/t failed: {type(exc).__name__}: "
    )
    assert error.__cause__ is exc


def test_a_retry_that_ran_out_names_the_last_error() -> None:
    error = _raised(api.RetryError("Timeout of 2.0s exceeded", cause=api.ServiceUnavailable("refused")))
    assert "Timeout of 2.0s exceeded" in str(error)
    assert "refused" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        api.PermissionDenied("no pubsub.topics.publish"),
        api.InvalidArgument("bad"),
        api.Unauthenticated("who"),
    ],
)
def test_a_refusal_is_otherwise_backend_unavailable_by_default(exc: Exception) -> None:
    assert type(_raised(exc)) is BackendUnavailable
    refused = _raised(exc, otherwise=LaunchFailed)
    assert type(refused) is LaunchFailed
    assert refused.detail.endswith(f"{type(exc).__name__}: {exc.args[0]}")  # no "403 " status prefix


def test_the_table_is_looked_up_by_class_then_by_its_bases() -> None:
    table = {"NotFound": NotFound, "AlreadyExists": AlreadyExists, "ClientError": Conflict}
    assert type(_raised(api.NotFound('topic "t"'), table=table)) is NotFound
    assert type(_raised(api.AlreadyExists("t"), table=table)) is AlreadyExists
    assert type(_raised(api.PermissionDenied("no"), table=table)) is Conflict  # via ClientError
    assert type(_raised(api.ServiceUnavailable("down"), table=table)) is BackendUnavailable


def test_a_translation_keeps_its_own_field() -> None:
    table = {"InvalidArgument": partial(InvalidInput, field="topic")}
    error = _raised(api.InvalidArgument("bad name"), table=table, field="doorbell")
    assert type(error) is InvalidInput
    assert error.field == "topic"


def test_other_exceptions_pass_through_untouched() -> None:
    mistake = ValueError("a bug, not Google")
    assert _raised(mistake, field="doorbell") is mistake


def test_a_missing_sdk_is_backend_unavailable_naming_the_package() -> None:
    with pytest.raises(BackendUnavailable, match=r"pip install 'launchq\[gcp\]' \(or google-cloud-nothing\)"):
        import_sdk("google.cloud.nothing_here", "google-cloud-nothing")
    assert import_sdk("google.api_core.exceptions", "google-api-core") is api


def test_retries_and_translation_agree_on_what_is_transient() -> None:
    # What an adapter's Retry retries is what gcp_call would call BackendUnavailable anyway.
    for again in (api.ServiceUnavailable(""), api.TooManyRequests(""), api.Aborted(""), api.BadGateway("")):
        assert transient(again)
        assert type(_raised(again, otherwise=LaunchFailed)) is BackendUnavailable
    for final in (api.PermissionDenied("x"), api.NotFound("x"), api.InvalidArgument("x")):
        assert not transient(final)
        assert type(_raised(final, otherwise=LaunchFailed)) is LaunchFailed
    # a retry that ran out, or no Google error at all, is never retried again
    assert not transient(api.RetryError("Timeout of 1.0s exceeded", cause=api.ServiceUnavailable("x")))
    assert not transient(ValueError("a bug"))
