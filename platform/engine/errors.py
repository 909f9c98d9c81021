"""Errors the record service raises; the web layer maps each to one HTTP status."""
from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """Base of the errors a caller can cause; `status` is the matching HTTP code."""

    status = 400

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"errors": {"_": [self.message]}}


class ValidationFailed(ServiceError):
    """Field values that break the entity's rules: {field: [messages]} (HTTP 422)."""

    status = 422

    def __init__(self, errors: Mapping[str, list[str]]):
        self.errors = {k: list(v) for k, v in errors.items()}
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in self.errors.items()))

    def body(self) -> dict:
        return {"errors": self.errors}


class NotFound(ServiceError):
    """No such record for this user: missing, deleted, another tenant's, or invisible."""

    status = 404


class Forbidden(ServiceError):
    """The user sees the record but its role may not do this (HTTP 403)."""

    status = 403


class Conflict(ServiceError):
    """Stale version, already claimed, not allowed from this state (HTTP 409)."""

    status = 409
