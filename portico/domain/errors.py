"""Errors the domain and services raise. Each carries the HTTP status and Octavia's text.

Only ``portico.api`` turns them into HTTP responses; everything below it raises these.
"""

from __future__ import annotations


class PorticoError(Exception):
    """Base of every error a user can see: an HTTP status and Octavia's faultstring."""

    http_status = 500
    faultstring = "An unknown exception occurred."

    def __init__(self, faultstring: str | None = None) -> None:
        self.faultstring = faultstring or type(self).faultstring
        super().__init__(self.faultstring)

    def response_headers(self) -> dict[str, str]:
        """Extra HTTP headers the error response carries (none by default)."""
        return {}


class InvalidInput(PorticoError):
    """A field or combination of fields is invalid (HTTP 400)."""

    http_status = 400

    def __init__(self, faultstring: str) -> None:
        super().__init__(faultstring)


class InvalidOption(InvalidInput):
    """An option value that the named object cannot take."""

    def __init__(self, value: object, option: str) -> None:
        super().__init__(f"{value} is not a valid option for {option}")


class ValidationException(InvalidInput):
    """Octavia's ValidationException wording."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failure: {detail}")


class Unauthenticated(PorticoError):
    """No valid token (HTTP 401); ``www_authenticate`` tells the client where to get one."""

    http_status = 401
    faultstring = "The request you have made requires authentication."

    def __init__(self, *, www_authenticate: str | None = None) -> None:
        super().__init__()
        self.www_authenticate = www_authenticate

    def response_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.www_authenticate} if self.www_authenticate else {}


class IdentityUnavailable(PorticoError):
    """The identity service cannot be reached to validate a token (HTTP 503)."""

    http_status = 503
    faultstring = "The Keystone service is temporarily unavailable."


class NotAuthorized(PorticoError):
    http_status = 403
    faultstring = "Policy does not allow this request to be performed."


class NotFound(PorticoError):
    """The object does not exist or belongs to another project (never say which)."""

    http_status = 404

    def __init__(self, resource: str, object_id: object) -> None:
        super().__init__(f"{resource} {object_id} not found.")


class Conflict(PorticoError):
    http_status = 409


class ImmutableObject(Conflict):
    """Octavia's 409 while the object (or its load balancer) is pending."""

    def __init__(self, resource: str, object_id: object) -> None:
        super().__init__(f"{resource} {object_id} is immutable and cannot be updated.")


class DuplicateEntry(Conflict):
    pass


class QuotaExceeded(PorticoError):
    http_status = 403

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class ProviderUnsupported(PorticoError):
    """The provider cannot do what was asked; clients read 501 as "unsupported"."""

    http_status = 501

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"Provider '{provider}' does not support a requested option: {detail}")


class PayloadTooLarge(PorticoError):
    http_status = 413
    faultstring = "Request body is too large."


class UnsupportedMediaType(PorticoError):
    http_status = 415
    faultstring = "Unsupported Content-Type; send application/json."


class TransientError(Exception):
    """A provider or driver failure worth retrying later, with a delay."""


class PermanentError(Exception):
    """A provider or driver failure that retrying cannot heal: the object goes to ERROR."""


class ObjectInUse(Conflict):
    """A catalogue object (flavor, zone, profile) still referenced by others."""

    def __init__(self, resource: str, object_id: object) -> None:
        super().__init__(f"{resource} {object_id} is in use and cannot be modified.")


class RecordAlreadyExists(Conflict):
    def __init__(self, field: str, name: object) -> None:
        super().__init__(f"A {field} of {name} already exists.")


class ProviderNotFound(PorticoError):
    """An enabled provider whose driver is not loaded."""

    http_status = 501

    def __init__(self, provider: str) -> None:
        super().__init__(f"Provider '{provider}' was not found.")


class ProviderNotImplemented(PorticoError):
    """The provider lacks a whole action (e.g. flavors); clients read 501 as "unsupported"."""

    http_status = 501

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"Provider '{provider}' does not support a requested action: {detail}")
