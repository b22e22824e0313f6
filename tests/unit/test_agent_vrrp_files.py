"""The pure parts of the agent's keepalived support: the files it writes, the argv it runs,
the hash that makes a push idempotent, and reading ``ip -j addr`` output."""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path
from typing import Any

from portico.agent import netif
from portico.agent.keepalived_files import check_script, keepalived_conf, start_argv, vrrp_hash
from portico.wire.agent_api import VrrpConfig

LINKS: list[dict[str, Any]] = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {
        "ifname": "eth1",
        "addr_info": [
            {"family": "inet", "local": "10.0.0.5", "prefixlen": 24},
            {"family": "inet", "local": "10.0.0.10", "prefixlen": 32, "secondary": True},
            {"family": "inet6", "local": "fd00::5", "prefixlen": 64},
        ],
    },
    {"ifname": "odd", "addr_info": [{"family": "inet", "local": "not-an-address"}]},
    {"ifname": "bare"},
]


def _cfg(**fields: Any) -> VrrpConfig:
    base: dict[str, Any] = {
        "generation": 1,
        "keepalived_cfg": "vrrp_instance x {}\n",
        "interface": "eth1",
        "vips": ["10.0.0.10/24"],
    }
    return VrrpConfig(**(base | fields))


def test_amphora_dir_is_defined_on_the_first_line_before_the_controllers_text() -> None:
    text = keepalived_conf(Path("/srv/amph ora/haproxy"), "global_defs {}\n")
    assert text == "$AMPHORA_DIR=/srv/amph ora/haproxy\nglobal_defs {}\n"


def test_the_check_script_reads_haproxys_pid_file_even_from_a_path_with_spaces() -> None:
    script = check_script(Path("/srv/amph ora/haproxy/run/haproxy.pid"))
    assert script.startswith("#!/bin/sh\n")
    command = script.splitlines()[-1]
    assert shlex.split(command) == [
        "read",
        "pid",
        "<",
        "/srv/amph ora/haproxy/run/haproxy.pid",
        "&&",
        "kill",
        "-0",
        "$pid",
    ]


def test_keepalived_runs_vrrp_only_in_the_foreground_with_the_agents_pid_files() -> None:
    argv = start_argv(
        "keepalived", conf=Path("/a/vrrp/k.conf"), pid=Path("/a/vrrp/k.pid"), vrrp_pid=Path("/a/r")
    )
    assert argv == [
        "keepalived", "-n", "-l", "-D", "-P",
        "-f", "/a/vrrp/k.conf", "-p", "/a/vrrp/k.pid", "-r", "/a/r",
    ]  # fmt: skip


def test_the_hash_follows_what_is_applied_and_not_the_generation() -> None:
    first = vrrp_hash(_cfg())
    assert vrrp_hash(_cfg(generation=7)) == first
    assert vrrp_hash(_cfg(keepalived_cfg="other\n")) != first
    assert vrrp_hash(_cfg(interface="eth2")) != first
    assert vrrp_hash(_cfg(vips=["10.0.0.11/24"])) != first


def test_the_interface_of_an_address_is_found_for_v4_and_any_spelling_of_v6() -> None:
    assert netif.interface_of(LINKS, ipaddress.ip_address("10.0.0.10")) == "eth1"
    assert netif.interface_of(LINKS, ipaddress.ip_address("fd00:0:0::5")) == "eth1"
    assert netif.interface_of(LINKS, ipaddress.ip_address("127.0.0.1")) == "lo"
    assert netif.interface_of(LINKS, ipaddress.ip_address("10.0.0.99")) is None


def test_vips_are_matched_by_address_and_named_with_the_kernels_prefix() -> None:
    wanted = [netif.host_address("10.0.0.10/24"), netif.host_address("fd00::5/128")]
    assert netif.addresses_among(LINKS, wanted) == ["10.0.0.10/32", "fd00::5/64"]
    assert netif.addresses_among(LINKS, [netif.host_address("10.9.9.9")]) == []
