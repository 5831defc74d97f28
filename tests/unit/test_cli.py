"""otap's command line: --help everywhere, argument errors, one-sentence failures."""

import json
import subprocess
import sys

import pytest

from provisioning import cli

pytestmark = pytest.mark.unit

COMMANDS = [
    [],
    ["lab"],
    ["lab", "up"],
    ["lab", "down"],
    ["lab", "status"],
    ["lab", "console"],
    ["ssh-config"],
    ["ssh"],
    ["bootstrap"],
    ["converge"],
    ["verify"],
    ["up"],
    ["release"],
    ["release", "build"],
    ["release", "verify"],
    ["deploy"],
    ["rollback"],
    ["releases"],
    ["promote"],
]


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w) or "otap")
def test_every_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*words, "--help"])
    assert exit_info.value.code == 0
    assert "usage: otap" in capsys.readouterr().out


@pytest.mark.parametrize(
    "words",
    [
        ["frobnicate"],
        ["lab"],
        ["lab", "sideways"],
        ["ssh-config"],
        ["ssh", "development"],
        [],
        ["converge", "development", "--", "-v"],
        ["verify", "development", "--limit"],
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


def test_unknown_stage(capsys):
    assert cli.main(["ssh-config", "staging", "--print"]) == 1
    assert "unknown stage 'staging'" in one_sentence(capsys.readouterr().err)


def test_lab_refuses_a_real_stage(capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert cli.main(["lab", "status", "production"]) == 1
    assert "not a lab stage" in one_sentence(capsys.readouterr().err)


@pytest.mark.parametrize("words", [["lab", "up"], ["lab", "down"], ["lab", "console", "web1"]])
def test_lab_needs_root(words, capsys, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(words) == 1
    assert "needs root" in one_sentence(capsys.readouterr().err)


def test_unknown_host(capsys):
    assert cli.main(["ssh", "development", "web9"]) == 1
    assert "has no host web9" in one_sentence(capsys.readouterr().err)


def test_ssh_config_prints_the_config(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    assert cli.main(["ssh-config", "development", "--print"]) == 0
    assert "ProxyJump bastion1" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "lab" in out.stdout


def test_verify_takes_limit_and_pytest_arguments():
    args = cli.build_parser().parse_args(["verify", "development", "--limit", "web1"])
    assert args.limit == "web1"


def test_unknown_host_or_group_for_verify(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setattr("provisioning.lab.hosts.require_up", lambda stage: None)
    assert cli.main(["verify", "development", "--limit", "web9", "--", "-x"]) == 1
    assert "has no host or group web9" in one_sentence(capsys.readouterr().err)


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
