"""Neutron-shaped read-only lookups, so the unmodified clients work with one URL and no Keystone.

``openstack loadbalancer create --vip-subnet-id local`` (and ``member create --subnet-id``,
``--vip-network-id``, ``--vip-port-id``, ``--vip-qos-policy-id``, ``--vip-sg-id``) resolve the
name or id through Neutron before calling the load-balancer API. Without a service catalog
openstacksdk sends those lookups to the load-balancer endpoint itself, under the ``/v2`` link of
our version document: ``GET /v2/subnets?id=X``, then ``?name=X``. The embedded default has no
Neutron, only ``settings.subnets``, so this router answers from them. It is mounted only under
noauth (with Keystone a real Neutron is in the catalog) and never under ``/v2/lbaas``.

Ports, QoS policies and security groups do not exist here: their collections are empty, so the
clients report "Unable to locate …" instead of failing on a 404.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from portico.api.context import ContextDep
from portico.settings import Settings, SubnetSetting

router = APIRouter(tags=["network lookup"])

# Query parameters Neutron accepts that are not attribute filters.
_NON_FILTERS = frozenset({"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"})

Item = dict[str, Any]


def _first_and_last_host(cidr: str) -> tuple[str, str]:
    net = ipaddress.ip_network(cidr, strict=False)
    if net.num_addresses <= 2:
        return str(net[0]), str(net[-1])
    last = net[-2] if net.version == 4 else net[-1]
    return str(net[1]), str(last)


def subnet_view(subnet: SubnetSetting, project_id: str) -> Item:
    start, end = _first_and_last_host(subnet.cidr)
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "cidr": subnet.cidr,
        "ip_version": subnet.ip_version,
        "gateway_ip": None,
        "allocation_pools": [{"start": start, "end": end}],
        "enable_dhcp": False,
        "dns_nameservers": [],
        "host_routes": [],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "segment_id": None,
        "service_types": [],
        "description": "",
        "tags": [],
        "revision_number": 0,
        "project_id": project_id,
        "tenant_id": project_id,
    }


def network_views(subnets: Iterable[SubnetSetting], project_id: str) -> list[Item]:
    """One network per distinct ``network_id``, named after its first subnet."""
    networks: dict[str, Item] = {}
    for subnet in subnets:
        network = networks.setdefault(
            subnet.network_id,
            {
                "id": subnet.network_id,
                "name": subnet.name,
                "subnets": [],
                "status": "ACTIVE",
                "admin_state_up": True,
                "shared": True,
                "router:external": False,
                "mtu": 1500,
                "port_security_enabled": False,
                "availability_zones": [],
                "availability_zone_hints": [],
                "ipv4_address_scope": None,
                "ipv6_address_scope": None,
                "description": "",
                "tags": [],
                "revision_number": 0,
                "project_id": project_id,
                "tenant_id": project_id,
            },
        )
        network["subnets"].append(subnet.id)
    return list(networks.values())


def _as_filter_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def filter_items(items: list[Item], params: list[tuple[str, str]]) -> list[Item] | str:
    """Neutron's attribute filters: repeated keys are alternatives, distinct keys all apply.

    Returns the matching items, or the name of a key no item has (Neutron answers 400).
    """
    wanted: dict[str, set[str]] = {}
    for key, value in params:
        if key not in _NON_FILTERS:
            wanted.setdefault(key, set()).add(
                value.lower() if value in ("True", "False") else value
            )
    known = set(items[0]) if items else set(wanted)
    for key in wanted:
        if key not in known:
            return key
    return [
        item
        for item in items
        if all(_as_filter_text(item.get(key)) in values for key, values in wanted.items())
    ]


def _only_fields(item: Item, fields: list[str]) -> Item:
    return {k: v for k, v in item.items() if k in fields} if fields else item


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"NeutronError": {"type": kind, "message": message, "detail": ""}},
    )


def _collection(request: Request, key: str, items: list[Item]) -> JSONResponse:
    matched = filter_items(items, list(request.query_params.multi_items()))
    if isinstance(matched, str):
        return _error(400, "HTTPBadRequest", f"{matched} is an invalid filter for {key}.")
    fields = request.query_params.getlist("fields")
    return JSONResponse({key: [_only_fields(item, fields) for item in matched]})


def _member(request: Request, key: str, kind: str, items: list[Item], item_id: str) -> JSONResponse:
    for item in items:
        if item["id"] == item_id:
            return JSONResponse({key: _only_fields(item, request.query_params.getlist("fields"))})
    return _error(404, f"{kind}NotFound", f"{kind} {item_id} could not be found.")


def _subnets(settings: Settings) -> list[Item]:
    project = settings.noauth_default_project
    return [subnet_view(subnet, project) for subnet in settings.subnets]


def _networks(settings: Settings) -> list[Item]:
    return network_views(settings.subnets, settings.noauth_default_project)


def _nothing(_settings: Settings) -> list[Item]:
    return []


# (collection path and body key, singular body key, Neutron's name of the kind, source)
_KINDS: tuple[tuple[str, str, str, str, Callable[[Settings], list[Item]]], ...] = (
    ("/subnets", "subnets", "subnet", "Subnet", _subnets),
    ("/networks", "networks", "network", "Network", _networks),
    ("/ports", "ports", "port", "Port", _nothing),
    ("/qos/policies", "policies", "policy", "QosPolicy", _nothing),
    ("/security-groups", "security_groups", "security_group", "SecurityGroup", _nothing),
)


def _register(
    path: str, plural: str, singular: str, kind: str, source: Callable[[Settings], list[Item]]
) -> None:
    def list_items(request: Request, ctx: ContextDep) -> JSONResponse:
        return _collection(request, plural, source(ctx.settings))

    def show_item(item_id: str, request: Request, ctx: ContextDep) -> JSONResponse:
        return _member(request, singular, kind, source(ctx.settings), item_id)

    op = plural.replace("-", "_")
    router.add_api_route(path, list_items, methods=["GET"], operation_id=f"lookup_{op}")
    router.add_api_route(
        path + "/{item_id}", show_item, methods=["GET"], operation_id=f"lookup_{op}_one"
    )


for _path, _plural, _singular, _kind, _source in _KINDS:
    _register(_path, _plural, _singular, _kind, _source)
