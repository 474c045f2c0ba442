"""What may be resumed, decided below the command line (invariant 5, design §5).

``drsorch resume`` (and any later driver) asks :func:`resumable_state` before it builds an
AWS world, so a refusal costs no API call and names its reason: no such execution, nothing
saved, a damaged saved state (:func:`~drsorch.core.state.load_state`), already ended,
simulated (its region died with its process), or another engine's (a live lease, or an
expired one that needs ``--force``; see :mod:`drsorch.ownership`). The runner checks the
lease again, atomically, when it claims it, and validates the state again when it loads it.
"""

from __future__ import annotations

from drsorch.core.state import State, load_state
from drsorch.errors import LeaseHeldError, PlanError, RefusedError
from drsorch.ownership import holder_is_gone, may_take_over
from drsorch.plan import Plan, parse_plan
from drsorch.redaction import check_given, restore
from drsorch.store.base import HistoryStore, Lease, LeaseStore, check_claim

__all__ = ["check_same_target", "plan_as_it_ran", "resumable_state"]


def resumable_state(
    store: HistoryStore,
    execution_id: str,
    *,
    use_aws: bool,
    now: float,
    force: bool = False,
    external_id: str | None = None,
) -> tuple[State, bool]:
    """The saved state of ``execution_id``, validated, if it may be resumed now, and whether
    resuming takes an expired lease over. Raises RefusedError (or LeaseHeldError, or
    StoreDamagedError for a damaged state) saying why not."""
    record = store.get(execution_id)
    if record is None:
        raise RefusedError(f"no execution {execution_id} in the history store")
    if record.Status.terminal:
        raise RefusedError(f"execution {execution_id} already ended {record.Status.value}")
    saved = store.get_state(execution_id)
    if saved is None:
        raise RefusedError(f"execution {execution_id} has no saved engine state to resume")
    state = load_state(saved, execution_id=execution_id)
    if state["status"].terminal:
        raise RefusedError(f"execution {execution_id} already ended {state['status']}")
    if state.get("environment") == "simulator":
        raise RefusedError(
            f"execution {execution_id} ran on the simulator, whose region ended with that "
            "process: it cannot be resumed; run the plan again"
        )
    if not use_aws:
        raise RefusedError(
            f"execution {execution_id} ran against AWS: pass --aws (with the --profile and "
            "--region it ran with) to resume it"
        )
    current = store.lease_of(execution_id) if isinstance(store, LeaseStore) else None
    if current is not None and now < current.expires_at and holder_is_gone(current.holder):
        raise LeaseHeldError(
            f"execution {execution_id} was driven by {current.holder}, whose process is "
            f"gone; its lease runs {current.expires_at - now:.0f} s more (until "
            f"{current.ends()}): resume it then",
            holder=current.holder,
            expires_at=current.expires_at,
            expired=False,
        )
    takeover = may_take_over(current, now, force=force)
    # The same rule the store applies when the runner claims the lease: refuse up front.
    check_claim(execution_id, current, Lease("this resume", now), now, takeover)
    check_given(state, external_id=external_id)
    return state, takeover


def check_same_target(
    execution_id: str, *, ran_in: tuple[str, str], credentials_for: tuple[str, str]
) -> None:
    """Refuse to touch an execution from another account or region than it ran in
    (``(account, region)`` pairs): its jobs and instances are not there."""
    if credentials_for != ran_in:
        raise RefusedError(
            f"execution {execution_id} ran in account {ran_in[0]} region {ran_in[1]}; "
            f"these credentials are for {credentials_for[0]} {credentials_for[1]}"
        )


def plan_as_it_ran(state: State, *, external_id: str | None) -> Plan:
    """The plan a saved state ran, its ExternalId (never saved) given back, so the role can
    be assumed anew (resume, clean-up). RefusedError when the ExternalId is missing, or
    when the one given is no valid ExternalId (one line naming ``--external-id``)."""
    plan = restore(dict(state), external_id=external_id)["plan"]
    try:
        return parse_plan(plan)
    except PlanError as exc:
        wrong = [p for p in exc.problems if p.startswith("Target.ExternalId")]
        if external_id is None or not wrong:
            raise  # the saved plan itself: its every problem, as validate lists them
        raise RefusedError(f"--external-id: {wrong[0].split(': ', 1)[-1]}") from None
