"""Random AWS identifiers in the exact shapes DRS and EC2 use (seed task 2.3).

Stable API (engine, simulator and benchmark tests import these; keep the names):

Plain functions, deterministic when given a ``random.Random``::

    server_id(rng=None) -> str             "s-" + 17 lowercase hex, e.g. s-3d75cdc0d9a28a725
    job_id(rng=None) -> str                "drsjob-" + 17 lowercase alphanumerics
    instance_id(rng=None) -> str           "i-" + 17 lowercase hex (EC2 and DRS recovery instances)
    unique_server_ids(n, rng=None) -> list[str]   n distinct server ids

Hypothesis strategies (module-level objects)::

    server_id_st, job_id_st, instance_id_st

Patterns for assertions::

    SERVER_ID_RE, JOB_ID_RE, INSTANCE_ID_RE
"""

from __future__ import annotations

import random
import re
import string

from hypothesis import strategies as st

HEX = "0123456789abcdef"
ALNUM = string.ascii_lowercase + string.digits

SERVER_ID_RE = re.compile(r"^s-[0-9a-f]{17}$")
JOB_ID_RE = re.compile(r"^drsjob-[0-9a-z]{17}$")
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{17}$")

_default_rng = random.Random()


def _chars(alphabet: str, n: int, rng: random.Random | None) -> str:
    r = rng or _default_rng
    return "".join(r.choice(alphabet) for _ in range(n))


def server_id(rng: random.Random | None = None) -> str:
    """A DRS source server id: ``s-`` followed by 17 hex digits."""
    return "s-" + _chars(HEX, 17, rng)


def job_id(rng: random.Random | None = None) -> str:
    """A DRS job id: ``drsjob-`` followed by 17 lowercase alphanumerics."""
    return "drsjob-" + _chars(ALNUM, 17, rng)


def instance_id(rng: random.Random | None = None) -> str:
    """An EC2 instance id (also the shape of a DRS recovery instance id)."""
    return "i-" + _chars(HEX, 17, rng)


def unique_server_ids(n: int, rng: random.Random | None = None) -> list[str]:
    """``n`` distinct server ids; fast enough for 10 000 (one getrandbits per id)."""
    r = rng or _default_rng
    out: dict[str, None] = {}
    while len(out) < n:
        out[f"s-{r.getrandbits(68):017x}"] = None
    return list(out)


server_id_st = st.text(HEX, min_size=17, max_size=17).map(lambda s: "s-" + s)
job_id_st = st.text(ALNUM, min_size=17, max_size=17).map(lambda s: "drsjob-" + s)
instance_id_st = st.text(HEX, min_size=17, max_size=17).map(lambda s: "i-" + s)
