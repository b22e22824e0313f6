"""Drops (never resets) new TCP connections to the VIPs while a MASTER hands them over.

A client whose SYN is dropped retransmits it after its initial retransmission timeout (1 s
on Linux); by then the peer holds the VIP and has sent its gratuitous ARP, so the retry
reaches a MASTER that answers. A reset (what a stopped listener or a host without the
connection answers) would fail the client's request instead. Segments of established
connections pass, so haproxy finishes the requests it has.

The filter is a classic BPF program in a ``tc`` ingress filter in direct-action mode
(``bpf da bytecode ...``): of the kernel's tc modules only the ingress qdisc and the bpf
classifier are needed, no action module (``act_gact``) and no netfilter, neither of which
every amphora kernel has. The program sees the frame from its Ethernet header: it returns
``TC_ACT_SHOT`` for an IPv4 or IPv6 TCP segment to a VIP with SYN set and ACK clear, and
"no verdict" for anything else. IPv6 extension headers before TCP are not looked through
(such a SYN passes, as before this filter existed). The program text is pure and tested.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Sequence

TC = "tc"
# The filter's priority in the interface's ingress qdisc (one filter per VIP after it).
FIRST_PRIORITY = 49000
TIMEOUT_SECONDS = 5.0
# Classic BPF opcodes (linux/filter.h) and tc verdicts (linux/pkt_cls.h).
_LDH, _LDB, _LDW, _LDXMSH, _LDBIND = 0x28, 0x30, 0x20, 0xB1, 0x50
_AND, _JEQ, _JSET, _RET = 0x54, 0x15, 0x45, 0x06
_SHOT, _NO_VERDICT = 2, 0xFFFFFFFF
_SYN, _SYN_ACK = 0x02, 0x12
_PASS = -1  # a jump target: the last instruction, no verdict


class TcFailed(Exception):
    """``tc`` exited non-zero or could not run (no ingress qdisc or bpf classifier here)."""


def program(vip: str) -> str:
    """``tc``'s ``bytecode`` argument: drop a SYN (without ACK) to ``vip`` (an address)."""
    address = ipaddress.ip_address(vip.split("/", 1)[0])
    # (opcode, jump-if-true, jump-if-false, k); a jump is None (next) or _PASS.
    steps: list[tuple[int, int | None, int | None, int]] = [(_LDH, None, None, 12)]
    if address.version == 4:
        steps += [
            (_JEQ, None, _PASS, 0x0800),
            (_LDW, None, None, 30),  # destination address
            (_JEQ, None, _PASS, int(address)),
            (_LDB, None, None, 23),  # protocol
            (_JEQ, None, _PASS, 6),
            (_LDH, None, None, 20),  # a later fragment carries no TCP header
            (_JSET, _PASS, None, 0x1FFF),
            (_LDXMSH, None, None, 14),  # X = the IP header's length
            (_LDBIND, None, None, 14 + 13),  # TCP flags
        ]
    else:
        steps += [(_JEQ, None, _PASS, 0x86DD), (_LDB, None, None, 20), (_JEQ, None, _PASS, 6)]
        for index in range(4):
            word = int.from_bytes(address.packed[4 * index : 4 * index + 4], "big")
            steps += [(_LDW, None, None, 38 + 4 * index), (_JEQ, None, _PASS, word)]
        steps.append((_LDB, None, None, 14 + 40 + 13))
    steps += [
        (_AND, None, None, _SYN_ACK),
        (_JEQ, None, _PASS, _SYN),
        (_RET, None, None, _SHOT),
        (_RET, None, None, _NO_VERDICT),
    ]
    last = len(steps) - 1

    def offset(index: int, target: int | None) -> int:
        return 0 if target is None else last - index - 1

    codes = [
        f"{op} {offset(i, true)} {offset(i, false)} {k}"
        for i, (op, true, false, k) in enumerate(steps)
    ]
    return f"{len(codes)}," + ",".join(codes)


def install_argvs(interface: str, vips: Sequence[str]) -> list[list[str]]:
    """The ``tc`` commands that add the ingress qdisc and one filter per VIP (idempotent)."""
    argvs = [[TC, "qdisc", "replace", "dev", interface, "ingress"]]
    for index, vip in enumerate(vips):
        where = [
            "dev",
            interface,
            "ingress",
            "protocol",
            "all",
            "prio",
            str(FIRST_PRIORITY + index),
        ]
        argvs.append(
            [TC, "filter", "replace", *where, "handle", "1", "bpf", "da", "bytecode", program(vip)]
        )
    return argvs


async def install(interface: str, vips: Sequence[str]) -> None:
    """Start dropping SYNs to ``vips`` arriving on ``interface``; ``TcFailed`` if tc cannot."""
    for argv in install_argvs(interface, vips):
        await _tc(argv)


async def remove(interface: str) -> None:
    """Stop dropping them: delete the interface's ingress qdisc (and so its filters), if any.

    The agent owns the ingress qdisc of the VRRP interface (nothing else of portico uses
    one). Read first, so a qdisc never installed is not an error.
    """
    if installed(await _tc([TC, "-j", "qdisc", "show", "dev", interface])):
        await _tc([TC, "qdisc", "del", "dev", interface, "ingress"])


def installed(qdiscs_json: str) -> bool:
    """Whether ``tc -j qdisc show dev IF`` lists an ingress qdisc."""
    shown = json.loads(qdiscs_json or "[]")
    return any(isinstance(q, dict) and q.get("kind") == "ingress" for q in shown)


async def _tc(argv: list[str]) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise TcFailed(f"{TC}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_SECONDS)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise TcFailed(f"{' '.join(argv[:4])}: timed out") from exc
    if proc.returncode != 0:
        raise TcFailed(err.decode(errors="replace").strip() or f"exit status {proc.returncode}")
    return out.decode(errors="replace")
