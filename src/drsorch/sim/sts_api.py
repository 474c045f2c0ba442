"""The simulated Security Token Service: GetCallerIdentity and AssumeRole (issue 8).

Handlers take the region's :class:`~drsorch.sim.accounts.Directory`, the identity that
signed the call, the decoded parameters and the simulated time, and return the response
body (botocore member names; the wire layer writes query-protocol XML) or raise
:class:`~drsorch.sim.errors.SimApiError` with STS's codes:

- ``ValidationError`` (400) for a parameter outside the model's constraints, worded as
  STS's front end words it: ``1 validation error detected: Value 'x' at 'roleSessionName'
  failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*``
  (an ExternalId's value is never echoed);
- ``AccessDenied`` (403) when the role does not exist, does not trust the caller's account,
  or wants another ExternalId.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from drsorch.sim.accounts import Directory, Identity, sts_validation

Handler = Callable[[Directory, Identity, dict[str, Any], float], dict[str, Any]]

#: Members whose value an error message never repeats.
_SECRET_MEMBERS = frozenset({"ExternalId", "TokenCode", "Policy"})


def get_caller_identity(
    d: Directory, caller: Identity, params: dict[str, Any], now: float
) -> dict[str, Any]:
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


def assume_role(
    d: Directory, caller: Identity, params: dict[str, Any], now: float
) -> dict[str, Any]:
    return d.assume_role(caller, params, now)


HANDLERS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    # STS's patterns are Java's: \w is ASCII there.
    return re.compile(pattern, re.ASCII)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _value(name: str, value: Any) -> str:
    if name in _SECRET_MEMBERS:
        return ""
    text = str(value)
    return f"Value '{text if len(text) <= 100 else text[:97] + '...'}' "


def constraint_problems(shape: Shape, params: dict[str, Any]) -> list[str]:
    """Every top-level parameter that breaks its constraint, in STS's words."""
    problems: list[str] = []
    for name, value in params.items():
        member = shape.members.get(name)
        if member is None or value is None:
            continue
        meta = member.metadata
        at = f"{_value(name, value)}at '{_camel(name)}' failed to satisfy constraint: "
        if member.type_name == "string" and isinstance(value, str):
            if "max" in meta and len(value) > meta["max"]:
                why = f"Member must have length less than or equal to {meta['max']}"
            elif "min" in meta and len(value) < meta["min"]:
                why = f"Member must have length greater than or equal to {meta['min']}"
            elif "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
                why = f"Member must satisfy regular expression pattern: {meta['pattern']}"
            else:
                continue
        elif member.type_name in ("integer", "long"):
            if not isinstance(value, int):
                why = "Member must be a number"
            elif "max" in meta and value > meta["max"]:
                why = f"Member must have value less than or equal to {meta['max']}"
            elif "min" in meta and value < meta["min"]:
                why = f"Member must have value greater than or equal to {meta['min']}"
            else:
                continue
        elif member.type_name == "list" and isinstance(value, list):
            if "max" in meta and len(value) > meta["max"]:
                why = f"Member must have length less than or equal to {meta['max']}"
            elif "min" in meta and len(value) < meta["min"]:
                why = f"Member must have length greater than or equal to {meta['min']}"
            else:
                continue
        else:
            continue
        problems.append(at + why)
    return problems


def validate(shape: Shape, params: dict[str, Any]) -> None:
    """Raise STS's ValidationError when a parameter breaks the model (required members
    first: botocore sends none without them, but another client might)."""
    missing = [n for n in shape.metadata.get("required", []) if n not in params]
    problems = [
        f"Value null at '{_camel(n)}' failed to satisfy constraint: Member must not be null"
        for n in missing
    ]
    problems += constraint_problems(shape, params)
    if problems:
        count = len(problems)
        raise sts_validation(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)
        )


__all__ = ["HANDLERS", "constraint_problems", "validate"]
