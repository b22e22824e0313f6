"""haproxy ``peers``: the two amphorae of an ACTIVE_STANDBY pair share their stick tables.

Session persistence by source address (and by application cookie) lives in stick tables.
Synced between the pair, a client keeps its member when the VIP moves to the other amphora;
on a reload the old worker hands its table to the new one through the same section.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from portico.render.errors import RenderError

SECTION = "portico_peers"
# haproxy's rule for peer names: letters, digits and ``-_.:``.
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class Peer:
    """One amphora of the pair: its name (the amphora id) and where its peers port listens."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class Peers:
    """The pair as one amphora renders it: ``local`` names itself among ``members``."""

    local: str
    members: tuple[Peer, ...]

    def lines(self) -> list[str]:
        """The ``peers`` section's lines (checked: names and addresses reach the config)."""
        if self.local not in {peer.name for peer in self.members}:
            raise RenderError(f"peers: the local peer {self.local} is not a member")
        out = []
        for peer in self.members:
            if not _NAME.match(peer.name) or not 0 < peer.port < 65536:
                raise RenderError(f"peers: invalid peer {peer.name!r} port {peer.port}")
            address = ipaddress.ip_address(peer.address)
            host = f"[{address}]" if address.version == 6 else str(address)
            out.append(f"peer {peer.name} {host}:{peer.port}")
        return out
