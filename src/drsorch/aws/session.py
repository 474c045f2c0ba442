"""boto3 sessions and clients for the adapters.

The clients are built with botocore's retries *off* (``total_max_attempts=1``): the
engine's :class:`~drsorch.aws.retry.RetryPolicy` is the only retry layer (design §4).
Left on, botocore would silently re-send a ``StartRecovery`` after a 500, and
StartRecovery is not idempotent (aws-facts §1).

boto3 is imported lazily so that importing :mod:`drsorch.aws` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.config import Config

if TYPE_CHECKING:  # pragma: no cover
    import boto3

__all__ = ["aws_session", "client_config", "make_clients"]

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


def client_config(
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    user_agent_extra: str = "drsorch",
) -> Config:
    """botocore Config for every drsorch client: one attempt, bounded timeouts."""
    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra=user_agent_extra,
    )


def make_clients(session: boto3.Session, *, config: Config | None = None) -> tuple[Any, Any]:
    """``(drs, ec2)`` clients of ``session``, built with :func:`client_config`."""
    cfg = config or client_config()
    return session.client("drs", config=cfg), session.client("ec2", config=cfg)


def aws_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """The boto3 session for ``drsorch run --aws [--profile P] [--region R]``."""
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)
