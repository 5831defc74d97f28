"""Roles backup_server and backup_client: rendered files, the htpasswd filter, shared passwords."""

import hashlib
import importlib.util
import json
import re
import shlex
import subprocess

import jinja2
import pytest
import yaml

from backup import config as backup_config
from provisioning.stage.paths import REPO
from tests.unit import sandbox
from tests.unit.shared_vars import shared_values

pytestmark = [pytest.mark.unit, pytest.mark.control("BK-07")]

SERVER = REPO / "roles" / "backup_server"
CLIENT = REPO / "roles" / "backup_client"


def _htpasswd():
    path = SERVER / "filter_plugins" / "safecoach_htpasswd.py"
    spec = importlib.util.spec_from_file_location("safecoach_htpasswd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(folder):
    env = jinja2.Environment(  # noqa: S701 - renders config files and scripts, not HTML
        loader=jinja2.FileSystemLoader(str(folder / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["to_json"] = json.dumps
    env.filters["quote"] = shlex.quote
    env.filters["hash"] = lambda text, kind: hashlib.new(kind, text.encode()).hexdigest()
    return env


def _defaults(folder) -> dict:
    return yaml.safe_load((folder / "defaults" / "main.yml").read_text())


def _port(name, value) -> bool:
    return name.endswith(("_port", "_textfile_dir")) and isinstance(value, str) and "{{" in value


def _render(folder, name: str, **extra) -> str:
    env = _env(folder)
    values = {**shared_values(), **_defaults(folder), "ansible_managed": "managed", **extra}
    # defaults that name another role's shared value (backup_client_server_port), as Ansible would
    values.update({k: env.from_string(v).render(values) for k, v in values.items() if _port(k, v)})
    # the directives role systemd_sandbox renders into the role's fact
    role = folder.name
    values.setdefault(f"{role}_sandbox", sandbox.render(role, f"{role}_sandbox", values))
    env.globals["lookup"] = lambda _kind, template: env.get_template(template).render(values)
    return env.get_template(name).render(values)


CLIENT_VARS = {
    "inventory_hostname": "db1",
    "backup_client_server_address": "10.213.10.13",
    "backup_client_database": "safecoach",
    "backup_client_files": [],
}
SERVER_VARS = {"backup_server_listen_address": "10.213.10.13", "backup_server_clients": ["db1"]}


def test_htpasswd_keeps_lines_that_verify_and_rehashes_the_rest():
    mod = _htpasswd()
    first = mod.render({"db1": "a" * 64, "app1": "b" * 64}, "", rounds=4)
    lines = first.splitlines()
    assert [line.split(":")[0] for line in lines] == ["app1", "db1"]
    wanted = re.compile(r"^[A-Za-z0-9@._-]+:[$]2[aby][$][0-9]{2}[$][./A-Za-z0-9]{53}$")
    assert all(wanted.match(line) for line in lines), "the role's validate pattern accepts it"
    again = mod.render({"db1": "a" * 64, "app1": "b" * 64}, first, rounds=4)
    assert again == first, "a second converge changes nothing"
    changed = mod.render({"db1": "c" * 64}, first, rounds=4)
    assert "app1" not in changed
    assert changed.split(":", 1)[1] != first.splitlines()[1].split(":", 1)[1]
    import bcrypt

    assert bcrypt.checkpw(b"c" * 64, changed.split(":", 1)[1].strip().encode())


def test_htpasswd_refuses_names_the_server_ignores_and_empty_passwords():
    mod = _htpasswd()
    with pytest.raises(mod.HtpasswdError, match="characters restic-rest-server refuses"):
        mod.render({"db 1": "x" * 64})
    with pytest.raises(mod.HtpasswdError, match="empty password"):
        mod.render({"db1": ""})


def test_client_and_server_derive_the_same_passwords():
    tasks = (SERVER / "tasks" / "main.yml").read_text()
    users_expr = re.search(r"backup_server_users: >-\n(.*?)\n  no_log", tasks, re.S).group(1)
    repo_expr = re.search(r"content: \"(\{\{ \('safecoach-backup repository '.*?\}\})", tasks)
    env = _env(SERVER)
    keys = {"backup_server_rest_key": "R" * 40, "backup_server_repository_key": "P" * 40}
    users = env.from_string(" ".join(users_expr.split())).render(
        backup_server_clients=["db1", "app1"], **keys
    )
    users = yaml.safe_load(users.replace("'", '"'))
    repo = env.from_string(repo_expr.group(1)).render(item="db1", **keys)
    client = _defaults(CLIENT)
    values = {
        "inventory_hostname": "db1",
        "backup_client_rest_key": "R" * 40,
        "backup_client_repository_key": "P" * 40,
    }
    cenv = _env(CLIENT)
    assert cenv.from_string(client["backup_client_rest_password"]).render(values) == users["db1"]
    assert cenv.from_string(client["backup_client_repository_password"]).render(values) == repo
    assert users["db1"] != users["app1"], "one password per client host"


def test_client_configuration_is_accepted_by_the_wrapper(tmp_path):
    for name in ("repository-password", "rest-password", "ca.crt"):
        (tmp_path / name).write_text("x\n")
        (tmp_path / name).chmod(0o600)
    text = _render(CLIENT, "config.toml.j2", **CLIENT_VARS, backup_client_config_dir=str(tmp_path))
    text = text.replace("/etc/ssl/safecoach-stage-ca.crt", str(tmp_path / "ca.crt"))
    path = tmp_path / "config.toml"
    path.write_text(text)
    import tomllib

    cfg = backup_config.validate(tomllib.loads(text), path)
    assert cfg.repository.url == "rest:https://10.213.10.13:8000/db1/"
    assert cfg.repository.rest_username == "db1"
    assert cfg.database.name == "safecoach" and cfg.database.user == "safecoach-backup"
    assert cfg.database.host is None, "the dump runs over the socket, by peer"
    assert str(cfg.metrics_dir) == "/var/lib/prometheus/node-exporter"


def test_rendered_scripts_pass_the_shell_syntax_check(tmp_path):
    for folder, name, shell, extra in [
        (SERVER, "safecoach-repo-maintain.j2", "bash", SERVER_VARS),
        (CLIENT, "safecoach-backup-job.j2", "sh", CLIENT_VARS),
    ]:
        script = tmp_path / name
        script.write_text(_render(folder, name, **extra))
        proc = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.control("BK-11")
def test_units_are_sandboxed_and_the_timers_persistent():
    service = _render(CLIENT, "safecoach-backup.service.j2", **CLIENT_VARS)
    for line in (
        "User=safecoach-backup",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ReadWritePaths=/var/lib/prometheus/node-exporter /var/cache/safecoach-backup",
        "ExecStart=/usr/local/bin/safecoach-backup run",
    ):
        assert line in service.splitlines(), line
    timer = _render(CLIENT, "safecoach-backup.timer.j2", **CLIENT_VARS)
    assert "Persistent=true" in timer and "RandomizedDelaySec=30min" in timer
    job = _render(CLIENT, "safecoach-backup-job.j2", **CLIENT_VARS)
    assert "-p ProtectSystem=strict" in job and "-p User=safecoach-backup" in job


@pytest.mark.control("BK-09")
def test_rest_server_is_append_only_and_retention_runs_on_the_server():
    unit = _render(SERVER, "restic-rest-server.service.j2", **SERVER_VARS)
    start = unit.split("ExecStart=", 1)[1].split("\nExecReload", 1)[0]
    for flag in ("--append-only", "--private-repos", "--tls", "--listen 10.213.10.13:8000"):
        assert flag in start, flag
    assert "ReadWritePaths=/srv/restic" in unit and "ProtectSystem=strict" in unit
    script = _render(SERVER, "safecoach-repo-maintain.j2", **SERVER_VARS)
    assert "--keep-daily 7" in script and "--keep-weekly 4" in script
    assert "--keep-monthly 12" in script and "--prune" in script
    forget = _render(SERVER, "safecoach-repo-forget@.service.j2", **SERVER_VARS)
    assert (
        "LoadCredential=repository-password:/etc/safecoach-backup-server/%i.repository-password"
        in forget
    )
    assert "PrivateNetwork=yes" in forget and "User=restic-rest-server" in forget


@pytest.mark.control("BK-10")
def test_the_wrapper_s_wheel_holds_the_package_and_installs_where_the_commands_look(tmp_path):
    # What role backup_client does: pip wheel on the controller, pip install --target on the host.
    import sys

    def build(folder):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
                "--wheel-dir",
                str(folder),
                str(REPO / "backup"),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (wheel,) = folder.glob("safecoach_backup-*.whl")
        return wheel

    first, second = build(tmp_path / "one"), build(tmp_path / "two")
    assert first.read_bytes() == second.read_bytes(), "the same code gives the same wheel"
    target = tmp_path / "lib"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--upgrade",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(first),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    modules = sorted(p.name for p in (REPO / "backup").glob("*.py"))
    assert sorted(p.name for p in (target / "backup").glob("*.py")) == modules
    assert not (target / "backup" / "tests").exists(), "the tests stay out"
    tasks = (CLIENT / "tasks" / "main.yml").read_text()
    assert "fileglob', role_path" not in tasks, "no copies of the checkout's files"
    assert "/usr/bin/python3\n          - -m\n          - pip\n          - install" in tasks
    script = _render(CLIENT, "safecoach-backup.j2", **CLIENT_VARS)
    assert 'sys.path.insert(0, "/usr/local/lib/safecoach-backup")' in script
