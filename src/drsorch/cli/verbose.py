"""What ``-v`` adds to ``drsorch run`` and ``resume`` (issue 11, item 5): the AWS calls that
did not go through at the first try, as they happen.

- a retry: which call, which attempt failed and why, how long the engine waits;
- throttling, and the service's ``Retry-After`` when it asked for a wait;
- a lost answer: a StartRecovery whose answer never came back, whose job was then found by
  its token and adopted (told by :class:`~drsorch.aws.drs.DrsAdapter`).

Adopted jobs of a resume and the core's notes come through the runner's log and the live
view; ``-v`` only makes sure they are said with ``--json`` and ``--quiet`` too (on stderr).

:class:`VerboseLog` is made before the execution's world (the retry policy and the DRS
adapter are built with its hooks) and says its lines through the live view once there is
one (:meth:`VerboseLog.attach`); lines from before then wait for it. It formats words
only: how a line looks (time stamp, escaping) is the live view's business.
"""

from __future__ import annotations

from collections.abc import Callable

from drsorch.errors import AwsError, ThrottledError

__all__ = ["VerboseLog", "describe_retry"]


def describe_retry(operation: str, attempt: int, delay: float, error: AwsError) -> str:
    """One line about a failed attempt about to be retried, e.g.::

        throttled: DescribeJobs for job drsjob-...: ThrottlingException: Rate exceeded;
        attempt 1 failed, Retry-After 7 s: trying again in 7 s

    (on one line). ``error``'s message names the call; when it does not start with
    ``operation``, the operation is said first."""
    kind = "throttled" if isinstance(error, ThrottledError) else "retry"
    what = str(error) if str(error).startswith(operation) else f"{operation}: {error}"
    asked = getattr(error, "retry_after", None)
    wait = f"Retry-After {asked:g} s: " if asked else ""
    return f"{kind}: {what}; attempt {attempt} failed, {wait}trying again in {delay:g} s"


class VerboseLog:
    """The ``-v`` lines of one execution, said through ``say`` once attached."""

    def __init__(self) -> None:
        self._say: Callable[[str], None] | None = None
        self._waiting: list[str] = []

    def attach(self, say: Callable[[str], None]) -> None:
        """From now on, say every line through ``say`` (those kept so far first)."""
        self._say = say
        waiting, self._waiting = self._waiting, []
        for text in waiting:
            say(text)

    def tell(self, text: str) -> None:
        if self._say is None:
            self._waiting.append(text)
        else:
            self._say(text)

    def retried(self, operation: str, attempt: int, delay: float, error: AwsError) -> None:
        """The retry policy's ``on_retry``: told before each back-off sleep."""
        self.tell(describe_retry(operation, attempt, delay, error))

    def lost_answer(self, text: str) -> None:
        """The DRS adapter's ``on_lost_answer``."""
        self.tell(f"lost answer: {text}")
