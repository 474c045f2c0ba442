"""boto3 sessions and clients for the adapters.

The clients are built with botocore's retries *off* (``total_max_attempts=1``): the
engine's :class:`~drsorch.aws.retry.RetryPolicy` is the only retry layer (design §4).
Left on, botocore would silently re-send a ``StartRecovery`` after a 500, and
StartRecovery is not idempotent (aws-facts §1).

boto3 is imported lazily so that importing :mod:`drsorch.aws` stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from botocore import exceptions as bce
from botocore.config import Config

from drsorch.errors import CredentialsError, DrsorchError, RefusedError

if TYPE_CHECKING:  # pragma: no cover
    import boto3

__all__ = ["aws_session", "client_config", "make_clients", "setup_error"]

#: botocore's complaints about the region an operator asked for (``--region us east``).
_REGION_ERRORS: tuple[type[Exception], ...] = (
    bce.InvalidRegionError,
    bce.NoRegionError,
    bce.UnknownRegionError,
    bce.EndpointResolutionError,
)
#: botocore's failures to find or fetch credentials (a credential_process, SSO, ...).
_CREDENTIAL_ERRORS: tuple[type[Exception], ...] = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.TokenRetrievalError,
    bce.SSOError,
    bce.UnknownCredentialError,
)

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


def make_clients(
    session: boto3.Session, *, config: Config | None = None, endpoint_url: str | None = None
) -> tuple[Any, Any]:
    """``(drs, ec2)`` clients of ``session``, built with :func:`client_config`; with
    ``endpoint_url`` both talk to it (``AWS_ENDPOINT_URL[_<SERVICE>]`` work as botocore
    reads them when it is None)."""
    cfg = config or client_config()
    return (
        session.client("drs", config=cfg, endpoint_url=endpoint_url),
        session.client("ec2", config=cfg, endpoint_url=endpoint_url),
    )


def aws_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """The boto3 session for ``drsorch run --aws [--profile P] [--region R]``.

    A profile that does not exist or an unreadable AWS configuration is the operator's
    input, not a failure of drsorch: it raises :func:`setup_error`'s error (exit 2)."""
    import boto3

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except bce.BotoCoreError as exc:
        raise setup_error(exc) from exc


def _config_files() -> str:
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return f"{config} and {credentials}"


def setup_error(exc: bce.BotoCoreError) -> DrsorchError:
    """The drsorch error for a botocore failure while a session or client is being set up,
    before any request: the profile, the configuration files, the credentials or the region
    the operator gave cannot be used. All of them are bad input (exit 2), never a bug."""
    if isinstance(exc, bce.ProfileNotFound):
        name = exc.kwargs.get("profile")
        return CredentialsError(f"no AWS profile {name!r} in {_config_files()}")
    if isinstance(exc, bce.ConfigParseError | bce.ConfigNotFound | bce.InvalidConfigError):
        return CredentialsError(f"the AWS configuration cannot be used: {exc}")
    if isinstance(exc, _REGION_ERRORS):
        return RefusedError(f"AWS region: {exc}")
    detail = str(exc).strip()
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return CredentialsError(f"could not obtain AWS credentials: {detail}")
    return CredentialsError(f"cannot set up AWS access: {type(exc).__name__}: {detail}")
