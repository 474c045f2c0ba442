"""Seeded durations of the simulated region (issue 3, point 2).

Every duration the simulator uses — how long a job stays PENDING, how long a launch takes,
when an EC2 instance reaches ``running`` and when its status checks pass — is drawn from a
:class:`Span` (a uniform range of seconds). :class:`Timing` groups them; a scenario sets
region-wide values and any source server may override some of them.

Randomness is split into independent streams (:func:`stable_rng`) keyed by the seed and by
what the draw is for (a server id and its launch number, a job id), so adding a server or a
job never changes the timings of the others, and a scenario replays identically.
"""

from __future__ import annotations

import hashlib
import random

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Span(BaseModel):
    """A duration drawn uniformly from ``[min, max]`` seconds (``min == max``: fixed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self

    def draw(self, rng: random.Random) -> float:
        """One duration; always consumes exactly one number from ``rng``."""
        u = rng.random()
        return self.min + (self.max - self.min) * u


def _span(lo: float, hi: float) -> Span:
    return Span(min=lo, max=hi)


class Timing(BaseModel):
    """All durations of the simulated region, in seconds.

    Defaults follow what DR engineers see on DRS: a launch takes 8-20 minutes from the
    job's creation, the EC2 instance reaches ``running`` 30-90 s after DRS reports it
    LAUNCHED, and its status checks pass 2-4 minutes after that.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_start: Span = _span(5, 15)  # job PENDING -> STARTED
    launch: Span = _span(480, 1200)  # job creation -> server LAUNCHED (or FAILED)
    running: Span = _span(30, 90)  # LAUNCHED -> EC2 running
    status_ok: Span = _span(120, 240)  # running -> status checks ok
    job_end: Span = _span(5, 30)  # last server done -> job COMPLETED
    terminate: Span = _span(60, 180)  # TERMINATE job started -> instance terminated
    ec2_terminate: Span = _span(30, 60)  # EC2 shutting-down -> terminated

    def merged(self, overrides: TimingOverrides | None) -> Timing:
        """This timing with the fields ``overrides`` sets replaced."""
        if overrides is None:
            return self
        changes = overrides.model_dump(exclude_none=True)
        if not changes:
            return self
        return self.model_copy(update={k: getattr(overrides, k) for k in changes})


class TimingOverrides(BaseModel):
    """Per-server overrides of :class:`Timing`; unset fields keep the scenario's values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_start: Span | None = None
    launch: Span | None = None
    running: Span | None = None
    status_ok: Span | None = None
    job_end: Span | None = None
    terminate: Span | None = None
    ec2_terminate: Span | None = None


def stable_rng(seed: int, *key: object) -> random.Random:
    """A random stream that depends only on ``seed`` and ``key`` (not on Python's hash salt)."""
    text = "\x1f".join([str(seed), *(str(k) for k in key)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
