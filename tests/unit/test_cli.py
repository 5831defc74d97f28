"""otap's command line: one shape (NOUN VERB), the old spellings, --help, --version, exit codes."""

import json
import subprocess
import sys
import tomllib

import pytest

from provisioning import cli
from provisioning.stage.paths import REPO
from provisioning.steps.converge import Result

pytestmark = pytest.mark.unit

HELP = [
    [],
    ["up"],
    ["lab"],
    ["lab", "up"],
    ["lab", "down"],
    ["lab", "status"],
    ["lab", "console"],
    ["stage"],
    ["stage", "bootstrap"],
    ["stage", "converge"],
    ["stage", "verify"],
    ["stage", "patch"],
    ["stage", "ssh"],
    ["stage", "ssh-config"],
    ["release"],
    ["release", "list"],
    ["release", "build"],
    ["release", "verify"],
    ["release", "deploy"],
    ["release", "rollback"],
    ["release", "promote"],
    ["backup"],
    ["backup", "now"],
    ["backup", "status"],
    ["backup", "drill"],
    ["backup", "snapshots"],
    ["backup", "restore"],
    ["monitor"],
    ["monitor", "open"],
    ["monitor", "alerts"],
    ["alerts"],
    # the old spellings keep their help
    ["ssh-config"],
    ["ssh"],
    ["bootstrap"],
    ["converge"],
    ["verify"],
    ["patch"],
    ["deploy"],
    ["rollback"],
    ["releases"],
    ["promote"],
]


@pytest.mark.parametrize("words", HELP, ids=lambda w: " ".join(w) or "otap")
def test_every_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*words, "--help"])
    assert exit_info.value.code == 0
    assert "usage: otap" in capsys.readouterr().out


def test_the_help_names_the_exit_statuses_and_hides_the_old_spellings(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "exit status:\n  0    ok\n  1    the thing failed" in out
    assert "  2    bad usage" in out
    listed = out.split("options:")[0]
    for word in ("up", "lab", "stage", "release", "backup", "monitor"):
        assert f"\n    {word} " in listed
    for old in ("converge", "releases", "ssh-config", "promote", "alerts"):
        assert f"\n    {old} " not in listed


def test_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out == f"otap {version}\n"


# ---- the new spellings ---------------------------------------------------------------------

PARSED = [
    (["up"], "cmd_up", {"stage": "development"}),
    (["lab", "up", "development"], "cmd_lab_up", {"stage": "development"}),
    (["lab", "down"], "cmd_lab_down", {"stage": "development"}),
    (["lab", "status", "--json"], "cmd_lab_status", {"json": True}),
    (["lab", "console", "web1", "--stage", "development"], "cmd_lab_console", {"host": "web1"}),
    (
        ["stage", "bootstrap", "test", "--accept-new-host-keys"],
        "cmd_bootstrap",
        {"stage": "test", "accept_new_host_keys": True},
    ),
    (
        ["stage", "converge", "test", "--check", "--tags", "ssh", "--limit", "web1", "--json"],
        "cmd_converge",
        {"stage": "test", "check": True, "tags": "ssh", "limit": "web1", "json": True},
    ),
    (
        ["stage", "verify", "test", "--limit", "web1", "--json"],
        "cmd_verify",
        {"stage": "test", "limit": "web1", "json": True},
    ),
    (
        ["stage", "patch", "test", "--soak-days", "3", "--only-soaked", "--dry-run"],
        "cmd_patch",
        {"stage": "test", "soak_days": 3.0, "only_soaked": True, "dry_run": True},
    ),
    (["stage", "ssh", "test", "web1"], "cmd_ssh", {"stage": "test", "host": "web1"}),
    (["stage", "ssh-config", "test", "--print"], "cmd_ssh_config", {"print": True}),
    (["release", "list"], "cmd_release_list", {"stage": None, "json": False}),
    (["release", "list", "test", "--json"], "cmd_release_list", {"stage": "test", "json": True}),
    (["release", "build", "--allow-dirty"], "cmd_release_build", {"allow_dirty": True}),
    (["release", "verify", "0.1.0-abc"], "cmd_release_verify", {"release": "0.1.0-abc"}),
    (["release", "deploy", "test", "0.1.0-abc"], "cmd_deploy", {"release": "0.1.0-abc"}),
    (["release", "rollback", "test"], "cmd_rollback", {"stage": "test"}),
    (
        ["release", "promote", "test", "acceptance"],
        "cmd_promote",
        {"source": "test", "target": "acceptance", "release": None},
    ),
    (["backup", "now", "test"], "cmd_backup", {"verb": "now", "stage": "test", "host": None}),
    (["backup", "drill", "test", "--host", "db1"], "cmd_backup", {"verb": "drill", "host": "db1"}),
    (["backup", "status", "test", "--json"], "cmd_backup", {"verb": "status", "json": True}),
    (["backup", "snapshots", "test", "--json"], "cmd_backup", {"verb": "snapshots", "json": True}),
    (
        ["backup", "restore", "test", "--snapshot", "abcdef12", "--as", "sc_x", "--replace"],
        "cmd_backup",
        {"verb": "restore", "snapshot": "abcdef12", "name": "sc_x", "replace": True},
    ),
    (
        ["monitor", "open", "test"],
        "cmd_monitor_open",
        {"stage": "test", "prometheus_port": 0, "alertmanager_port": 0},
    ),
    (
        ["monitor", "open", "test", "--prometheus-port", "19090", "--alertmanager-port", "0"],
        "cmd_monitor_open",
        {"stage": "test", "prometheus_port": 19090, "alertmanager_port": 0},
    ),
    # `otap monitor STAGE` is `otap monitor open STAGE`
    (["monitor", "test"], "cmd_monitor_open", {"verb": "open", "stage": "test"}),
    (
        ["monitor", "--alertmanager-port", "19093", "test"],
        "cmd_monitor_open",
        {"stage": "test", "prometheus_port": 0, "alertmanager_port": 19093},
    ),
    (["monitor", "alerts", "test"], "cmd_monitor_alerts", {"stage": "test", "json": False}),
    # `otap alerts STAGE`, as issue 15 names it: the same command, no deprecation
    (["alerts", "test", "--json"], "cmd_monitor_alerts", {"stage": "test", "json": True}),
]


@pytest.mark.parametrize(("argv", "func", "expected"), PARSED, ids=lambda v: None)
def test_every_new_spelling_parses(argv, func, expected):
    args = cli.parse(cli.build_parser(), argv)
    assert args.func is getattr(cli, func)
    assert {key: getattr(args, key) for key in expected} == expected
    assert not hasattr(args, "deprecated")


# ---- the old spellings: the same command, and one line naming the new one --------------------

# old argv, new argv, the step it runs (mocked here) and what that step returns
OLD = [
    (
        ["bootstrap", "test"],
        ["stage", "bootstrap", "test"],
        "provisioning.steps.bootstrap.bootstrap",
        0,
    ),
    (
        ["converge", "test", "--check"],
        ["stage", "converge", "test", "--check"],
        "provisioning.ops.converge.converge",
        Result(0, 1.0),
    ),
    (
        ["verify", "test", "--limit", "web1"],
        ["stage", "verify", "test", "--limit", "web1"],
        "provisioning.steps.verify.verify",
        0,
    ),
    (
        ["patch", "test", "--dry-run"],
        ["stage", "patch", "test", "--dry-run"],
        "provisioning.steps.patch.patch",
        0,
    ),
    (["ssh", "test", "app1"], ["stage", "ssh", "test", "app1"], "os.execvp", 0),
    (["ssh-config", "test", "--print"], ["stage", "ssh-config", "test", "--print"], None, 0),
    (
        ["deploy", "test", "0.1.0-abc"],
        ["release", "deploy", "test", "0.1.0-abc"],
        "provisioning.releases.deploy.deploy",
        0,
    ),
    (
        ["rollback", "test"],
        ["release", "rollback", "test"],
        "provisioning.releases.rollback.rollback",
        0,
    ),
    (
        ["promote", "test", "acceptance"],
        ["release", "promote", "test", "acceptance"],
        "provisioning.releases.promote.promote",
        0,
    ),
    (
        ["releases", "test"],
        ["release", "list", "test"],
        "provisioning.releases.record.on_stage",
        {"stage": "test", "hosts": []},
    ),
    (["backup", "test", "now"], ["backup", "now", "test"], "provisioning.ops.backup.backup", 0),
    (
        ["backup", "test", "restore", "--as", "sc_x"],
        ["backup", "restore", "test", "--as", "sc_x"],
        "provisioning.ops.backup.backup",
        0,
    ),
    (
        ["backup", "--host", "db1", "test", "status"],
        ["backup", "status", "test", "--host", "db1"],
        "provisioning.ops.backup.backup",
        0,
    ),
]

IGNORED = {"command", "verb", "deprecated", "func"}


@pytest.mark.parametrize(("old", "new", "step", "returns"), OLD, ids=lambda v: None)
def test_an_old_spelling_is_the_new_command(old, new, step, returns):
    parser = cli.build_parser()
    was, now = cli.parse(parser, old), cli.parse(parser, new)
    assert was.func is now.func
    assert {k: v for k, v in vars(was).items() if k not in IGNORED} == {
        k: v for k, v in vars(now).items() if k not in IGNORED
    }


@pytest.mark.parametrize(("old", "new", "step", "returns"), OLD, ids=lambda v: None)
def test_an_old_spelling_says_the_new_one_once(
    old, new, step, returns, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    if step:
        monkeypatch.setattr(step, lambda *args, **kwargs: returns)
    assert cli.main(old) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    spelling = cli.OLD_SPELLINGS[cli.parse(cli.build_parser(), old).deprecated]
    assert err[0].startswith("otap: `otap ")
    assert f"is deprecated and goes in the next release; use `{spelling}`." in err[0]
    assert cli.main(new) == 0
    assert capsys.readouterr().err == ""


def test_old_spellings_name_their_new_ones():
    assert cli.OLD_SPELLINGS == {
        "bootstrap": "otap stage bootstrap",
        "converge": "otap stage converge",
        "verify": "otap stage verify",
        "patch": "otap stage patch",
        "ssh": "otap stage ssh",
        "ssh-config": "otap stage ssh-config",
        "deploy": "otap release deploy",
        "rollback": "otap release rollback",
        "promote": "otap release promote",
        "releases": "otap release list STAGE",
        "backup STAGE ACTION": "otap backup ACTION STAGE",
    }


# ---- exit statuses: 0 ok, 1 the thing failed, 2 bad usage ------------------------------------


@pytest.mark.parametrize(
    "words",
    [
        ["frobnicate"],
        ["lab"],
        ["lab", "sideways"],
        ["stage"],
        ["stage", "ssh-config"],
        ["stage", "ssh", "development"],
        ["ssh-config"],
        [],
        ["stage", "converge", "development", "--", "-v"],
        ["stage", "verify", "development", "--limit"],
        ["release", "list", "--frobnicate"],
        ["backup", "now"],
        ["backup", "forget", "test"],
        ["backup", "status", "test", "--replace"],
        ["monitor"],
        ["monitor", "alerts"],
        ["monitor", "alerts", "test", "--prometheus-port", "1"],
        ["monitor", "open", "test", "--prometheus-port", "70000"],
        ["monitor", "test", "--alertmanager-port", "http"],
        ["alerts"],
    ],
    ids=lambda w: " ".join(w) or "nothing",
)
def test_argument_errors_exit_2(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(words)
    assert exit_info.value.code == 2
    assert "usage: otap" in capsys.readouterr().err


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("otap: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["stage", "ssh-config", "staging", "--print"], "unknown stage 'staging'"),
        (["lab", "status", "staging"], "unknown stage 'staging'"),
        (["backup", "status", "staging"], "unknown stage 'staging'"),
        (["stage", "ssh", "development", "web9"], "has no host web9"),
        (["release", "promote", "test", "production"], "out of order"),
        (["release", "promote", "test", "staging"], "is not a step"),
        (["up", "test"], "builds lab stages only"),
        (["monitor", "staging"], "unknown stage 'staging'"),
        (["alerts", "staging"], "unknown stage 'staging'"),
    ],
    ids=lambda v: None,
)
def test_usage_errors_exit_2_in_one_sentence(argv, says, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    assert cli.main(argv) == 2
    assert says in one_sentence(capsys.readouterr().err)


def test_lab_refuses_a_real_stage(capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert cli.main(["lab", "status", "production"]) == 2
    assert "not a lab stage" in one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("words", [["lab", "up"], ["lab", "down"], ["lab", "console", "web1"]])
def test_lab_needs_root(words, capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(words) == 1
    assert "needs root" in one_sentence(capsys.readouterr().err)


def test_unknown_host_or_group_for_verify(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.lab.hosts.require_up", lambda stage: None)
    assert cli.main(["stage", "verify", "development", "--limit", "web9", "--", "-x"]) == 2
    assert "has no host or group web9" in one_sentence(capsys.readouterr().err)


def test_a_stage_that_is_not_up_fails_in_one_sentence(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    assert cli.main(["stage", "converge", "development"]) == 1
    assert "are not running; run `otap lab up development`" in one_sentence(capsys.readouterr().err)


def test_a_failed_converge_exits_1_in_one_sentence(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    failed = Result(2, 3.0, {"web1": {"ok": 3, "failed": 1}, "db1": {"unreachable": 1}})
    monkeypatch.setattr("provisioning.ops.converge.converge", lambda *a, **k: failed)
    assert cli.main(["stage", "converge", "test"]) == 1
    sentence = one_sentence(capsys.readouterr().err)
    assert "converge of stage test failed (failed=1, unreachable=1); see " in sentence


@pytest.mark.parametrize("returns", [1, 3, 7])
def test_a_failing_step_exits_1(returns, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.steps.bootstrap.bootstrap", lambda *a, **k: returns)
    assert cli.main(["stage", "bootstrap", "test"]) == 1


def test_a_failed_command_on_a_host_exits_1_in_one_sentence(capsys, monkeypatch, tmp_path):
    from types import SimpleNamespace

    from provisioning.remote.target import RemoteFailure

    def rollback(stage):
        raise RemoteFailure(SimpleNamespace(stdout="", stderr="ln: no such file\n", exited=1))

    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.releases.rollback.rollback", rollback)
    assert cli.main(["release", "rollback", "test"]) == 1
    assert one_sentence(capsys.readouterr().err) == (
        "otap: error: a command on a host of the stage failed (ln: no such file)."
    )


def test_an_unreachable_stage_exits_1_in_one_sentence(capsys, monkeypatch, tmp_path):
    from provisioning.remote import target

    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    stage_dir = tmp_path / "test"
    stage_dir.mkdir()
    (stage_dir / "known_hosts").write_text("")

    class Unreachable:
        def run(self, *args, **kwargs):
            raise OSError("ssh: connect to host 10.0.0.1 port 22: No route to host")

    monkeypatch.setattr(target, "connect", lambda stage, host: Unreachable())
    assert cli.main(["release", "list", "test"]) == 1
    sentence = one_sentence(capsys.readouterr().err)
    assert "stage test is unreachable: cannot reach app1 through bastion1" in sentence


def pytest_exits(code: int):
    """subprocess.run as verify meets it: pytest exits with CODE; git (the report's commit) runs."""
    real = subprocess.run

    def run(cmd, **kwargs):
        return real(cmd, **kwargs) if cmd[0] == "git" else subprocess.CompletedProcess(cmd, code)

    return run


@pytest.mark.parametrize("pytest_exit", [1, 2, 3, 4, 5])
def test_verify_turns_every_pytest_failure_into_1(pytest_exit, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.steps.verify.subprocess.run", pytest_exits(pytest_exit))
    assert cli.main(["stage", "verify", "test"]) == 1
    sentence = one_sentence(capsys.readouterr().err)
    assert sentence.startswith("otap: error: verify of stage test failed: ")


def test_verify_that_passes_exits_0(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.steps.verify.subprocess.run", pytest_exits(0))
    assert cli.main(["stage", "verify", "test"]) == 0
    assert capsys.readouterr().err == ""


# ---- what stays as it was --------------------------------------------------------------------


def test_ssh_config_prints_the_config(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    assert cli.main(["stage", "ssh-config", "development", "--print"]) == 0
    assert "ProxyJump bastion1" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "lab" in out.stdout


def test_status_of_a_stage_that_is_down(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    assert cli.main(["lab", "status", "development", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["state"] == "down"
    assert info["network"] == "10.213.10.0/24"
    assert {h["name"]: (h["state"], h["groups"]) for h in info["hosts"]} == {
        "backup1": ("absent", ["backup"]),
        "bastion1": ("absent", ["bastion"]),
        "db1": ("absent", ["db"]),
        "mon1": ("absent", ["monitoring"]),
        "web1": ("absent", ["web"]),
    }
    assert cli.main(["lab", "status"]) == 0
    table = capsys.readouterr().out
    assert "stage development: down" in table
    assert "web1       web          10.213.10.11    absent" in table
