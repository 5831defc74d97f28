"""pyinfra inventory of the hosts otap hands over (provisioning/remote/pyinfra.py).

OTAP_PYINFRA_HOSTS holds [[name, data], …]; a host whose data lists `groups` is put in those
groups, so deploy files can ask for them.
"""

import json
import os

_hosts = [tuple(entry) for entry in json.loads(os.environ["OTAP_PYINFRA_HOSTS"])]
hosts = _hosts
for _group in ("bastion", "web", "db", "backup", "monitoring"):
    globals()[_group] = [h for h in _hosts if _group in h[1].get("groups", ())]
