"""Who drives an execution: lease holders, and when one engine may take over another's
execution (design §5: an engine holds a lease on the execution it drives; every save is
conditional on it, so two engines never drive one execution).

The rules live here, below the command line, so ``drsorch resume``, a Lambda driver or any
later command apply the same ones:

- a live lease (its holder renewed it less than its lifetime ago) is never taken over;
- an expired lease whose holder is provably gone (it ran on this host and its process no
  longer exists) is taken over by a resume;
- any other expired lease (another host, or a process that still exists but stopped
  renewing, e.g. a suspended laptop) only with ``--force``: that engine stops at its next
  save or renewal, before it launches anything more.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import uuid

from drsorch.store.base import Lease

__all__ = ["DEFAULT_LEASE_SECONDS", "holder_is_gone", "may_take_over", "new_holder"]

#: How long a lease lives without renewal. An engine renews it every third of that, also
#: while it sleeps, so a live engine never lets it lapse; a killed one frees it this long
#: after it died.
DEFAULT_LEASE_SECONDS = 120.0

_HOLDER = re.compile(r"^(?P<who>.*)@(?P<host>[^@ ]*) pid (?P<pid>\d+) #[0-9a-f]+$")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def new_holder() -> str:
    """A name for this engine that a person can read and no other engine shares:
    ``user@host pid N #random``."""
    return f"{_user()}@{socket.gethostname()} pid {os.getpid()} #{uuid.uuid4().hex[:8]}"


def holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` is provably dead: it ran on this host and its process is gone.
    Unknown (another host, an unreadable name, a process that still exists): False."""
    match = _HOLDER.match(holder)
    if match is None or match["host"] != socket.gethostname():
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, OSError):
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has ended but its parent has not collected it yet (Linux's
    ``/proc/PID/stat`` state Z or X): killed, it still answers signals until reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except FileNotFoundError:  # reaped meanwhile, where /proc exists; no /proc: unknown
        return os.path.isdir("/proc/self")
    except OSError:
        return False
    # "PID (COMMAND) STATE ...": COMMAND may hold spaces and parentheses.
    end = text.rfind(b")")
    state = text[end + 2 : end + 3]
    return state in (b"Z", b"X")


def may_take_over(current: Lease | None, now: float, *, force: bool) -> bool:
    """Whether a resume may take ``current`` over: never while it is live; once expired,
    with ``force`` or when its holder is provably gone."""
    if current is None or now < current.expires_at:
        return False
    return force or holder_is_gone(current.holder)
