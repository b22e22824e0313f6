"""Who may do what: Octavia's default policies as pure functions of the caller's roles.

Octavia honours its own ``load-balancer_*`` roles and Keystone's default roles (``reader``,
``member``, ``admin``); a role scoped to a project acts on that project only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from portico.domain.errors import NotAuthorized


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    READ_QUOTA = "read-quota"
    WRITE_QUOTA = "write-quota"
    ADMIN = "admin"


ADMIN_ROLES = frozenset({"admin", "load-balancer_admin"})
GLOBAL_OBSERVER_ROLES = frozenset({"load-balancer_global_observer"})
MEMBER_ROLES = frozenset({"member", "load-balancer_member"})
OBSERVER_ROLES = frozenset({"reader", "load-balancer_observer"})
QUOTA_ADMIN_ROLES = frozenset({"load-balancer_quota_admin"})


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    project_id: str | None
    roles: frozenset[str]
    user_id: str | None = None

    def __post_init__(self) -> None:
        # Role names compare case-insensitively, as oslo.policy compares them for Octavia.
        object.__setattr__(self, "roles", frozenset(r.lower() for r in self.roles))

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    @property
    def reads_globally(self) -> bool:
        """May see every project's objects (admin and global observer)."""
        return self.is_admin or bool(self.roles & GLOBAL_OBSERVER_ROLES)

    @property
    def quota_admin(self) -> bool:
        return self.is_admin or bool(self.roles & QUOTA_ADMIN_ROLES)

    @property
    def reads_quotas_globally(self) -> bool:
        """May list every project's quotas (Octavia's ``read-quota-global``)."""
        return self.reads_globally or self.quota_admin


def may(caller: Caller, access: Access, project_id: str | None) -> bool:
    """Whether ``caller`` may have ``access`` to objects of ``project_id``."""
    if caller.is_admin:
        return True
    owner = project_id is not None and caller.project_id == project_id
    roles = caller.roles
    match access:
        case Access.READ:
            return bool(roles & GLOBAL_OBSERVER_ROLES) or (
                owner and bool(roles & (MEMBER_ROLES | OBSERVER_ROLES))
            )
        case Access.WRITE:
            return owner and bool(roles & MEMBER_ROLES)
        case Access.READ_QUOTA:
            return bool(roles & (GLOBAL_OBSERVER_ROLES | QUOTA_ADMIN_ROLES)) or (
                owner and bool(roles & (MEMBER_ROLES | OBSERVER_ROLES))
            )
        case Access.WRITE_QUOTA:
            return bool(roles & QUOTA_ADMIN_ROLES)
        case Access.ADMIN:
            return False


def require(caller: Caller, access: Access, project_id: str | None) -> None:
    """Raise ``NotAuthorized`` (403) unless ``may`` allows it."""
    if not may(caller, access, project_id):
        raise NotAuthorized()
