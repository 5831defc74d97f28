"""Day 0 with pyinfra: from the initial root key to a host that Ansible can manage.

Task names carry control ids (hardening/controls.yml). Every operation is declarative, so a second
run changes nothing.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server

ADMIN_GROUP = host.data.admin_group
NEEDED_PACKAGES = ["sudo", "python3", "python3-apt"]

files.put(
    name="BOOT-05 | apt proxy (lab only)",
    src=StringIO(f'Acquire::http::Proxy "{host.data.apt_proxy}";\n'),
    dest="/etc/apt/apt.conf.d/01safecoach-proxy",
    user="root",
    group="root",
    mode="644",
) if host.data.apt_proxy else files.file(
    name="BOOT-05 | no apt proxy on a real stage",
    path="/etc/apt/apt.conf.d/01safecoach-proxy",
    present=False,
)

_installed = host.get_fact(DebPackages) or {}
apt.packages(
    name="BOOT-04 | sudo and Python for the tools that follow",
    packages=NEEDED_PACKAGES,
    update=any(p not in _installed for p in NEEDED_PACKAGES),
    no_recommends=True,
)

server.group(name=f"BOOT-02 | admin group {ADMIN_GROUP}", group=ADMIN_GROUP)

for admin in host.data.admins:
    server.user(  # noqa: S604 (a login shell, not a subprocess shell)
        name=f"BOOT-01 | admin {admin['name']}: key only, no password",
        user=admin["name"],
        shell="/bin/bash",
        groups=[ADMIN_GROUP],
        append=True,
        create_home=True,
        public_keys=[admin["key"]],
        delete_keys=True,
    )

files.put(
    name=f"BOOT-02 | sudo for group {ADMIN_GROUP}",
    src=StringIO(
        "# Managed by otap bootstrap. Admins log in with keys only and have no password, so\n"
        "# sudo cannot ask for one: membership of this group is the authorisation.\n"
        f"%{ADMIN_GROUP} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    ),
    dest=f"/etc/sudoers.d/{ADMIN_GROUP}",
    user="root",
    group="root",
    mode="440",
)

server.hostname(name=f"BOOT-03 | host name {host.name}", hostname=host.name)

files.put(
    name="BOOT-03 | /etc/hostname",
    src=StringIO(f"{host.name}\n"),
    dest="/etc/hostname",
    user="root",
    group="root",
    mode="644",
)

files.put(
    name="BOOT-03 | /etc/hosts lists the stage",
    src=StringIO(host.data.etc_hosts),
    dest="/etc/hosts",
    user="root",
    group="root",
    mode="644",
)

# BOOT-06 | host keys into the stage's known_hosts: read here, merged by `otap stage bootstrap`.
_keys = host.get_fact(Command, "cat /etc/ssh/ssh_host_*_key.pub") or ""
_out = Path(host.data.host_keys_dir)
_out.mkdir(parents=True, exist_ok=True)
(_out / host.name).write_text(_keys.strip() + "\n")
