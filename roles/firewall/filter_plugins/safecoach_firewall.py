"""The firewall's rule sets, computed from inventory data (filter `safecoach_firewall`).

One function, `ruleset(...)`, takes plain data (this host's name, the groups, every host's
address, the admin networks, the services table and the egress allow-list) and returns the
iptables-restore text for IPv4 and IPv6. It refuses bad input with one sentence (an admin network
that is not a network, two services on one port of one host, an address that is not an address)
before anything reaches a host. Unit tests call it directly; the role calls it as a filter.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

try:  # inside Ansible the error is Ansible's own; unit tests import this without Ansible
    from ansible.errors import AnsibleFilterError as _Base
except ImportError:  # pragma: no cover
    _Base = ValueError


class FirewallInputError(_Base):
    """Bad inventory data: the message is one sentence that says what to fix."""


WORLD = "world"
ADMIN = "admin_networks"
PROTOS = ("tcp", "udp")


def _network(value: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise FirewallInputError(
            f"{what} {value!r} is not a network; write it like 203.0.113.0/24 or "
            "203.0.113.7/32 (no host bits set after the prefix)."
        ) from None


def _address(value: str, host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise FirewallInputError(
            f"host {host} has address {value!r}, which is not an IP address; fix ansible_host."
        ) from None


def _ports(service: Mapping) -> list[int]:
    ports = service.get("ports") or []
    out = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise FirewallInputError(
                f"service {service.get('name')!r} has port {port!r}; ports are numbers 1-65535."
            )
        out.append(port)
    if not out:
        raise FirewallInputError(f"service {service.get('name')!r} lists no ports.")
    return out


def _proto(service: Mapping) -> str:
    proto = service.get("proto", "tcp")
    if proto not in PROTOS:
        raise FirewallInputError(
            f"service {service.get('name')!r} has protocol {proto!r}; use tcp or udp."
        )
    return proto


def _members(groups: Mapping[str, Iterable[str]], names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for group in names:
        for host in groups.get(group) or []:
            if host not in out:
                out.append(host)
    return out


def _dport(ports: list[int]) -> str:
    if len(ports) == 1:
        return f"--dport {ports[0]}"
    return "-m multiport --dports " + ",".join(str(p) for p in ports)


def _comment(text: str) -> str:
    clean = "".join(c for c in text if c.isalnum() or c in " -_.:/,")[:200]
    return f'-m comment --comment "{clean}"'


def plan(
    host: str,
    groups: Mapping[str, Iterable[str]],
    addresses: Mapping[str, str],
    admin_networks: Iterable[str],
    services: Iterable[Mapping],
    egress: Iterable[Mapping],
    egress_destinations: Mapping[str, Iterable[str]],
    ssh_port: int = 22,
) -> dict:
    """What this host lets in and out, as data: {"in": [...], "out": [...]}.

    Each entry: name, proto, ports, sources/destinations (networks), limits (http|ssh|None).
    """
    if host not in addresses:
        raise FirewallInputError(f"host {host} has no address in the inventory.")
    addr = {name: _address(value, name) for name, value in addresses.items()}
    admins = [_network(n, "admin network") for n in (admin_networks or [])]
    if not admins:
        raise FirewallInputError(
            "admin_networks is empty; list the networks people manage from in the stage's "
            "group_vars/all/stage.yml, or nobody can reach the bastion."
        )
    mine = {g for g, members in groups.items() if host in (members or [])}
    bastions = list(groups.get("bastion") or [])
    if not bastions:
        raise FirewallInputError("the inventory has no host in group bastion.")

    def nets(names: Iterable[str]) -> list:
        out = []
        for name in names:
            a = addr[name]
            out.append(ipaddress.ip_network(f"{a}/{a.max_prefixlen}"))
        return out

    inbound: list[dict] = []
    outbound: list[dict] = []
    claimed: dict[tuple[str, int], str] = {("tcp", ssh_port): "ssh"}

    # SSH: the bastion from the admin networks, every other host from the bastion only.
    if host in bastions:
        inbound.append(
            {
                "name": "ssh from the admin networks",
                "proto": "tcp",
                "ports": [ssh_port],
                "sources": admins,
                "limits": "ssh",
            }
        )
        others = [h for h in addresses if h not in bastions]
        outbound.append(
            {
                "name": "ssh to the hosts behind the bastion",
                "proto": "tcp",
                "ports": [ssh_port],
                "destinations": nets(others),
            }
        )
    else:
        inbound.append(
            {
                "name": "ssh from the bastion",
                "proto": "tcp",
                "ports": [ssh_port],
                "sources": nets(bastions),
                "limits": "ssh",
            }
        )

    for service in services or []:
        name = service.get("name") or "unnamed"
        proto, ports = _proto(service), _ports(service)
        servers = _members(groups, service.get("hosts") or [])
        sources = list(service.get("from") or [])
        if host in servers:
            for port in ports:
                other = claimed.get((proto, port))
                if other and other != name:
                    raise FirewallInputError(
                        f"port {port}/{proto} on host {host} is claimed by both {other} and "
                        f"{name}; give one of them another port."
                    )
                claimed[(proto, port)] = name
            if WORLD in sources:
                src = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            else:
                src = nets(h for h in _members(groups, sources) if h != host)
                if ADMIN in sources:
                    src += admins
            if src:
                inbound.append(
                    {
                        "name": f"{name} from {', '.join(sources)}",
                        "proto": proto,
                        "ports": ports,
                        "sources": src,
                        "limits": service.get("limits"),
                    }
                )
        # The client side: a host of a group named in `from` may open connections to the
        # servers (also next to "world": the monitoring hosts probe the public site).
        if mine & (set(sources) - {WORLD, ADMIN}):
            dst = nets(h for h in servers if h != host)
            if dst:
                outbound.append(
                    {
                        "name": f"{name} to {', '.join(service.get('hosts') or [])}",
                        "proto": proto,
                        "ports": ports,
                        "destinations": dst,
                    }
                )

    for rule in egress or []:
        applies = rule.get("hosts") or ["all"]
        if not (set(applies) & mine or "all" in applies):
            continue
        key = rule.get("to")
        dst = [
            _network(n, f"egress destination {key}")
            for n in (egress_destinations or {}).get(key) or []
        ]
        if dst:
            outbound.append(
                {
                    "name": f"{rule.get('name', key)} (egress)",
                    "proto": _proto(rule),
                    "ports": _ports(rule),
                    "destinations": dst,
                }
            )
    return {"in": inbound, "out": outbound, "bastion": host in bastions}


def _render(version: int, data: dict, limits: Mapping) -> str:
    icmp = "icmp" if version == 4 else "ipv6-icmp"
    type_opt = "--icmp-type" if version == 4 else "--icmpv6-type"
    http = limits["http"]
    # The bastion takes SSH from the admin networks; the others only from the bastion, whose one
    # address carries every admin's and every tool's connections, so it gets a larger budget.
    ssh = limits["ssh"] if data.get("bastion") else limits["ssh_inner"]
    log = limits["log"]
    mask = 32 if version == 4 else 128
    lines = [
        "# Rendered by role firewall from the inventory; do not edit on the host.",
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT DROP [0:0]",
        ":sc-http - [0:0]",
        ":sc-ssh - [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate INVALID -j DROP",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    ]
    if version == 4:
        lines += [
            f"-A INPUT -p icmp {type_opt} echo-request -m limit --limit 5/second "
            "--limit-burst 10 -j ACCEPT",
        ]
    else:
        # Neighbour discovery and router solicitation only on the link (hop limit 255).
        for kind in (
            "router-solicitation",
            "router-advertisement",
            "neighbour-solicitation",
            "neighbour-advertisement",
        ):
            lines.append(f"-A INPUT -p {icmp} {type_opt} {kind} -m hl --hl-eq 255 -j ACCEPT")
        lines.append(
            f"-A INPUT -p {icmp} {type_opt} echo-request -m limit --limit 5/second "
            "--limit-burst 10 -j ACCEPT"
        )
    for rule in data["in"]:
        sources = [n for n in rule["sources"] if n.version == version]
        if not sources:
            continue
        target = {"http": "sc-http", "ssh": "sc-ssh"}.get(rule.get("limits") or "", "ACCEPT")
        for net in sources:
            src = "" if net.prefixlen == 0 else f"-s {net} "
            lines.append(
                f"-A INPUT {src}-p {rule['proto']} {_dport(rule['ports'])} "
                f"-m conntrack --ctstate NEW {_comment(rule['name'])} -j {target}"
            )
    lines += [
        # DoS: new connections per source to 80/443 above the rate are dropped, and a source
        # holding too many connections at once is refused.
        f"-A sc-http -m hashlimit --hashlimit-above {http['rate']} --hashlimit-burst "
        f"{http['burst']} --hashlimit-mode srcip --hashlimit-srcmask {mask} "
        f"--hashlimit-name sc-http{version} --hashlimit-htable-expire 60000 -j DROP",
        f"-A sc-http -p tcp -m connlimit --connlimit-above {http['connections']} "
        f"--connlimit-mask {mask} --connlimit-saddr -j REJECT --reject-with tcp-reset",
        "-A sc-http -j ACCEPT",
        # SSH: few new connections per source and minute, few at once.
        f"-A sc-ssh -m hashlimit --hashlimit-above {ssh['rate']} --hashlimit-burst "
        f"{ssh['burst']} --hashlimit-mode srcip --hashlimit-srcmask {mask} "
        f"--hashlimit-name sc-ssh{version} --hashlimit-htable-expire 300000 -j DROP",
        f"-A sc-ssh -p tcp -m connlimit --connlimit-above {ssh['connections']} "
        f"--connlimit-mask {mask} --connlimit-saddr -j REJECT --reject-with tcp-reset",
        "-A sc-ssh -j ACCEPT",
        f"-A INPUT -m limit --limit {log['rate']} --limit-burst {log['burst']} "
        f'-j LOG --log-prefix "sc-fw-in-drop: " --log-level 4',
        f"-A FORWARD -m limit --limit {log['rate']} --limit-burst {log['burst']} "
        f'-j LOG --log-prefix "sc-fw-fwd-drop: " --log-level 4',
        "-A OUTPUT -o lo -j ACCEPT",
        "-A OUTPUT -m conntrack --ctstate INVALID -j DROP",
        "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    ]
    if version == 4:
        lines.append(f"-A OUTPUT -p {icmp} {type_opt} echo-request -j ACCEPT")
    else:
        for kind in (
            "router-solicitation",
            "neighbour-solicitation",
            "neighbour-advertisement",
            "echo-request",
        ):
            lines.append(f"-A OUTPUT -p {icmp} {type_opt} {kind} -j ACCEPT")
    for rule in data["out"]:
        for net in (n for n in rule["destinations"] if n.version == version):
            dst = "" if net.prefixlen == 0 else f"-d {net} "
            lines.append(
                f"-A OUTPUT {dst}-p {rule['proto']} {_dport(rule['ports'])} "
                f"-m conntrack --ctstate NEW {_comment(rule['name'])} -j ACCEPT"
            )
    lines += [
        # Egress is an allow-list: what is not allowed above is logged (rate-limited) and refused.
        f"-A OUTPUT -m limit --limit {log['rate']} --limit-burst {log['burst']} "
        f'-j LOG --log-prefix "sc-fw-out-drop: " --log-level 4',
        "COMMIT",
        "",
    ]
    return "\n".join(lines)


DEFAULT_LIMITS = {
    "http": {"rate": "20/second", "burst": 40, "connections": 50},
    "ssh": {"rate": "10/minute", "burst": 20, "connections": 10},
    "ssh_inner": {"rate": "60/minute", "burst": 60, "connections": 30},
    "log": {"rate": "6/minute", "burst": 10},
}


def ruleset(
    host: str,
    groups: Mapping[str, Iterable[str]],
    addresses: Mapping[str, str],
    admin_networks: Iterable[str],
    services: Iterable[Mapping],
    egress: Iterable[Mapping] = (),
    egress_destinations: Mapping[str, Iterable[str]] | None = None,
    limits: Mapping | None = None,
    ssh_port: int = 22,
) -> dict[str, str]:
    """{"v4": iptables-restore text, "v6": ip6tables-restore text} for one host."""
    merged = {k: dict(v) for k, v in DEFAULT_LIMITS.items()}
    for key, value in (limits or {}).items():
        merged.setdefault(key, {}).update(value or {})
    data = plan(
        host,
        groups,
        addresses,
        admin_networks,
        services,
        egress,
        egress_destinations or {},
        ssh_port,
    )
    return {"v4": _render(4, data, merged), "v6": _render(6, data, merged)}


def _filter(
    host,
    groups,
    addresses,
    admin_networks,
    services,
    egress=(),
    destinations=None,
    limits=None,
    ssh_port=22,
):
    return ruleset(
        host,
        groups,
        addresses,
        admin_networks,
        services,
        egress,
        destinations,
        limits,
        int(ssh_port),
    )


class FilterModule:
    def filters(self):
        return {"safecoach_firewall": _filter}
