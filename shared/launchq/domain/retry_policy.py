"""A queue's retry policy: how often, and how far apart, a launch that failed for a passing
reason is tried again before its run is dead-lettered (``launchq.service.retries``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from launchq.domain.wandb_types import WandbInt

#: The most attempts a queue may allow: a run that cannot start after 20 tries needs a person.
MAX_ATTEMPTS = 20


class RetryPolicy(BaseModel):
    """``retry: {max_attempts: 3, backoff_seconds: 10, max_backoff_seconds: 300}`` on a queue.

    ``max_attempts`` counts every launch attempt, the first included (1 = never retry).
    Attempt ``n`` that fails waits ``backoff_seconds * 2**(n-1)``, at most
    ``max_backoff_seconds``, before attempt ``n+1``.
    """

    model_config = ConfigDict(extra="forbid")

    max_attempts: WandbInt = Field(
        default=3, ge=1, le=MAX_ATTEMPTS, description="launch attempts in all, the first included"
    )
    backoff_seconds: float = Field(default=10, gt=0, le=3600, description="wait after the first failure")
    max_backoff_seconds: float = Field(default=300, gt=0, le=86400, description="the longest wait")

    @model_validator(mode="after")
    def _cap_not_below_first(self) -> RetryPolicy:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next."""
        return float(min(self.backoff_seconds * 2 ** min(attempt - 1, 32), self.max_backoff_seconds))
