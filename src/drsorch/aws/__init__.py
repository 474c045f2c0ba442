"""drsorch.aws: the adapters at the edge, where drsorch meets boto3.

::

    engine core (pure, no boto3)
          │  commands: launch / poll / check / terminate
          ▼
    runner ──► DrsAdapter ───┐                          domain types in and out
           ├─► Ec2Adapter ───┤  RetryPolicy (Clock)     (types.py: JobInfo, ...)
           └─► SnsAdapter ───┤  (notify.py decides the message; sns.py only publishes)
                             │  map_error → drsorch.errors
                             ▼
                   boto3 clients (session.py; botocore retries off)
                             │  real serialization, signing, parsing
                             ▼
              AWS  —or—  drsorch.sim at the wire (before-send hook / endpoint_url)

Nothing from botocore leaves this package: responses become the frozen dataclasses of
:mod:`drsorch.aws.types`, failures become :mod:`drsorch.errors` exceptions, and every wait
is a ``clock.sleep`` so virtual time works the same for retries as for the plan.
"""

from drsorch.aws.drs import JOB_LOOKBACK_SECONDS, MAX_SERVERS_PER_JOB, TOKEN_TAG, DrsAdapter
from drsorch.aws.ec2 import EC2_BATCH, NOT_FOUND, Ec2Adapter
from drsorch.aws.errors import describe_target, map_error
from drsorch.aws.retry import DEFAULT_DELAYS, RetryDecision, RetryPolicy, next_delay
from drsorch.aws.session import aws_session, client_config, make_clients
from drsorch.aws.sns import MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS, SnsAdapter, TopicRef, sns_client
from drsorch.aws.types import (
    InstanceHealth,
    JobInfo,
    JobLogItem,
    ParticipantInfo,
    RecoveryInstanceInfo,
    SourceServerInfo,
    parse_iso_time,
)

__all__ = [
    "DEFAULT_DELAYS",
    "EC2_BATCH",
    "JOB_LOOKBACK_SECONDS",
    "MAX_MESSAGE_BYTES",
    "MAX_SERVERS_PER_JOB",
    "MAX_SUBJECT_CHARS",
    "NOT_FOUND",
    "TOKEN_TAG",
    "DrsAdapter",
    "Ec2Adapter",
    "InstanceHealth",
    "JobInfo",
    "JobLogItem",
    "ParticipantInfo",
    "RecoveryInstanceInfo",
    "RetryDecision",
    "RetryPolicy",
    "SnsAdapter",
    "SourceServerInfo",
    "TopicRef",
    "aws_session",
    "client_config",
    "describe_target",
    "make_clients",
    "map_error",
    "next_delay",
    "parse_iso_time",
    "sns_client",
]
