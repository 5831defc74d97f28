"""Role monitoring's templates rendered outside Ansible, and the promtool and amtool to check them.

The role's defaults (with the playbook-level shared values) and a stage's inventory (groups and
addresses) are filled in the way Ansible would; the alert rules are written with [[ ]] for the
role's values (PromQL and Go templates keep {{ }}), as the role's template task says.

promtool and amtool are Debian 13's (scripts/lib.sh ensure_promtool fetches them from the trixie
archive into a cache folder and exports PROMTOOL and AMTOOL). Where they are missing the tests
skip, unless OTAP_REQUIRE_PROMTOOL=1 (scripts/test sets it): then they fail.
"""

import json
import os
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml

from provisioning.stage import load_stage
from provisioning.stage.paths import REPO
from tests.unit.shared_vars import resolve, shared_values

ROLE = REPO / "roles" / "monitoring"
RULE_FILES = ["host", "site", "postgresql", "backup", "security"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "safecoach"


def tool(name: str) -> str:
    """Path of promtool or amtool (env PROMTOOL/AMTOOL, the cache of ensure_promtool, PATH)."""
    candidates = [
        os.environ.get(name.upper(), ""),
        str(CACHE / "promtool-2.53" / "usr" / "bin" / name),
        shutil.which(name) or "",
    ]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    message = (
        f"{name} is missing: run `bash -c 'source scripts/lib.sh; ensure_promtool'` "
        "(Debian 13's package from the trixie archive)."
    )
    if os.environ.get("OTAP_REQUIRE_PROMTOOL") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _combine(base, *others):
    out = dict(base)
    for other in others:
        out.update(other or {})
    return out


def _env(**delimiters) -> jinja2.Environment:
    env = jinja2.Environment(  # noqa: S701 - renders YAML configs, not HTML
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # as Ansible's template module
        keep_trailing_newline=True,
        **delimiters,
    )
    env.filters["to_json"] = json.dumps
    env.filters["combine"] = _combine
    env.filters["bool"] = lambda v: (
        v if isinstance(v, bool) else str(v).lower() in ("1", "yes", "true", "on")
    )
    return env


def values(stage: str = "development", host: str | None = None, **extra) -> dict:
    """What the role's templates see on the stage's (first) monitoring host."""
    data = load_stage(stage)
    groups = {g: sorted(h) for g, h in data.groups.items()}
    groups["all"] = sorted(data.hosts)
    host = host or groups["monitoring"][0]
    hostvars = {h.name: {"ansible_host": h.address} for h in data.hosts.values()}
    known = {
        **shared_values(),
        **{k: v for k, v in data.vars.items() if isinstance(k, str)},
        "groups": groups,
        "hostvars": hostvars,
        "inventory_hostname": host,
        "ansible_host": hostvars[host]["ansible_host"],
        "ansible_managed": "Managed by Ansible",
    }
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    known.update(defaults)
    known.update(extra)
    # only the role's own values are rendered (the shared connection values need Ansible's lookup)
    for name in [*defaults, *extra]:
        known[name] = _resolve(known[name], known)
    return known


def _resolve(value, known):
    # Jinja in values may refer to other values (public_name, groups …): render until stable.
    for _ in range(3):
        value = resolve(value, known)
    return value


def render_rules(directory: Path, stage: str = "production", **extra) -> list[Path]:
    """The alert rules files, as the role installs them on STAGE, written into directory.

    A real stage by default: the promtool tests (tests/unit/promtool/) expect the documented
    `for:` durations, which the lab shortens.
    """
    env = _env(variable_start_string="[[", variable_end_string="]]")
    vals = values(stage=stage, **extra)
    out = []
    for name in RULE_FILES:
        path = directory / f"{name}.yml"
        path.write_text(env.get_template(f"rules/{name}.yml.j2").render(vals))
        out.append(path)
    return out


def render(template: str, **extra) -> str:
    """One of the role's other templates (prometheus.yml, alertmanager.yml, blackbox.yml)."""
    return _env().get_template(template).render(values(**extra))
