"""Domain errors. Services raise these; the API's exception handler and the admin turn them
into the documented error shape or a message, with the right HTTP status."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400
    code = "invalid"
    default_message = _("The request could not be processed.")

    def __init__(self, message=None, *, code: str | None = None, fields: dict | None = None, status: int | None = None):
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields or {}
        super().__init__(str(self.message))


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = _("Not found.")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = _("You are not allowed to do this.")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = _("This conflicts with the current state.")


class InvalidTransition(Conflict):
    code = "invalid_transition"

    @classmethod
    def for_move(cls, current: str, new: str) -> "InvalidTransition":
        return cls(_("Cannot change status from “%(current)s” to “%(new)s”.") % {"current": current, "new": new})


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next one is considered."""

    status = 429
    code = "too_many_attempts"
    default_message = _("Too many attempts. Try again later.")

    def __init__(self, message=None, *, retry_after: int, **kwargs):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, **kwargs)
