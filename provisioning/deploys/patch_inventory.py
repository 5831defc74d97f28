"""pyinfra inventory for `otap patch`: every host of the stage, as the admin of its ssh_config."""

import os

from provisioning import sshconfig
from provisioning.inventory import load_stage

_stage = load_stage(os.environ["OTAP_STAGE"])
# Through OpenSSH (provisioning/pyinfra_openssh.py): paramiko cannot reach hardened hosts.
hosts = [
    (f"@otapssh/{name}", {"ssh_config_file": str(sshconfig.config_path(_stage)), "_sudo": True})
    for name in sorted(_stage.hosts)
]
