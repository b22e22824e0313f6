"""Field types shared by every resource: validated strings, UUIDs, addresses, ports, tags.

No string that can reach a rendered configuration may carry control characters; the
constrained types here reject CR, LF, NUL and the rest of C0/C1 at the edge.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters (CR, LF, NUL, …) are not allowed")
    return value


def is_uuid(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid UUID") from exc
    return value


def is_ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IP address") from exc
    return value


def is_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR") from exc
    return value


Text255 = Annotated[str, StringConstraints(max_length=255), AfterValidator(no_control_chars)]
Uuid = Annotated[str, StringConstraints(max_length=36), AfterValidator(is_uuid)]
IpAddress = Annotated[str, StringConstraints(max_length=64), AfterValidator(is_ip_address)]
Cidr = Annotated[str, StringConstraints(max_length=64), AfterValidator(is_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(no_control_chars)
]
Tags = Annotated[list[Tag], Field(max_length=100)]
ContainerRef = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(no_control_chars)
]


class Strict(BaseModel):
    """Request bodies: unknown attributes are refused (Octavia answers 400)."""

    model_config = ConfigDict(extra="forbid", strict=False, str_strip_whitespace=False)


class Envelope(BaseModel):
    """A ``{"<resource>": {...}}`` wrapper; refuses anything beside the wrapped object."""

    model_config = ConfigDict(extra="forbid")


def timestamp(value: Any) -> str | None:
    """Octavia's timestamp format: ISO 8601 without a zone, seconds precision."""
    return value.replace(microsecond=0).isoformat() if value is not None else None


def ref_list(ids: list[str]) -> list[dict[str, Any]]:
    """Octavia's ``[{"id": ...}]`` shape for related objects."""
    return [{"id": i} for i in ids]
