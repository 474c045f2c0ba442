"""The engine's one retry policy for AWS calls (design §4, seed Req 2.4 / 4.4 / 9.5).

Decision apart from effect, as in tenacity: :func:`next_delay` is a pure function of the
attempt number and the error; :class:`RetryPolicy` only *does* what it says — call, map the
error, sleep through the injected :class:`~drsorch.clock.Clock`, call again. botocore's
own retries are off (``session.client_config``), so this is the only retry layer.

Throttling, 5xx and connection failures are retried ``retries`` times (3) after 2 s, 4 s
and 8 s, or after the service's ``Retry-After`` when that is longer; then the call fails
with :class:`~drsorch.errors.RetriesExhaustedError` saying what, how often and why::

    DescribeJobs failed after 4 attempts (3 retries over 14 s): ThrottlingException: Rate exceeded

Anything else (not found, validation, access, conflict, quota) fails at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from drsorch.aws.errors import describe_target, map_error
from drsorch.clock import Clock
from drsorch.errors import AwsError, RetriesExhaustedError, RetryableError

__all__ = [
    "DEFAULT_DELAYS",
    "OnRetry",
    "RetryDecision",
    "RetryPolicy",
    "next_delay",
]

T = TypeVar("T")

#: Back-off before retry 1, 2, 3 (seed Properties 8 and 13).
DEFAULT_DELAYS: tuple[float, ...] = (2.0, 4.0, 8.0)
#: A service-requested wait longer than this is cut short (a bogus header must not hang us).
MAX_DELAY = 300.0

#: ``on_retry(operation, attempt, delay, error)``: told before each back-off sleep.
OnRetry = Callable[[str, int, float, AwsError], None]


@dataclass(frozen=True)
class RetryDecision:
    """What to do after attempt ``attempt`` failed: sleep ``delay`` and retry, or stop."""

    retry: bool
    delay: float = 0.0


def next_delay(
    attempt: int,
    error: BaseException,
    *,
    retries: int = 3,
    delays: Sequence[float] = DEFAULT_DELAYS,
    max_delay: float = MAX_DELAY,
) -> RetryDecision:
    """Decide after the ``attempt``-th try (1-based) failed with ``error``.

    Retry only a :class:`RetryableError`, only while fewer than ``retries`` retries were
    made; wait ``delays[attempt-1]`` (the last delay repeats) or the service's
    ``retry_after`` if that is longer, capped at ``max_delay``.
    """
    if not isinstance(error, RetryableError) or attempt > retries or not delays:
        return RetryDecision(retry=False)
    base = delays[min(attempt - 1, len(delays) - 1)]
    asked = error.retry_after or 0.0
    return RetryDecision(retry=True, delay=max(base, min(asked, max_delay)))


class RetryPolicy:
    """Runs one AWS call with retries, sleeping only through ``clock``."""

    def __init__(
        self,
        clock: Clock,
        retries: int = 3,
        delays: Sequence[float] = DEFAULT_DELAYS,
        *,
        max_delay: float = MAX_DELAY,
        on_retry: OnRetry | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.clock = clock
        self.retries = retries
        self.delays = tuple(delays)
        self.max_delay = max_delay
        self.on_retry = on_retry

    def decide(self, attempt: int, error: BaseException) -> RetryDecision:
        return next_delay(
            attempt, error, retries=self.retries, delays=self.delays, max_delay=self.max_delay
        )

    def call(
        self,
        fn: Callable[[], T],
        *,
        operation: str,
        server_id: str | None = None,
        job_id: str | None = None,
        role_arn: str | None = None,
        server_ids: Sequence[str] = (),
        reconcile: Callable[[AwsError], T | None] | None = None,
    ) -> T:
        """``fn()`` with retries; every failure leaves as a :mod:`drsorch.errors` error.

        ``reconcile`` serves non-idempotent calls: after each retryable failure (and after
        the last one) it may find that the call took effect after all and return its
        result, which ends the call without another try.
        """
        attempt = 0
        slept = 0.0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                err = map_error(
                    exc,
                    operation=operation,
                    server_id=server_id,
                    job_id=job_id,
                    role_arn=role_arn,
                    server_ids=server_ids,
                )
                if not isinstance(err, RetryableError):
                    if err is exc:
                        raise
                    raise err from exc
                if reconcile is not None:
                    found = reconcile(err)
                    if found is not None:
                        return found
                decision = self.decide(attempt, err)
                if not decision.retry:
                    raise self._exhausted(
                        err, attempt, slept, operation, server_id, job_id, server_ids
                    ) from exc
                if self.on_retry is not None:
                    self.on_retry(operation, attempt, decision.delay, err)
                self.clock.sleep(decision.delay)
                slept += decision.delay

    def _exhausted(
        self,
        err: AwsError,
        attempts: int,
        slept: float,
        operation: str,
        server_id: str | None,
        job_id: str | None,
        server_ids: Sequence[str],
    ) -> RetriesExhaustedError:
        where = describe_target(
            operation, server_id=server_id, job_id=job_id, server_ids=server_ids
        )
        last = str(err)
        if last.startswith(where + ": "):
            last = last[len(where) + 2 :]
        retries = attempts - 1
        noun = "retry" if retries == 1 else "retries"
        return RetriesExhaustedError(
            f"{where} failed after {attempts} attempt{'s' if attempts != 1 else ''} "
            f"({retries} {noun} over {slept:g} s): {last}",
            attempts=attempts,
            last_error=err,
            operation=operation,
            server_id=server_id,
            job_id=job_id,
            code=err.code,
        )
