"""What of the engine state never reaches the store: secrets.

The engine state is saved beside the history record so a crashed execution can be resumed,
and it carries the plan as written. A plan's ``Target.ExternalId`` is a shared secret of a
cross-account trust policy, so it is removed before the state is saved, and the saved state
says so (``"redacted": ["Target.ExternalId"]``); a resume asks for it again
(:func:`restore`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from drsorch.core.state import State
from drsorch.errors import RefusedError

__all__ = ["EXTERNAL_ID", "for_disk", "needs", "restore"]

#: The one secret a plan holds, by its path in the plan.
EXTERNAL_ID = "Target.ExternalId"


def for_disk(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """``state`` as it may be saved: a shallow copy whose plan has no secret in it (the
    state itself is left as it is; nothing is copied when there is no secret)."""
    plan = state.get("plan")
    if not isinstance(plan, Mapping):
        return state
    target = plan.get("Target")
    if not isinstance(target, Mapping) or target.get("ExternalId") is None:
        return state
    safe_target = {k: v for k, v in target.items() if k != "ExternalId"}
    redacted = sorted({*state.get("redacted", ()), EXTERNAL_ID})
    return {**state, "plan": {**plan, "Target": safe_target}, "redacted": redacted}


def needs(state: Mapping[str, Any]) -> list[str]:
    """The secrets a saved state lacks and a resume must be given again."""
    return [path for path in state.get("redacted", ()) if path == EXTERNAL_ID]


#: A loaded engine state, or a plain dict of one (a copy, read for its plan).
_S = TypeVar("_S", State, dict[str, Any])


def check_given(state: Mapping[str, Any], *, external_id: str | None) -> None:
    """Raise RefusedError, naming what is missing and how to give it, when a saved
    ``state`` lacks a secret and ``external_id`` does not bring it back."""
    if EXTERNAL_ID in needs(state) and not external_id:
        raise RefusedError(
            f"execution {state.get('execution_id')}'s plan has a Target.ExternalId, which "
            "drsorch does not keep on disk: give it again with --external-id or "
            "DRSORCH_EXTERNAL_ID"
        )


def restore(state: _S, *, external_id: str | None) -> _S:
    """Put the secrets back into a saved ``state`` (in place) before it is driven again.

    Raises RefusedError naming what is missing and how to give it."""
    check_given(state, external_id=external_id)
    if EXTERNAL_ID not in needs(state):
        return state
    plan = dict(state["plan"])
    plan["Target"] = {**plan.get("Target", {}), "ExternalId": external_id}
    state["plan"] = plan
    state["redacted"] = [p for p in state["redacted"] if p != EXTERNAL_ID]
    return state
