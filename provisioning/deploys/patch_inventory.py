"""pyinfra inventory for `otap patch`: every host of the stage as the admin, through the bastion."""

import os

from provisioning import sshconfig
from provisioning.inventory import load_stage

_stage = load_stage(os.environ["OTAP_STAGE"])
hosts = [
    (
        name,
        {
            "ssh_hostname": name,
            "ssh_user": sshconfig.admin_user(_stage),
            "ssh_config_file": str(sshconfig.config_path(_stage)),
            "ssh_known_hosts_file": str(sshconfig.known_hosts_path(_stage)),
            "ssh_strict_host_key_checking": "yes",
            "_sudo": True,
        },
    )
    for name in sorted(_stage.hosts)
]
