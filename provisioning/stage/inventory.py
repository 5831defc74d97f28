"""Stages are Ansible YAML inventories under inventories/<stage>/; this reads them without Ansible.

Only plain data is read (hosts, groups, addresses and the group_vars of `all` and of each group);
Jinja expressions are left as they are, which is all otap needs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from provisioning.stage.errors import OtapError, UsageError
from provisioning.stage.paths import INVENTORIES, stage_dir

GROUPS = ("bastion", "web", "db", "backup", "monitoring")
_HOSTNAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    groups: tuple[str, ...]
    vars: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Stage:
    name: str
    path: Path
    hosts: dict[str, Host]
    groups: dict[str, list[str]]
    vars: dict

    @property
    def lab(self) -> bool:
        return bool(self.vars.get("stage_lab"))

    @property
    def bastion(self) -> Host:
        names = self.groups.get("bastion") or []
        if not names:
            raise OtapError(
                f"stage {self.name} has no host in group bastion; add one to hosts.yml."
            )
        return self.hosts[names[0]]

    @property
    def state_dir(self) -> Path:
        return stage_dir(self.name)

    # --- the state folder (/var/lib/safecoach-lab/<stage>/, never in the repository) ---------

    @property
    def ssh_config(self) -> Path:
        """The stage's one OpenSSH config (provisioning/stage/sshconfig.py writes it)."""
        return self.state_dir / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        """The stage's pinned host keys."""
        return self.state_dir / "known_hosts"

    @property
    def control_dir(self) -> Path:
        """Sockets of SSH connection sharing; `otap lab down` ends their master processes."""
        return self.state_dir / "cp"

    @property
    def keys(self) -> Path:
        """The lab's keys: root_ed25519 (the "provider" root key) and admin_ed25519."""
        return self.state_dir / "keys"

    @property
    def host_keys(self) -> Path:
        """Host keys as the hosts report them during bootstrap, one file per host."""
        return self.state_dir / "hostkeys"

    @property
    def ca(self) -> Path:
        """The stage CA's folder (role stage_ca fills it)."""
        return self.state_dir / "ca"

    @property
    def ca_cert(self) -> Path:
        return self.ca / "ca.crt"

    @property
    def vault_password(self) -> Path:
        """The lab's own vault password (real stages take OTAP_VAULT_PASSWORD_FILE)."""
        return self.state_dir / "vault_password"

    def log(self, name: str) -> Path:
        """The log of one command run against the stage: converge, bootstrap-bastion, patch …"""
        return self.state_dir / f"{name}.log"

    @property
    def reports(self) -> Path:
        """Every run of `otap stage verify`: reports/<UTC time>/ (junit.xml, report.json,
        report.html) and reports/latest, a link to the newest (provisioning/report/runs.py)."""
        return self.state_dir / "reports"

    @property
    def verify_report(self) -> Path:
        """The junit report of the newest `otap stage verify`."""
        return self.reports / "latest" / "junit.xml"

    @property
    def lab_hosts(self) -> Path:
        """The lab's per-host folders (host.json, overlay, PID files, console.log)."""
        return self.state_dir / "hosts"

    @property
    def lab_network(self) -> ipaddress.IPv4Network:
        if not self.lab:
            raise UsageError(f"stage {self.name} is not a lab stage; only lab stages run here.")
        try:
            return ipaddress.IPv4Network(self.vars["lab_network"])
        except (KeyError, ValueError) as exc:
            raise OtapError(
                f"stage {self.name} needs lab_network (for example 10.213.10.0/24) "
                "in group_vars/all."
            ) from exc

    @property
    def lab_index(self) -> int:
        """The <n> of 10.213.<n>.0/24: names the bridge, links and namespaces of this stage."""
        return int(self.lab_network.network_address.packed[2])

    @property
    def controller_address(self) -> str:
        return str(self.lab_network.network_address + 1)

    def expand(self, text: str) -> str:
        """Fill in the two variables otap's inventories use in paths: stage and otap_state_dir."""
        text = re.sub(r"\{\{\s*otap_state_dir\s*\}\}", str(self.state_dir), text)
        return re.sub(r"\{\{\s*stage\s*\}\}", self.name, text)

    def admins(self) -> list[dict]:
        """Admins as {name, key}: a key is given inline (ssh_public_key) or as a file path."""
        out = []
        for entry in self.vars.get("admins") or []:
            key = entry.get("ssh_public_key")
            if not key and entry.get("ssh_public_key_file"):
                path = Path(self.expand(str(entry["ssh_public_key_file"])))
                key = path.read_text().strip() if path.exists() else None
            out.append({"name": entry["name"], "key": key})
        return out


def stage_names(root: Path = INVENTORIES) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "hosts.yml").is_file())


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise OtapError(f"{path} is not valid YAML: {exc.problem_mark}") from exc
    if not isinstance(data, dict):
        raise OtapError(f"{path} must hold a mapping at the top.")
    return data


def group_vars(stage_path: Path, group: str) -> dict:
    """Variables of one group: group_vars/<group>.yml or every *.yml in group_vars/<group>/."""
    merged: dict = {}
    single = stage_path / "group_vars" / f"{group}.yml"
    folder = stage_path / "group_vars" / group
    files = (
        [single] if single.is_file() else sorted(folder.glob("*.yml")) if folder.is_dir() else []
    )
    for path in files:
        if path.name == "vault.yml":  # the stage's secrets: Ansible's alone (ansible-vault)
            continue
        merged.update(_read_yaml(path))
    return merged


def _walk(name: str, node: dict, parents: tuple[str, ...], hosts: dict, groups: dict) -> None:
    node = node or {}
    chain = (*parents, name) if name != "all" else parents
    for host, hvars in (node.get("hosts") or {}).items():
        entry = hosts.setdefault(host, {"groups": [], "vars": {}})
        entry["vars"].update(hvars or {})
        for group in chain:
            if group not in entry["groups"]:
                entry["groups"].append(group)
            groups.setdefault(group, [])
            if host not in groups[group]:
                groups[group].append(host)
    for child, child_node in (node.get("children") or {}).items():
        groups.setdefault(child, [])
        _walk(child, child_node, chain, hosts, groups)


def load_stage(name: str, root: Path = INVENTORIES) -> Stage:
    path = root / name
    if not (path / "hosts.yml").is_file():
        known = ", ".join(stage_names(root)) or "none"
        raise UsageError(f"unknown stage {name!r}; known stages: {known}.")
    data = _read_yaml(path / "hosts.yml")
    if "all" not in data:
        raise OtapError(f"{path / 'hosts.yml'} must start with the group 'all'.")
    raw_hosts: dict = {}
    groups: dict[str, list[str]] = {}
    _walk("all", data["all"], (), raw_hosts, groups)
    all_vars = group_vars(path, "all")
    hosts: dict[str, Host] = {}
    seen: dict[str, str] = {}
    for host, entry in raw_hosts.items():
        if not _HOSTNAME.match(host):
            raise OtapError(
                f"host name {host!r} in stage {name} is not a valid short host name "
                "(lower-case letters, digits and '-', starting with a letter)."
            )
        hvars = dict(all_vars)
        for group in entry["groups"]:
            hvars.update(group_vars(path, group))
        hvars.update(entry["vars"])
        address = hvars.get("ansible_host")
        if not address:
            raise OtapError(f"host {host} in stage {name} has no ansible_host address.")
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise OtapError(
                f"host {host} in stage {name} has an invalid address {address!r}."
            ) from exc
        if address in seen:
            raise OtapError(
                f"hosts {seen[address]} and {host} in stage {name} clash: "
                f"both have address {address}."
            )
        seen[address] = host
        hosts[host] = Host(host, str(address), tuple(entry["groups"]), hvars)
    for group in GROUPS:
        if not groups.get(group):
            raise OtapError(f"stage {name} has no host in group {group}; every stage needs one.")
    stage = Stage(name, path, hosts, groups, all_vars)
    if stage.lab:
        network = stage.lab_network
        for host in hosts.values():
            ip = ipaddress.ip_address(host.address)
            if ip not in network or ip in (network.network_address, network.network_address + 1):
                raise OtapError(
                    f"host {host.name} has address {host.address}, which is not a host address "
                    f"of the lab network {network} (.1 is the controller's)."
                )
    return stage
