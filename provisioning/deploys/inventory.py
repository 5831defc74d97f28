"""pyinfra inventory of one stage, read from inventories/<stage> (run by `otap bootstrap`).

The environment chooses what: OTAP_STAGE names the stage, OTAP_BOOTSTRAP_PHASE is `bastion`
(the bastion, reached directly) or `inner` (every other host, reached through the bastion as an
admin, which is why the bastion goes first). Day 0 logs in as root with the initial key
(OTAP_ROOT_KEY: the provider's, or the lab's); every tool uses the stage's one ssh_config.
"""

import os

from provisioning import bootstrap

_stage, _hosts = bootstrap.pyinfra_hosts(
    os.environ["OTAP_STAGE"], os.environ.get("OTAP_BOOTSTRAP_PHASE", "bastion")
)
for _group in ("bastion", "web", "db", "backup", "monitoring"):
    globals()[_group] = [h for h in _hosts if _group in h[1]["groups"]]
