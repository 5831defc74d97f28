"""`--json`: the keys each command prints, JSON alone on stdout, the progress on stderr.

Our own code runs as it is; only the transport is replaced: the Fabric connection to a host
(remote/target.connect), and the ansible-playbook and pytest processes. The vault password of
a real stage is given as a file, as OTAP_VAULT_PASSWORD_FILE would be.
"""

import io
import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from provisioning import cli
from provisioning.ops import backup
from provisioning.remote import target

pytestmark = pytest.mark.unit

A, B = "0.1.0-aaaaaaaaaaaa", "0.1.0-bbbbbbbbbbbb"
REAL_RUN = subprocess.run


@pytest.fixture
def state(tmp_path, monkeypatch):
    """Stage test's state folder, with the pinned host keys a bootstrapped stage has."""
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "known_hosts").write_text("")
    return tmp_path


def hosts_answer(monkeypatch, answers: dict[str, tuple[int, str, str]]) -> list[str]:
    """Every host answers a command that ends with a key of ANSWERS (exit, stdout, stderr)."""
    seen: list[str] = []

    class Connection:
        def __init__(self, host):
            self.host = host

        def run(self, command, hide=True, warn=False, in_stream=None):
            seen.append(f"{self.host}: {command}")
            for end, (code, out, err) in answers.items():
                if command.endswith(end):
                    return SimpleNamespace(exited=code, stdout=out, stderr=err)
            return SimpleNamespace(exited=0, stdout="", stderr="")

    monkeypatch.setattr(target, "connect", lambda stage, host: Connection(host))
    return seen


def run_json(capsys, argv) -> tuple[int, dict, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def ok_json(capsys, *argv) -> dict:
    """The JSON of a command that succeeds, and nothing on stderr."""
    code, info, err = run_json(capsys, [*argv, "--json"])
    assert (code, err) == (0, "")
    return info


# ---- release list -----------------------------------------------------------------------------


def test_release_list_here(capsys, tmp_path, monkeypatch):
    from tests.unit.test_release import RID, make_release

    monkeypatch.setenv("OTAP_RELEASES", str(tmp_path))
    make_release(tmp_path)
    info = ok_json(capsys, "release", "list")
    assert info["root"] == str(tmp_path)
    assert [set(r) for r in info["releases"]] == [set(cli.BUILT_KEYS)]
    assert info["releases"][0]["release"] == RID
    assert cli.main(["release", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"{RID} ")


def test_release_list_of_a_stage(capsys, state, monkeypatch):
    record = {
        "stage": "test",
        "current": B,
        "previous": A,
        "history": [
            {"release": A, "event": "verified", "at": "2026-12-01T10:00:00Z", "by": "ops"},
            {"release": B, "event": "verified", "at": "2026-12-02T10:00:00Z", "by": "ops"},
        ],
    }
    hosts_answer(
        monkeypatch,
        {
            "cat /var/lib/safecoach-deploy/record.json": (0, json.dumps(record), ""),
            "ls -1 /opt/safecoach/releases": (0, f"{B}\n{A}\n", ""),
        },
    )
    assert ok_json(capsys, "release", "list", "test") == {
        "stage": "test",
        "hosts": [
            {
                "host": "app1",
                "current": B,
                "previous": A,
                "installed": [A, B],
                "verified": [A, B],
                "history": record["history"],
            }
        ],
    }
    assert cli.main(["release", "list", "test"]) == 0
    text = capsys.readouterr().out
    assert f"  {A:<28} previous, verified\n" in text
    assert f"  {B:<28} current, verified\n" in text


# ---- stage converge ---------------------------------------------------------------------------

RECAP = """\
PLAY [all] *********************************************************************
TASK [base : packages] *********************************************************
ok: [app1]

PLAY RECAP *********************************************************************
app1                       : ok=40   changed=2    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
bastion1                   : ok=30   changed=0    unreachable=0    failed=1    skipped=1    rescued=0    ignored=1
"""


class Playbook:
    """ansible-playbook: its output on the pipe, then its exit status."""

    def __init__(self, output: str, returncode: int):
        self.output, self.code = output, returncode

    def __call__(self, cmd, **kwargs):
        self.cmd = cmd
        self.stdout = io.StringIO(self.output)
        self.returncode = self.code
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def vault_password(tmp_path, monkeypatch):
    password = tmp_path / "vault-password"
    password.write_text("x\n")
    monkeypatch.setattr(
        "provisioning.steps.converge.vault.vault_password_file", lambda stage: password
    )


def test_stage_converge_json(capsys, state, monkeypatch, vault_password):
    monkeypatch.setattr("provisioning.steps.converge.subprocess.Popen", Playbook(RECAP, 2))
    code, info, err = run_json(capsys, ["stage", "converge", "test", "--json"])
    assert code == 1
    assert set(info) == {"stage", "check", "log", "ok", "returncode", "seconds", "hosts", "totals"}
    assert (info["stage"], info["check"], info["ok"], info["returncode"]) == (
        "test",
        False,
        False,
        2,
    )
    assert info["log"] == str(state / "test" / "converge.log")
    assert info["hosts"]["app1"] == {
        "ok": 40,
        "changed": 2,
        "unreachable": 0,
        "failed": 0,
        "skipped": 3,
        "rescued": 0,
        "ignored": 0,
    }
    assert info["totals"]["ok"] == 70 and info["totals"]["failed"] == 1
    # the playbook's output and the summary go to stderr, then the one sentence
    assert "TASK [base : packages]" in err and "==> converge of stage test: 2 hosts" in err
    assert err.splitlines()[-1].startswith("otap: error: converge of stage test failed (failed=1")


def test_stage_converge_without_json_streams_to_stdout(capsys, state, monkeypatch, vault_password):
    monkeypatch.setattr(
        "provisioning.steps.converge.subprocess.Popen",
        Playbook(RECAP.replace("failed=1", "failed=0"), 0),
    )
    assert cli.main(["stage", "converge", "test"]) == 0
    out, err = capsys.readouterr()
    assert "PLAY RECAP" in out and err == ""


# ---- stage verify ----------------------------------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="12.34">
<testcase classname="tests.infra.test_ssh" name="test_sshd[ssh://app1]" time="1"/>
<testcase classname="tests.infra.test_ssh" name="test_sshd[ssh://bastion1]" time="1">
  <failure message="AssertionError: PermitRootLogin yes&#10;more">details</failure></testcase>
<testcase classname="tests.infra.test_base" name="test_journal[ssh://mon1]" time="1">
  <error message="failed on setup">details</error></testcase>
<testcase classname="tests.infra.test_base" name="test_skipped[ssh://mon1]" time="1">
  <skipped message="not here"/></testcase>
<testcase classname="tests.infra.test_base" name="test_ok" time="1"/>
</testsuite></testsuites>
"""


def test_stage_verify_json(capsys, state, monkeypatch):
    calls = []

    def pytest_run(cmd, **kwargs):
        if cmd[0] == "git":  # the report names the commit: git itself
            return REAL_RUN(cmd, **kwargs)
        calls.append(kwargs)
        report = next(a for a in cmd if a.startswith("--junitxml=")).split("=", 1)[1]
        with open(report, "w") as handle:
            handle.write(JUNIT)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr("provisioning.steps.verify.subprocess.run", pytest_run)
    record = json.dumps({"current": A, "previous": None, "history": []})
    hosts_answer(monkeypatch, {"cat /var/lib/safecoach-deploy/record.json": (0, record, "")})
    code, info, err = run_json(capsys, ["stage", "verify", "test", "--json"])
    assert code == 1
    assert calls[0]["stdout"] is not None  # pytest's own output goes to stderr, not stdout
    [run] = [p for p in (state / "test" / "reports").iterdir() if p.name != "latest"]
    assert info == {
        "stage": "test",
        "ok": False,
        "pytest_exit": 1,
        "report": str(state / "test" / "reports" / "latest" / "junit.xml"),
        "html": str(run / "report.html"),
        "seconds": 12.3,
        "tests": 5,
        "passed": 2,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "failures": [
            {
                "test": "tests.infra.test_ssh::test_sshd[ssh://bastion1]",
                "host": "bastion1",
                "message": "AssertionError: PermitRootLogin yes",
            },
            {
                "test": "tests.infra.test_base::test_journal[ssh://mon1]",
                "host": "mon1",
                "message": "failed on setup",
            },
        ],
    }
    assert err.splitlines()[-1] == (
        f"otap: error: verify of stage test failed: some controls do not hold; report "
        f"{run / 'report.html'}."
    )
    # the run is kept with its report, which names the release the web host had
    assert sorted(p.name for p in run.iterdir()) == ["junit.xml", "report.html", "report.json"]
    assert json.loads((run / "report.json").read_text())["releases"] == {"app1": A}


def test_stage_verify_json_without_a_report(capsys, state, monkeypatch):
    monkeypatch.setattr(
        "provisioning.steps.verify.subprocess.run",
        lambda cmd, **kwargs: (
            REAL_RUN(cmd, **kwargs) if cmd[0] == "git" else subprocess.CompletedProcess(cmd, 4)
        ),
    )
    hosts_answer(monkeypatch, {})
    code, info, err = run_json(capsys, ["stage", "verify", "test", "--json"])
    assert code == 1
    assert (info["ok"], info["pytest_exit"], info["tests"], info["failures"]) == (False, 4, 0, [])
    assert "pytest was called wrongly" in err.splitlines()[-1]


# ---- backup status and snapshots ---------------------------------------------------------------

STATUS_OK = """\
Repository: rest:https://10.213.20.13:8000/test/ (4 snapshot(s))
  database safecoach: newest 1a2b3c4d, 2.5 h old, 3 in all
  files: no snapshot yet
  last run: ok at 2026-12-05 02:00
  last check: FAILED (exit 1) at 2026-12-04 03:00
Backups are current.
"""


def test_parse_status():
    assert backup.parse_status(STATUS_OK) == {
        "repository": "rest:https://10.213.20.13:8000/test/",
        "snapshots": 4,
        "newest": [
            {"what": "database safecoach", "id": "1a2b3c4d", "age_hours": 2.5, "count": 3},
            {"what": "files", "id": None, "age_hours": None, "count": 0},
        ],
        "last_runs": [
            {"command": "run", "ok": True, "exit_status": 0, "at": "2026-12-05 02:00"},
            {"command": "check", "ok": False, "exit_status": 1, "at": "2026-12-04 03:00"},
        ],
    }


def test_backup_status_json(capsys, state, monkeypatch):
    seen = hosts_answer(monkeypatch, {"safecoach-backup-job status": (0, STATUS_OK, "")})
    info = ok_json(capsys, "backup", "status", "test")
    assert info["stage"] == "test"
    [client] = info["clients"]
    assert set(client) == {
        "host",
        "current",
        "repository",
        "snapshots",
        "newest",
        "last_runs",
        "problem",
    }
    assert (client["host"], client["current"], client["problem"]) == ("app1", True, None)
    assert "app1: sudo -n /usr/local/sbin/safecoach-backup-job status" in seen


def test_backup_status_json_when_backups_are_old(capsys, state, monkeypatch):
    stale = (
        "safecoach-backup: error: Backups are not current: the newest files snapshot is 50 h old.\n"
    )
    hosts_answer(
        monkeypatch,
        {
            "safecoach-backup-job status": (
                1,
                STATUS_OK.replace("Backups are current.\n", ""),
                stale,
            )
        },
    )
    code, info, err = run_json(capsys, ["backup", "status", "test", "--json"])
    assert code == 1
    client = info["clients"][0]
    assert client["current"] is False
    assert client["problem"] == "Backups are not current: the newest files snapshot is 50 h old"
    assert err.strip() == (
        "otap: error: the backups of stage test are not current on app1; see `problem` in the JSON."
    )


def test_backup_snapshots_json(capsys, state, monkeypatch):
    kept = {
        "id": "1a2b" * 16,
        "short_id": "1a2b1a2b",
        "time": "2026-12-05T02:00:01.5Z",
        "hostname": "db1",
        "tags": ["database"],
        "paths": ["/safecoach.dump"],
    }
    restic = {**kept, "summary": {"total_bytes_processed": 12345}, "program_version": "0.17.3"}
    hosts_answer(
        monkeypatch, {"safecoach-backup-job snapshots --json": (0, json.dumps([restic]), "")}
    )
    assert ok_json(capsys, "backup", "snapshots", "test") == {
        "stage": "test",
        "clients": [{"host": "app1", "snapshots": [{**kept, "bytes": 12345}]}],
    }


def test_backup_snapshots_json_when_the_wrapper_fails(capsys, state, monkeypatch):
    hosts_answer(
        monkeypatch,
        {
            "safecoach-backup-job snapshots --json": (
                3,
                "",
                "safecoach-backup: error: the backup server cannot be reached.\n",
            )
        },
    )
    code = cli.main(["backup", "snapshots", "test", "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.strip() == (
        "otap: error: safecoach-backup snapshots failed on app1 (the backup server cannot be "
        "reached)."
    )


def test_parse_status_reads_what_the_wrapper_prints(tmp_path):
    """The lines parse_status reads are the ones backup/commands.py cmd_status writes."""
    from datetime import UTC, datetime, timedelta

    from backup import commands
    from backup.config import load
    from backup.restic import Restic, Result

    password = tmp_path / "pw"
    password.write_text("x")
    password.chmod(0o600)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[repository]\nurl = "{tmp_path}/r"\npassword_file = "{password}"\n'
        '[files]\npaths = ["/etc/hostname"]\n'
    )
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    snap = {"short_id": "0a1b2c3d", "time": two_hours_ago, "tags": ["safecoach", "files"]}

    def restic(argv, env, **kwargs):
        return Result(argv, 0, [{"message_type": "list", "items": [snap]}])

    cfg = load(config)
    out = io.StringIO()
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=restic, check_reachable=False),
        out=out,
        err=io.StringIO(),
    )
    assert commands.cmd_status(ctx) == 0
    info = backup.parse_status(out.getvalue())
    assert (info["repository"], info["snapshots"]) == (f"{tmp_path}/r", 1)
    assert [(n["what"], n["id"], n["count"]) for n in info["newest"]] == [("files", "0a1b2c3d", 1)]
    assert 1.9 <= info["newest"][0]["age_hours"] <= 2.1


# ---- monitor alerts ---------------------------------------------------------------------------


@pytest.fixture
def alertmanager(state, tmp_path, monkeypatch):
    """A fake `ssh` on PATH that answers as the monitoring host does: the JSON in `answer`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    answer = tmp_path / "answer.json"
    (folder / "ssh").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/ssh.args\n'
        f'[ -s {answer} ] || {{ echo "Alertmanager at http://127.0.0.1:9093 does not answer" >&2; '
        f"exit 1; }}\ncat {answer}\n"
    )
    (folder / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return answer


def test_monitor_alerts_json(capsys, alertmanager, tmp_path):
    from tests.unit.test_monitor import FIRING

    alertmanager.write_text(json.dumps(FIRING))
    code, info, err = run_json(capsys, ["monitor", "alerts", "test", "--json"])
    assert code == 1
    assert set(info) == {"stage", "host", "alerts", "watchdog"}
    assert (info["stage"], info["host"], info["watchdog"]) == ("test", "mon1", True)
    assert [a["alertname"] for a in info["alerts"]][:2] == ["HostDown", "SiteDown"]
    assert set(info["alerts"][0]) == {
        "alertname",
        "severity",
        "host",
        "summary",
        "runbook_url",
        "starts_at",
        "state",
        "labels",
    }
    assert err == (
        "otap: error: 4 alerts firing on stage test; the Watchdog fires, so Alertmanager is "
        "alive.\n"
    )
    args = (tmp_path / "ssh.args").read_text().splitlines()
    assert args[:3] == ["-F", str(tmp_path / "test" / "ssh_config"), "mon1"]
    assert "/api/v2/alerts?active=true&silenced=false&inhibited=false" in args[-1]


def test_alerts_with_only_the_watchdog_exits_0(capsys, alertmanager):
    from tests.unit.test_monitor import WATCHDOG

    alertmanager.write_text(json.dumps([WATCHDOG]))
    info = ok_json(capsys, "alerts", "test")
    assert (info["watchdog"], len(info["alerts"])) == (True, 1)
    assert cli.main(["alerts", "test"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == (
        "no alerts firing on stage test; the Watchdog fires, so Alertmanager is alive."
    )
    assert err == ""


def test_alerts_without_the_watchdog_exits_1(capsys, alertmanager):
    alertmanager.write_text("[]")
    assert cli.main(["monitor", "alerts", "test"]) == 1
    out, err = capsys.readouterr()
    assert "the Watchdog is NOT firing: the alert pipeline is broken" in out
    assert err == ""


def test_alerts_when_alertmanager_does_not_answer(capsys, alertmanager):
    assert cli.main(["monitor", "alerts", "test", "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "otap: error: cannot read mon1 of stage test: Alertmanager at http://127.0.0.1:9093 "
        "does not answer\n"
    )
