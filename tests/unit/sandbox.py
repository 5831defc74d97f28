"""The sandbox a role's units get from role systemd_sandbox, rendered outside Ansible.

A role includes systemd_sandbox with its own vars (tasks/*.yml); this renders the shared template
with those vars the way Ansible would, for the unit tests that render the role's templates.
"""

import jinja2
import yaml

from provisioning.stage.paths import REPO
from tests.unit.shared_vars import resolve, shared_values

SANDBOX = REPO / "roles" / "systemd_sandbox"


def include_vars(role: str, fact: str) -> dict:
    """The vars a role passes to systemd_sandbox for `fact`."""
    for path in sorted((REPO / "roles" / role / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            include = task.get("ansible.builtin.include_role") or {}
            args = task.get("vars") or {}
            if (
                include.get("name") == "systemd_sandbox"
                and args.get("systemd_sandbox_fact") == fact
            ):
                return args
    raise LookupError(f"role {role} includes no systemd_sandbox for {fact}")


def render(role: str, fact: str, values: dict | None = None) -> str:
    """The directives `fact` holds on a host, with the role's defaults and `values` filled in."""
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    known = {**shared_values(), **defaults, **(values or {})}
    # defaults that name a shared value (backup_client_textfile_dir), filled in as Ansible would
    shared = shared_values()
    for name, value in defaults.items():
        if isinstance(value, str) and value.strip("{} ") in shared and name not in (values or {}):
            known[name] = resolve(value, known)
    own = yaml.safe_load((SANDBOX / "defaults" / "main.yml").read_text())
    params = {**own, **resolve(include_vars(role, fact), known)}
    env = jinja2.Environment(  # noqa: S701 - renders systemd units, not HTML
        loader=jinja2.FileSystemLoader(str(SANDBOX / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # as Ansible's template lookup
    )
    return env.get_template("sandbox.j2").render(params)


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]
