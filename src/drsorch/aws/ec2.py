"""The EC2 adapter: instance health for the health check, termination for clean-up.

``DescribeInstanceStatus`` takes at most 100 explicit ids (aws-facts §9), so ids are
batched. A new instance can briefly be unknown to EC2 (eventual consistency), and EC2
then fails the *whole* batch with ``InvalidInstanceID.NotFound``; the adapter reads the
missing ids from the message (or, failing that, halves the batch) so one young instance
does not hide the health of the others. Every requested id gets an answer; an id EC2 does
not know is reported as ``state="not-found"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from drsorch.aws.retry import RetryPolicy
from drsorch.aws.types import InstanceHealth, parse_instance_health, read_items
from drsorch.drs_terms import chunks
from drsorch.errors import MalformedResponseError, NotFoundError

__all__ = ["EC2_BATCH", "NOT_FOUND", "Ec2Adapter"]

#: Ids per DescribeInstanceStatus / TerminateInstances call.
EC2_BATCH = 100
#: The state reported for an instance EC2 does not know (yet, or any more).
NOT_FOUND = "not-found"

_INSTANCE_ID = re.compile(r"\bi-[0-9a-zA-Z]+\b")


class Ec2Adapter:
    """EC2 operations the engine uses, over a boto3 ``ec2`` client."""

    def __init__(self, client: Any, retry: RetryPolicy) -> None:
        self._client = client
        self._retry = retry

    def describe_instance_status(self, instance_ids: Sequence[str]) -> dict[str, InstanceHealth]:
        """Health of every id (``state="not-found"`` for ids EC2 does not know)."""
        out: dict[str, InstanceHealth] = {}
        for batch in chunks(instance_ids, EC2_BATCH):
            out.update(self._describe_batch(batch))
        return {iid: out[iid] for iid in dict.fromkeys(instance_ids)}

    def _describe_batch(self, batch: list[str]) -> dict[str, InstanceHealth]:
        missing: set[str] = set()
        pending = list(batch)
        while pending:
            try:
                found = self._describe_exact(pending)
                break
            except NotFoundError as err:
                named = set(_INSTANCE_ID.findall(_message(err))) & set(pending)
                if named:
                    missing |= named
                    pending = [iid for iid in pending if iid not in named]
                    continue
                if len(pending) == 1:
                    missing.add(pending[0])
                    pending = []
                    continue
                # The message did not say which: split and ask about each half.
                half = len(pending) // 2
                found = {}
                for part in (pending[:half], pending[half:]):
                    found.update(self._describe_batch(part))
                break
        else:
            found = {}
        result = {iid: InstanceHealth(iid, NOT_FOUND) for iid in batch}
        result.update({iid: h for iid, h in found.items() if iid in result})
        for iid in missing:
            result[iid] = InstanceHealth(iid, NOT_FOUND)
        return result

    def _describe_exact(self, ids: list[str]) -> dict[str, InstanceHealth]:
        op = "DescribeInstanceStatus"
        out: dict[str, InstanceHealth] = {}
        token: str | None = None
        seen: set[str] = set()
        offset = 0
        while True:
            kwargs: dict[str, Any] = {"InstanceIds": ids, "IncludeAllInstances": True}
            if token:
                kwargs["NextToken"] = token

            def send(kwargs: dict[str, Any] = kwargs) -> Any:
                return self._client.describe_instance_status(**kwargs)

            page = self._retry.call(send, operation=op, server_ids=ids)
            items, token = read_items(page, operation=op, key="InstanceStatuses")
            for i, item in enumerate(items):
                health = parse_instance_health(
                    item, operation=op, path=f"InstanceStatuses[{offset + i}]"
                )
                out[health.instance_id] = health
            offset += len(items)
            if not token:
                return out
            if token in seen:
                raise MalformedResponseError(
                    f"{op}: malformed response: NextToken repeats", operation=op
                )
            seen.add(token)

    def terminate_instances(self, instance_ids: Sequence[str]) -> dict[str, str]:
        """Terminate the instances; returns each one's new state name as EC2 reports it."""
        op = "TerminateInstances"
        out: dict[str, str] = {}
        for batch in chunks(instance_ids, EC2_BATCH):

            def send(batch: list[str] = batch) -> Any:
                return self._client.terminate_instances(InstanceIds=batch)

            response = self._retry.call(send, operation=op, server_ids=batch)
            items, _ = read_items(response, operation=op, key="TerminatingInstances")
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("InstanceId"), str):
                    state = item.get("CurrentState") or {}
                    name = state.get("Name") if isinstance(state, dict) else None
                    out[item["InstanceId"]] = name if isinstance(name, str) else "unknown"
        return out


def _message(err: NotFoundError) -> str:
    """The service's own message (ids are listed there), not our prefix."""
    cause = err.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        message = (response.get("Error") or {}).get("Message")
        if isinstance(message, str):
            return message
    return ""  # our own message lists every id asked about: useless for telling them apart
