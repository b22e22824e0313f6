"""Names and addresses of what the ``netns`` driver makes (pure: no I/O).

Interface names are limited to 15 characters (IFNAMSIZ), so the names are short hashes of
the amphora id and network they serve, always the same for the same inputs: a controller
that crashed halfway finds what it made by name and finishes the job. Everything on the
host starts with ``ptc`` and every namespace with ``portico-``, so an operator (or a test)
can tell portico's links from anyone else's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable

from portico.domain.errors import PermanentError

NAMESPACE_PREFIX = "portico-"
LINK_PREFIX = "ptc"
MGMT_IFNAME = "mgmt0"  # the amphora's end of its management veth, inside its namespace
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _short(*parts: str, length: int = 10) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def namespace(amphora_id: str) -> str:
    """``portico-`` and the first 12 hex digits of the amphora id (its uuid without dashes)."""
    digits = amphora_id.replace("-", "").lower()
    if not re.fullmatch(r"[0-9a-f]{12,}", digits):
        raise PermanentError(f"invalid amphora id {amphora_id!r} for the netns driver")
    return NAMESPACE_PREFIX + digits[:12]


def mgmt_veth(amphora_id: str) -> str:
    """The host end of an amphora's veth on the management bridge."""
    return f"{LINK_PREFIX}m{_short(amphora_id)}"


def network_key(network_id: str | None, subnet_cidr: str) -> str:
    """What one bridge stands for: the network, or the subnet when no network is named."""
    return network_id or str(ipaddress.ip_network(subnet_cidr, strict=False))


def network_bridge(key: str) -> str:
    return f"{LINK_PREFIX}b{_short(key)}"


def network_veth(amphora_id: str, key: str) -> str:
    """The host end of an amphora's veth on a VIP or member network's bridge."""
    return f"{LINK_PREFIX}v{_short(amphora_id, key)}"


def network_ifname(key: str) -> str:
    """The amphora's end of that veth, inside its namespace (one per network)."""
    return f"n{_short(key)}"


def check_ifname(name: str) -> str:
    """An operator-chosen interface name (the management bridge), checked for the kernel."""
    if not _IFNAME.match(name):
        raise PermanentError(f"invalid interface name {name!r} (1-15 of [A-Za-z0-9_.-])")
    return name


def interface_address(address: str, subnet_cidr: str) -> str:
    """``address/prefixlen`` for an address on its subnet; refuses an address outside it."""
    subnet = ipaddress.ip_network(subnet_cidr, strict=False)
    ip = ipaddress.ip_address(address)
    if ip not in subnet:
        raise PermanentError(f"address {address} is not in subnet {subnet}")
    return f"{ip}/{subnet.prefixlen}"


def host_mgmt_address(cidr: str) -> str:
    """The host's own address on the management bridge: the subnet's first host address."""
    net = ipaddress.ip_network(cidr, strict=False)
    return f"{net.network_address + 1}/{net.prefixlen}"


def pick_mgmt_address(cidr: str, used: Iterable[str]) -> str:
    """The lowest free amphora address of the management subnet (after the host's)."""
    net = ipaddress.ip_network(cidr, strict=False)
    taken = {ipaddress.ip_address(a) for a in used}
    first = int(net.network_address) + 2
    for value in range(first, int(net.broadcast_address)):
        candidate = ipaddress.ip_address(value)
        if candidate not in taken:
            return str(candidate)
    raise PermanentError(f"management subnet {net} is full ({len(taken)} amphorae)")
