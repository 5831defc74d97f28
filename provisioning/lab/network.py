"""The lab's network: a Linux bridge per stage on the controller, a namespace per host.

Names carry the stage's network number n (10.213.<n>.0/24) so that stages never collide and
every leftover can be found again by prefix: bridge `sc<n>-br`, host links `sc<n>-h<i>`,
namespaces `sc<n>-<host>`. Hosts get an address on the bridge and no default route.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from provisioning.lab.system import run
from provisioning.stage.errors import OtapError


def bridge_name(n: int) -> str:
    return f"sc{n}-br"


def prefix(n: int) -> str:
    return f"sc{n}-"


def mac_for(address: str) -> str:
    """A locally administered MAC derived from the host's IPv4 address: 02:5c:a:b:c:d."""
    octets = ipaddress.IPv4Address(address).packed
    return "02:5c:" + ":".join(f"{o:02x}" for o in octets)


def links() -> list[dict]:
    return json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]")


def link_exists(name: str) -> bool:
    return any(link["ifname"] == name for link in links())


def netns_list() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False).stdout or "[]"
    try:
        return [entry["name"] for entry in json.loads(out)]
    except (ValueError, KeyError):
        return []


def check_range_free(network: ipaddress.IPv4Network, bridge: str) -> None:
    """Refuse a lab range that overlaps an address or route of the machine's own networks."""
    addrs = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for iface in addrs:
        if iface["ifname"] == bridge:
            continue
        for info in iface.get("addr_info", []):
            net = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network
            if net.overlaps(network):
                raise OtapError(
                    f"the lab range {network} is already in use on this machine "
                    f"({iface['ifname']} has {info['local']}/{info['prefixlen']}); "
                    "set another lab_network in the stage's group_vars/all/stage.yml."
                )
    routes = json.loads(run(["ip", "-j", "-4", "route", "show"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst in ("default", "") or route.get("dev") == bridge:
            continue
        try:
            net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if net.overlaps(network):
            raise OtapError(
                f"the lab range {network} is already in use on this machine (a route to {dst} "
                f"via {route.get('dev', '?')}); set another lab_network in the stage's "
                "group_vars/all/stage.yml."
            )


def ensure_bridge(n: int, controller: str, prefixlen: int) -> None:
    name = bridge_name(n)
    if not link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
    have = json.loads(run(["ip", "-j", "-4", "addr", "show", "dev", name]).stdout or "[]")
    present = {a["local"] for iface in have for a in iface.get("addr_info", [])}
    if controller not in present:
        run(["ip", "addr", "add", f"{controller}/{prefixlen}", "dev", name])
    run(["ip", "link", "set", name, "up"])


def setup_host(record: dict) -> None:
    """(Re)create the host's namespace and its link into the bridge: a clean network each boot."""
    teardown_host(record)
    ns, veth = record["netns"], record["veth"]
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", record["bridge"], "up"])
    # A fixed MAC per address, as a real NIC keeps across reboots: otherwise the neighbours'
    # ARP caches point at the old link for half a minute after a host reboots.
    run(["ip", "-n", ns, "link", "set", "eth0", "address", mac_for(record["address"])])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(
        ["ip", "-n", ns, "addr", "add", f"{record['address']}/{record['prefixlen']}", "dev", "eth0"]
    )
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def teardown_host(record: dict) -> None:
    if link_exists(record["veth"]):
        run(["ip", "link", "del", record["veth"]], check=False)
    if record["netns"] in netns_list():
        run(["ip", "netns", "del", record["netns"]], check=False)


def teardown_stage(n: int) -> list[str]:
    """Delete every namespace and link of stage n; returns what was removed."""
    removed = []
    for ns in netns_list():
        if ns.startswith(prefix(n)):
            run(["ip", "netns", "del", ns], check=False)
            removed.append(f"netns {ns}")
    for link in links():
        name = link["ifname"]
        if name.startswith(prefix(n)) and name != bridge_name(n):
            run(["ip", "link", "del", name], check=False)
            removed.append(f"link {name}")
    if link_exists(bridge_name(n)):
        run(["ip", "link", "del", bridge_name(n)], check=False)
        removed.append(f"link {bridge_name(n)}")
    # A namespace file whose mount went away can linger in /run/netns.
    for stale in Path("/run/netns").glob(f"{prefix(n)}*"):
        stale.unlink(missing_ok=True)
    return removed
