"""Picking a VIP address inside a subnet (pure: the caller says which addresses are taken)."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

from portico.domain.errors import InvalidInput


def address_in(cidr: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)


def pick_address(
    cidr: str, *, taken: Callable[[str], bool], rng: random.Random, attempts: int = 64
) -> str:
    """A free host address of ``cidr``, drawn at random so large subnets allocate in O(1)."""
    net = ipaddress.ip_network(cidr, strict=False)
    first = int(net.network_address) + 2  # .0 is the network, .1 the gateway
    last = int(net.broadcast_address) - 1
    if last < first:
        raise InvalidInput(f"Subnet {cidr} has no free address")
    for _ in range(attempts):
        candidate = str(ipaddress.ip_address(rng.randint(first, last)))
        if not taken(candidate):
            return candidate
    for value in range(first, last + 1):
        candidate = str(ipaddress.ip_address(value))
        if not taken(candidate):
            return candidate
    raise InvalidInput(f"Subnet {cidr} has no free address")
