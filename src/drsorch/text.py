"""Text that is safe to show a person: what drsorch prints never controls the terminal.

Plan files, scenarios, AWS answers and stored records are input from outside; a name holding
an escape sequence could retitle or rewrite the operator's terminal. Every string that came
from outside passes :func:`printable` before it is printed (and :func:`markup_safe` when it
goes through rich, whose ``[...]`` markup is a second way to restyle output).
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "markup_safe", "printable"]

# C0 and C1 control characters, DEL, and the Unicode format/line controls that reorder or
# hide text (soft hyphen, bidi marks and overrides, zero-width joiners, line/paragraph
# separators, lone surrogates, interlinear annotation).
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ud800-\udfff\ufeff\ufff9-\ufffb"
)
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_CONTROL_WITH_NEWLINES = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` as a string with every control character written as a visible escape.

    Tabs and (with ``keep_newlines``) newlines stay; everything else below U+0020, DEL, the
    C1 range and the invisible Unicode controls become ``\\xNN`` / ``\\uNNNN``.
    """
    pattern = _CONTROL if keep_newlines else _CONTROL_WITH_NEWLINES
    if keep_newlines:
        return pattern.sub(_escape, str(text))
    return pattern.sub(_escape, str(text).replace("\t", " "))


def markup_safe(text: object) -> str:
    """:func:`printable`, and escaped for rich markup (``[bold]`` in a name stays literal)."""
    from rich.markup import escape

    return escape(printable(text))


def format_duration(seconds: float | None) -> str:
    """``1h02m03s`` / ``4m05s`` / ``12.5s``; '-' for None. Every view of an execution (the
    terminal, a report page) says a duration this way."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
