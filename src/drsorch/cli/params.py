"""Types of the command line's numeric options, checked by click's option parser.

A value out of range is click's one-line usage error and exit 2, before any command runs:
``--speed nan`` or ``--port 70000`` never reaches the engine, the clock or a socket.

The bounds (click shows them in each option's ``--help``, e.g. ``[0.001<=x<=1000000.0]``):

- ``--speed``: a finite number from :data:`MIN_SPEED` (1/1000 of real time) to
  :data:`MAX_SPEED` (a million times real time);
- ``--seed``: an integer from 0 to :data:`MAX_SEED` (2**63 - 1);
- ``run --poll-seconds``: :data:`MIN_POLL_SECONDS` to :data:`MAX_POLL_SECONDS`;
- ``history --limit``: 1 to :data:`MAX_HISTORY_LIMIT`;
- ``sim serve --port``: 0 (any free port) to 65535; ``--servers``: 0 to :data:`MAX_SERVERS`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click

__all__ = [
    "ENDPOINT_URL",
    "MAX_HISTORY_LIMIT",
    "MAX_POLL_SECONDS",
    "MAX_SEED",
    "MAX_SERVERS",
    "MAX_SPEED",
    "MIN_POLL_SECONDS",
    "MIN_SPEED",
    "POLL_SECONDS",
    "PORT",
    "SEED",
    "SPEED",
    "EndpointUrl",
    "FiniteFloatRange",
    "WholeRange",
]

MIN_SPEED = 0.001
MAX_SPEED = 1_000_000.0
#: Seeds fit a signed 64-bit integer (the scenario file's ``seed`` has the same bound).
MAX_SEED = 2**63 - 1
MAX_HISTORY_LIMIT = 10_000
#: ``run --poll-seconds``: DescribeJobs at most every 5 s (a new job may be missing from
#: DRS's answer for a moment, and polls count against its API rate), at least every 5 min.
MIN_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 300.0
#: Source servers of a simulated region (the same bound as a scenario's, see
#: :data:`drsorch.sim.scenario.MAX_SERVERS`; not imported, to keep ``drsorch --help`` fast).
MAX_SERVERS = 20_000


class WholeRange(click.IntRange):
    """:class:`click.IntRange`, named for people: "'x' is not a valid whole number"."""

    name = "whole number"


class FiniteFloatRange(click.FloatRange):
    """:class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (which compare
    false with every bound, so a plain FloatRange lets ``nan`` through)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


if TYPE_CHECKING:
    _TextParam = click.ParamType[str]
else:  # click.ParamType is generic only in newer clicks
    _TextParam = click.ParamType


class EndpointUrl(_TextParam):
    """An ``http://`` or ``https://`` URL with a host (``--endpoint-url``): anything else is
    a usage error before any client is built."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from urllib.parse import urlsplit

        # botocore's own test of an endpoint (a host it would refuse later, e.g. a label
        # over 63 characters, is refused here), imported late to keep --help fast.
        from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

        text = str(value).strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(ch.isspace() or ord(ch) < 32 for ch in text)
            or not (is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text))
        ):
            self.fail(f"{value!r} is not an http:// or https:// URL with a host.", param, ctx)
        return text


SPEED = FiniteFloatRange(min=MIN_SPEED, max=MAX_SPEED)
POLL_SECONDS = FiniteFloatRange(min=MIN_POLL_SECONDS, max=MAX_POLL_SECONDS)
ENDPOINT_URL = EndpointUrl()
SEED = WholeRange(min=0, max=MAX_SEED)
PORT = WholeRange(min=0, max=65_535)
