"""Typed errors raised by services, mapped to HTTP once (in api/app.py)."""

from __future__ import annotations

from typing import Any


class CareflowError(Exception):
    status = 400

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, **self.detail}


class NotFound(CareflowError):
    status = 404


class Conflict(CareflowError):
    """The action is not open now: another step is open, or the case is closed."""

    status = 409


class Invalid(CareflowError):
    """Bad input, with FastAPI's error shape so clients parse one format."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"detail": [{"loc": ["body", self.field], "msg": self.message, "type": "value_error"}]}


class InvalidMany(CareflowError):
    """Several problems at once (a policy or calendar that fails validation), in FastAPI's error shape."""

    status = 422

    def __init__(self, problems: list[tuple[list[str | int], str]]) -> None:
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = problems

    def body(self) -> dict[str, Any]:
        return {
            "detail": [
                {"loc": ["body", *loc], "msg": msg, "type": "value_error"} for loc, msg in self.problems
            ]
        }
