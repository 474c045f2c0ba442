"""Gates: the rules that decide whether a request may go ahead, below the command line.

This module owns the RECOVERY gate (invariant 4): a plan runs as a RECOVERY only when the
plan itself says RECOVERY *and* the operator permitted it with ``--recovery`` and confirmed
it, with ``--yes`` or by answering a question. ``--recovery`` only permits: it never turns
a DRILL plan into a RECOVERY. ``drsorch run`` asks it today; an ``approve`` command or the Lambda
driver can ask the same rule. It imports no click: whoever calls it supplies the way to
ask a person (:data:`Confirm`), or None when there is nobody to ask.
"""

from __future__ import annotations

from collections.abc import Callable

from drsorch.errors import RefusedError
from drsorch.plan import Plan

__all__ = ["Confirm", "plan_as_run"]

#: Asks a person a yes/no question; True only for an explicit yes. An interrupted or
#: unanswered question (Ctrl-C, end of input) is a no.
Confirm = Callable[[str], bool]


def plan_as_run(
    plan: Plan, *, recovery: bool, drill: bool, yes: bool, confirm: Confirm | None
) -> Plan:
    """The plan as it will run, DRILL or RECOVERY, or RefusedError saying why not.

    ``recovery``, ``drill`` and ``yes`` are the operator's flags; ``confirm`` asks them,
    and is None when there is no terminal to ask on. A RECOVERY needs a plan that says
    RECOVERY, ``recovery`` and either ``yes`` or a confirmation; ``recovery`` on a DRILL
    plan is refused (it permits, it does not convert); ``drill`` rehearses any plan as a
    DRILL."""
    if recovery and drill:
        raise RefusedError("--recovery and --drill contradict each other")
    if drill:
        return plan.model_copy(update={"execution_type": "DRILL"})
    if recovery and plan.execution_type != "RECOVERY":
        raise RefusedError(
            f"plan {plan.plan_id} is a {plan.execution_type}, and --recovery does not make it "
            "a RECOVERY: it only permits a plan that says ExecutionType: RECOVERY to run as "
            "one. Leave --recovery out to run the drill; nothing was launched"
        )
    if plan.execution_type == "RECOVERY" and not recovery:
        raise RefusedError(
            f"plan {plan.plan_id} is a RECOVERY: it launches production instances. Pass "
            "--recovery --yes to run it, or --drill to rehearse it as a drill"
        )
    if not recovery:
        return plan
    if not yes:
        if confirm is None:
            raise RefusedError("a RECOVERY needs confirmation: pass --yes (no terminal)")
        count = f"{len(plan.all_server_ids())} servers"
        if plan.selects_by_tags():  # how many the tags select is only known at preflight
            count += " listed, and every server its ServerTags select"
        question = f"Run a real RECOVERY of {plan.plan_id} ({count})?"
        if not confirm(question):
            raise RefusedError("RECOVERY not confirmed; nothing was launched")
    return plan.model_copy(update={"execution_type": "RECOVERY"})
