"""Typed domain errors. Views, the API and the CLI map them to 422/404/403."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a domain function raises on purpose."""

    status_code = 422


class ValidationFailed(DomainError):
    """Bad input. ``errors`` maps a field name (or ``None``) to a localized message."""

    def __init__(self, errors: dict[str | None, str]):
        self.errors = errors
        super().__init__("; ".join(str(m) for m in errors.values()))


class StaleEdit(ValidationFailed):
    """Somebody else saved the record after this form was opened."""

    status_code = 409


class NotFound(DomainError):
    status_code = 404


class Forbidden(ValidationFailed):
    """The user's role may not do this; ``errors`` says why, as for bad input."""

    status_code = 403
