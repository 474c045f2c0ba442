"""Cross-account credentials (Req 6, design §3 ``Target.RoleArn``): the target account's
role, assumed through STS, refreshed before it expires.

:func:`assumed_role_session` gives a boto3 session whose only credentials are the role's.
They are botocore's deferred refreshable credentials: the role is assumed at the first
call (so a refusal is the first call's error, inside the execution, which then ends FAILED
naming the role), and assumed again whenever less than 15 minutes are left, as botocore
decides, but on the injected clock (a simulated five-hour execution with one-hour
credentials refreshes four times, in milliseconds). Every AssumeRole carries the
ExternalId (when the plan has one) and a session name that names the execution, so
CloudTrail in the target account says which execution did what.

Nothing here logs or returns a secret: the keys, the session token and the ExternalId stay
inside botocore's credential object.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ClientError

from drsorch.aws.session import client_config
from drsorch.clock import Clock

if TYPE_CHECKING:  # pragma: no cover
    import boto3

__all__ = ["ROLE_DURATION_SECONDS", "assumed_role_session", "role_account", "session_name"]

#: How long each set of role credentials lives (Req 6: at least an hour).
ROLE_DURATION_SECONDS = 3600

_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::(?P<account>[0-9]{12}):role/")


def session_name(execution_id: str) -> str:
    """``drsorch-<execution id>``: STS's RoleSessionName (2-64 of ``[\\w+=,.@-]``)."""
    return _SESSION_NAME_CHARS.sub("-", f"drsorch-{execution_id}")[:64]


def role_account(role_arn: str) -> str:
    """The 12-digit account a role ARN belongs to."""
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    return match["account"]


def assumed_role_session(
    base: boto3.Session,
    *,
    role_arn: str,
    external_id: str | None,
    execution_id: str,
    clock: Clock,
    endpoint_url: str | None = None,
    duration: int = ROLE_DURATION_SECONDS,
) -> boto3.Session:
    """A session of ``base``'s region whose credentials are ``role_arn``'s, assumed with
    ``base``'s credentials (the caller's) when first needed and refreshed on ``clock``."""
    import boto3
    import botocore.session

    sts = base.client("sts", endpoint_url=endpoint_url, config=client_config())
    params: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name(execution_id),
        "DurationSeconds": duration,
    }
    if external_id:
        params["ExternalId"] = external_id

    def assume() -> dict[str, str]:
        try:
            answer = sts.assume_role(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = error.get("Message") or error.get("Code") or str(exc)
            # Keep AWS's code (so throttling is retried and a denial is fatal) and name the
            # role in the message: the first DRS call of the execution fails with it.
            raise ClientError(
                {
                    "Error": {
                        "Code": error.get("Code", "AccessDenied"),
                        "Message": f"assuming role {role_arn} was refused: {reason}",
                    },
                    "ResponseMetadata": exc.response.get("ResponseMetadata", {}),
                },
                "AssumeRole",
            ) from exc
        credentials = answer["Credentials"]
        expiration = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiration.isoformat()
            if isinstance(expiration, datetime)
            else str(expiration),
        }

    role_credentials = DeferredRefreshableCredentials(
        refresh_using=assume,
        method="assume-role",
        time_fetcher=lambda: datetime.fromtimestamp(clock.now(), UTC),
    )
    botocore_session = botocore.session.Session()
    loader = base._session.get_component("data_loader")
    botocore_session.register_component("data_loader", loader)
    # botocore has no public setter for a session's credentials; this is how its own
    # assume-role provider hands refreshable credentials to a session.
    botocore_session._credentials = role_credentials
    return boto3.Session(botocore_session=botocore_session, region_name=base.region_name)
