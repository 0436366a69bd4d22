"""What the API's answers mean to the CLI: its errors, and answers launchq could not have sent.

An HTTP error becomes an ``ApiError`` (status, ``error``, ``detail``) whatever shape its body
has. A 401/403 never comes from launchq itself, only from API Gateway's IAM auth in front of
it, so it is told apart with what to check (signing on or off, where the
credentials came from). A URL that answers, but not as launchq would (an HTML page, another
service's JSON), is told apart too: ``GET /healthz`` is asked, and ``NotLaunchq`` says what
answered there instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from launchq.cli.auth import key_refusal_hint
from launchq.cli.errors import ApiError, CliError

if TYPE_CHECKING:
    from launchq.cli.sigv4 import AwsSigV4
    from launchq.cli.transport import Answer

HEALTH_PATH = "/healthz"


class NotLaunchq(CliError):
    """The URL answers HTTP, but what answers is not launchq (exit 2: the URL is the mistake)."""

    def __init__(self, base_url: str, health: str) -> None:
        super().__init__(f"{base_url}: not a launchq API (GET {HEALTH_PATH} returned {health})")


def _is_json(answer: Answer) -> bool:
    return "json" in answer.header("content-type").lower()


def looks_foreign(answer: Answer) -> bool:
    """Whether launchq (or the API Gateway in front of it) could not have sent ``answer``:
    a body that is not JSON, or an error whose JSON has neither ``error`` nor ``message``."""
    if not answer.content:
        return False  # 204 and friends: launchq's own empty answers
    if not _is_json(answer):
        return True
    if answer.status_code < 400:
        return False
    try:
        body = answer.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and ("error" in body or "message" in body))


def health_summary(answer: Answer) -> str:
    """What ``GET /healthz`` answered, in a few words: status, reason and the content type."""
    kind = answer.header("content-type").split(";")[0].strip() or "no content type"
    return f"{answer.status_code} {answer.reason_phrase}, {kind}".strip()


def is_launchq_health(answer: Answer) -> bool:
    """Whether ``answer`` is launchq's ``GET /healthz``: 200, ``{"status": "ok", "version": ...}``."""
    if answer.status_code != 200 or not _is_json(answer):
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "ok" and "version" in body


def _error_detail(detail: Any) -> str:
    """Flatten ``detail``: a string, or a pydantic-style list of ``{loc, msg}`` items."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return "" if detail is None else str(detail)


def api_error(answer: Answer) -> ApiError:
    """Build the ``ApiError`` for an HTTP error answer, whatever shape its body has."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = answer.text.strip().splitlines()
        return ApiError(answer.status_code, answer.reason_phrase, text[0][:200] if text else "")
    error = str(body.get("error") or answer.reason_phrase)
    # API Gateway's own answers (auth, throttling, unknown route) are {"message": ...}
    detail = _error_detail(body.get("detail")) or str(body.get("message") or "") or error
    field = body.get("field")
    if field and not detail.startswith(f"{field}:"):
        detail = f"{field}: {detail}"
    return ApiError(answer.status_code, error, detail)


def auth_refused(answer: Answer, base_url: str, signer: AwsSigV4 | None) -> ApiError:
    """The error for a 401/403 from API Gateway: what it said, and what to check next."""
    refused = api_error(answer)
    said = refused.detail
    if signer is None:
        hint = (
            "the request was not signed; an API deployed with IAM auth (ApiAuth=AWS_IAM) needs "
            "--auth aws-iam (or LAUNCHQ_AUTH=aws-iam) and AWS credentials"
        )
    else:
        hint = (
            f"the request was signed (SigV4, region {signer.region}, credentials from {signer.source}); "
            "check that they are valid, current, and allowed execute-api:Invoke on this API"
        )
    hint = key_refusal_hint(refused.error) or hint  # launchq's own API-key checks say what they want
    message = f"{base_url} refused the request (HTTP {answer.status_code}): {said} — {hint}"
    return ApiError(answer.status_code, answer.reason_phrase, message)
