"""The pure engine core (design invariant 2).

``decide(state, event, now) -> (state, commands)``: no boto3, no I/O, no clock. The state
is plain JSON, laid out in :mod:`.state_types`, made and loaded by :mod:`.state`; the
vocabulary is :mod:`.messages`, the rules are :mod:`.scheduler` (events) and
:mod:`.timekeeping` (what the passing of time moves forward).
"""

from drsorch.core.scheduler import advance, decide
from drsorch.core.state import State, load_state, new_execution, to_record

__all__ = ["State", "advance", "decide", "load_state", "new_execution", "to_record"]
