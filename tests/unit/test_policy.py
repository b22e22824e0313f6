"""The role matrix of Octavia's default policies, written out by hand and checked cell by cell.

Expected values come from Octavia's registered defaults with their deprecated Advanced-RBAC
alternatives still honoured (oslo.policy's ``enforce_new_defaults = False``), so both
Keystone's default roles and the ``load-balancer_*`` roles work:

* admin: ``role:admin`` or ``role:load-balancer_admin``
* global observer: ``role:admin`` or ``role:load-balancer_global_observer``
* member and owner: (``role:member`` or ``role:load-balancer_member``) on the object's project
* observer and owner: (``role:reader`` or ``role:load-balancer_observer``) on the project
* quota admin: ``role:admin`` or ``role:load-balancer_quota_admin``

and the API rules ``read``, ``read-global``, ``write``, ``read-quota``, ``read-quota-global``,
``write-quota`` and ``admin`` built from them. Role implication (admin ⇒ member ⇒ reader) is
Keystone's job, so each role is tested alone here.
"""

from __future__ import annotations

import pytest

from portico.domain.errors import NotAuthorized
from portico.domain.policy import Access, Caller, may, require

OWN = "project-a"
OTHER = "project-b"

R, W, RQ, WQ, ADM = (
    Access.READ,
    Access.WRITE,
    Access.READ_QUOTA,
    Access.WRITE_QUOTA,
    Access.ADMIN,
)
EVERYTHING = {(a, p) for a in Access for p in (OWN, OTHER)}

# role -> the (access, target project) cells it allows for a caller scoped to OWN.
MATRIX: dict[str, set[tuple[Access, str]]] = {
    "load-balancer_observer": {(R, OWN), (RQ, OWN)},
    "reader": {(R, OWN), (RQ, OWN)},
    "load-balancer_global_observer": {(R, OWN), (R, OTHER), (RQ, OWN), (RQ, OTHER)},
    "load-balancer_member": {(R, OWN), (W, OWN), (RQ, OWN)},
    "member": {(R, OWN), (W, OWN), (RQ, OWN)},
    "load-balancer_quota_admin": {(RQ, OWN), (RQ, OTHER), (WQ, OWN), (WQ, OTHER)},
    "load-balancer_admin": EVERYTHING,
    "admin": EVERYTHING,
    # Roles Octavia's API rules never mention grant nothing.
    "service": set(),
    "load-balancer_reader": set(),
    "lb-admin": set(),
}

# role -> (reads_globally, reads_quotas_globally, quota_admin, is_admin)
GLOBAL_FLAGS: dict[str, tuple[bool, bool, bool, bool]] = {
    "load-balancer_observer": (False, False, False, False),
    "reader": (False, False, False, False),
    "load-balancer_global_observer": (True, True, False, False),
    "load-balancer_member": (False, False, False, False),
    "member": (False, False, False, False),
    "load-balancer_quota_admin": (False, True, True, False),
    "load-balancer_admin": (True, True, True, True),
    "admin": (True, True, True, True),
    "service": (False, False, False, False),
    "load-balancer_reader": (False, False, False, False),
    "lb-admin": (False, False, False, False),
}

CELLS = [
    pytest.param(
        role, access, project, id=f"{role}-{access}-{'own' if project == OWN else 'other'}"
    )
    for role in MATRIX
    for access in Access
    for project in (OWN, OTHER)
]


@pytest.mark.parametrize(("role", "access", "project"), CELLS)
def test_role_matrix_matches_octavia_defaults(role: str, access: Access, project: str) -> None:
    caller = Caller(project_id=OWN, roles=frozenset({role}))
    expected = (access, project) in MATRIX[role]
    assert may(caller, access, project) is expected
    if expected:
        require(caller, access, project)
    else:
        with pytest.raises(NotAuthorized):
            require(caller, access, project)


@pytest.mark.parametrize("role", list(GLOBAL_FLAGS))
def test_global_abilities_match_octavia_defaults(role: str) -> None:
    caller = Caller(project_id=OWN, roles=frozenset({role}))
    flags = (caller.reads_globally, caller.reads_quotas_globally, caller.quota_admin)
    assert (*flags, caller.is_admin) == GLOBAL_FLAGS[role]


def test_no_roles_allow_nothing() -> None:
    caller = Caller(project_id=OWN, roles=frozenset())
    assert not any(may(caller, access, project) for access, project in EVERYTHING)
    assert not (caller.reads_globally or caller.reads_quotas_globally or caller.quota_admin)


def test_roles_combine_as_a_union() -> None:
    caller = Caller(project_id=OWN, roles=frozenset({"reader", "load-balancer_quota_admin"}))
    allowed = {(a, p) for a, p in EVERYTHING if may(caller, a, p)}
    assert allowed == MATRIX["reader"] | MATRIX["load-balancer_quota_admin"]


def test_keystone_implied_roles_of_a_member_token_allow_read_and_write_of_own_project() -> None:
    # Keystone puts implied roles in the token: a member's token lists member and reader.
    caller = Caller(project_id=OWN, roles=frozenset({"member", "reader"}))
    allowed = {(a, p) for a, p in EVERYTHING if may(caller, a, p)}
    assert allowed == {(R, OWN), (W, OWN), (RQ, OWN)}


@pytest.mark.parametrize("role", ["member", "reader", "load-balancer_member"])
def test_project_roles_without_a_project_allow_nothing(role: str) -> None:
    caller = Caller(project_id=None, roles=frozenset({role}))
    assert not any(may(caller, access, p) for access in Access for p in (OWN, OTHER, None))


@pytest.mark.parametrize("role", ["member", "reader", "load-balancer_observer"])
def test_project_roles_never_match_an_object_without_a_project(role: str) -> None:
    caller = Caller(project_id=OWN, roles=frozenset({role}))
    assert not may(caller, Access.READ, None)


def test_admin_may_act_on_objects_of_no_project() -> None:
    caller = Caller(project_id=None, roles=frozenset({"admin"}))
    assert all(may(caller, access, None) for access in Access)


@pytest.mark.parametrize("role", ["Admin", "MEMBER", "Load-Balancer_Global_Observer"])
def test_role_names_compare_case_insensitively(role: str) -> None:
    caller = Caller(project_id=OWN, roles=frozenset({role}))
    assert caller.roles == {role.lower()}
    assert may(caller, Access.READ, OWN)
