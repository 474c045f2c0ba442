"""The error answers of the simulated services.

Handlers raise :class:`SimApiError`; the wire layer turns it into the protocol's error
response (rest-json with ``x-amzn-errortype`` for DRS, query XML for EC2), which botocore
then parses into the exception class a user of the real service would catch.
"""

from __future__ import annotations

from typing import Any


class SimApiError(Exception):
    """An error answer: the service's error code, HTTP status, message and modeled fields."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}
        self.headers = headers or {}


def validation_error(
    message: str,
    *,
    reason: str = "fieldValidationFailed",
    fields: list[dict[str, str]] | None = None,
) -> SimApiError:
    """DRS's ValidationException (HTTP 400) with its ``reason`` and ``fieldList``."""
    body: dict[str, Any] = {"reason": reason}
    if fields:
        body["fieldList"] = fields
    return SimApiError("ValidationException", message, 400, fields=body)
