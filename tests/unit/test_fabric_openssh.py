"""The Fabric connection carried by OpenSSH: Fabric's results and errors, ssh's own failures.

A stand-in `ssh` on PATH runs the remote command locally (this is a unit test of our wrapper;
the lab tests deploy through real OpenSSH and the bastion).
"""

import io
import os
import stat

import pytest
from invoke.exceptions import UnexpectedExit

from provisioning.remote.fabric_openssh import OpenSSHConnection

pytestmark = pytest.mark.unit

FAKE_SSH = """#!/bin/sh
# ssh -F CONFIG -o .. -o .. HOST -- COMMAND
echo "$@" >> "$FAKE_SSH_LOG"
[ "$FAKE_SSH_DOWN" = 1 ] && { echo "ssh: connect to host web1 port 22: Connection timed out" >&2; exit 255; }
while [ "$1" != "--" ]; do shift; done
shift
exec sh -c "$1"
"""


@pytest.fixture
def conn(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    fake.write_text(FAKE_SSH)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "log"))
    config = tmp_path / "ssh_config"
    config.write_text("")
    return OpenSSHConnection("web1", config)


def test_run_goes_through_ssh_with_the_stage_config(conn, tmp_path):
    result = conn.run("echo hello; echo oops >&2", hide=True)
    assert result.ok and result.stdout == "hello\n" and result.stderr == "oops\n"
    line = (tmp_path / "log").read_text()
    assert line.startswith(f"-F {tmp_path / 'ssh_config'} -o BatchMode=yes")
    assert " web1 -- " in line


def test_a_failing_command_raises_unexpected_exit_unless_warned(conn):
    with pytest.raises(UnexpectedExit) as exc:
        conn.run("exit 5", hide=True)
    assert exc.value.result.exited == 5
    assert conn.run("exit 5", hide=True, warn=True).exited == 5


def test_an_unreachable_host_is_an_os_error_with_ssh_s_reason(conn, monkeypatch):
    monkeypatch.setenv("FAKE_SSH_DOWN", "1")
    with pytest.raises(OSError, match="Connection timed out"):
        conn.run("true", hide=True, warn=True)


def test_put_of_a_stream_writes_the_remote_file(conn, tmp_path):
    target = tmp_path / "remote.txt"
    conn.put(io.StringIO("line one\n"), str(target))
    assert target.read_text() == "line one\n"


def test_stdin_reaches_the_remote_command(conn):
    result = conn.run("cat", hide=True, in_stream=io.StringIO("from stdin"))
    assert result.stdout == "from stdin"
