"""The playbook-level group_vars/all (beside site.yml): values every stage and role sees.

Unit tests that render a role's defaults outside Ansible fill in these values the way Ansible
does (native types: "{{ postgresql_port }}" becomes the number 5432).
"""

from pathlib import Path

import yaml
from jinja2.nativetypes import NativeEnvironment

from provisioning.stage.paths import REPO

SHARED = REPO / "group_vars" / "all"


def shared_values(folder: Path = SHARED) -> dict:
    out: dict = {}
    for path in sorted(folder.glob("*.yml")):
        out.update(yaml.safe_load(path.read_text()) or {})
    return out


def resolve(value, values: dict):
    """`value` with every "{{ … }}" string rendered from `values` (lists and dicts too)."""
    if isinstance(value, str) and "{{" in value:
        return NativeEnvironment().from_string(value).render(values)
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, values) for k, v in value.items()}
    return value
