"""The SYN drop's BPF program, run on hand-made frames by a small classic BPF interpreter.

The interpreter knows only the instructions ``syn_drop`` emits and executes them as the
kernel does (jumps relative to the next instruction, big-endian loads from the frame's
Ethernet header, a load past the end rejecting the frame with 0). Its verdicts are what tc
gets: 2 (drop) or anything else (no verdict: the frame goes on).
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from portico.agent import syn_drop

SHOT = 2
VIP4, VIP6 = "10.216.0.10", "fd00:216::10"
SYN, SYN_ACK, ACK, SYN_ECE = 0x02, 0x12, 0x10, 0x42


def run(bytecode: str, frame: bytes) -> int:
    count, *rest = bytecode.split(",")
    code = [tuple(int(n) for n in step.split()) for step in rest]
    assert len(code) == int(count)
    a = x = pc = 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op in (0x20, 0x28, 0x30, 0x50):  # ld w/h/b [k], ldb [x + k]
            offset = k + (x if op == 0x50 else 0)
            size = {0x20: 4, 0x28: 2, 0x30: 1, 0x50: 1}[op]
            if offset + size > len(frame):
                return 0
            a = int.from_bytes(frame[offset : offset + size], "big")
        elif op == 0xB1:  # ldxb 4 * ([k] & 0xf)
            x = 4 * (frame[k] & 0x0F)
        elif op == 0x54:
            a &= k
        elif op == 0x15:
            pc += jt if a == k else jf
        elif op == 0x45:
            pc += jt if a & k else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {op:#x}")


def _ethernet(kind: int) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", kind)


def _tcp(flags: int) -> bytes:
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, flags, 65535, 0, 0)


def ipv4(dst: str, *, flags: int = SYN, proto: int = 6, options: int = 0, frag: int = 0) -> bytes:
    ihl = 5 + options
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + 4 * options + 20,
        1,
        frag,
        64,
        proto,
        0,
        ipaddress.ip_address("10.216.0.200").packed,
        ipaddress.ip_address(dst).packed,
    )
    return _ethernet(0x0800) + header + b"\x01" * (4 * options) + _tcp(flags)


def ipv6(dst: str, *, flags: int = SYN, next_header: int = 6) -> bytes:
    header = struct.pack("!IHBB", 6 << 28, 20, next_header, 64)
    src = ipaddress.ip_address("fd00:216::200").packed
    return _ethernet(0x86DD) + header + src + ipaddress.ip_address(dst).packed + _tcp(flags)


@pytest.mark.parametrize("flags", [SYN, SYN_ECE])
def test_a_syn_to_the_vip_is_dropped_v4_and_v6(flags: int) -> None:
    assert run(syn_drop.program(VIP4), ipv4(VIP4, flags=flags)) == SHOT
    assert run(syn_drop.program(f"{VIP4}/24"), ipv4(VIP4, flags=flags)) == SHOT
    assert run(syn_drop.program(VIP6), ipv6(VIP6, flags=flags)) == SHOT


def test_a_syn_behind_ip_options_is_found() -> None:
    assert run(syn_drop.program(VIP4), ipv4(VIP4, options=2)) == SHOT


@pytest.mark.parametrize(
    "frame",
    [
        ipv4(VIP4, flags=ACK),  # an established connection's segment
        ipv4(VIP4, flags=SYN_ACK),
        ipv4("10.216.0.11"),  # another address
        ipv4(VIP4, proto=17),  # UDP
        ipv4(VIP4, frag=8),  # a later fragment: no TCP header in it
        ipv6(VIP6, flags=ACK),
        ipv6("fd00:216::11"),
        ipv6(VIP6, next_header=17),
        _ethernet(0x0806) + b"\x00" * 28,  # ARP
        _ethernet(0x0800)[:10],  # a runt
    ],
)
def test_everything_else_passes(frame: bytes) -> None:
    verdicts = {run(syn_drop.program(VIP4), frame), run(syn_drop.program(VIP6), frame)}
    assert SHOT not in verdicts


def test_one_filter_per_vip_after_the_ingress_qdisc() -> None:
    argvs = syn_drop.install_argvs("eth1", [f"{VIP4}/24", f"{VIP6}/64"])
    assert argvs[0] == ["tc", "qdisc", "replace", "dev", "eth1", "ingress"]
    assert [argv[argv.index("prio") + 1] for argv in argvs[1:]] == ["49000", "49001"]
    assert argvs[2][-1] == syn_drop.program(VIP6)
    assert all(argv[-4:-1] == ["bpf", "da", "bytecode"] for argv in argvs[1:])


def test_the_ingress_qdisc_is_found_in_tc_json() -> None:
    shown = '[{"kind":"noqueue","handle":"0:"},{"kind":"ingress","handle":"ffff:"}]'
    assert syn_drop.installed(shown)
    assert not syn_drop.installed('[{"kind":"noqueue","handle":"0:"}]')
    assert not syn_drop.installed("")
