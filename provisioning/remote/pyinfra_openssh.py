"""A pyinfra connector that runs everything through OpenSSH and the stage's ssh_config.

pyinfra's own SSH connector is paramiko, which offers none of the post-quantum hybrid key
exchanges that role ssh allows (SSH-02), so it cannot reach a hardened host. This connector runs
`ssh -F <ssh_config> HOST COMMAND` and `scp -F <ssh_config>`: the same one SSH path as Ansible,
testinfra and a person (ProxyJump through the bastion, pinned host keys, connection sharing).

Inventory names: `@otapssh/web1` (the host is then called `web1`); host data `ssh_config_file`
names the stage's ssh_config.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from tempfile import mkstemp

from pyinfra.api.command import QuoteString, StringCommand
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.util import (
    CommandOutput,
    execute_command_with_sudo_retry,
    make_unix_command_for_host,
    run_local_process,
)

from provisioning.remote.ssh import ssh_command


class OpenSSHConnector(BaseConnector):
    handles_execution = True

    @staticmethod
    def make_names_data(name=None):
        if not name:
            raise ValueError("@otapssh needs a host name: @otapssh/web1")
        yield name, {"otapssh_host": name}, ["@otapssh"]

    def _ssh(self) -> list[str]:
        config = self.host.data.get("ssh_config_file")
        return ssh_command(config, "-o", "BatchMode=yes", self.host.data.otapssh_host)

    def run_shell_command(self, command, print_output=False, print_input=False, **arguments):
        arguments.pop("_get_pty", False)
        timeout = arguments.pop("_timeout", None)
        stdin = arguments.pop("_stdin", None)
        success = arguments.pop("_success_exit_codes", None)

        def execute() -> tuple[int, CommandOutput]:
            unix = make_unix_command_for_host(self.state, self.host, command, **arguments)
            remote = unix.get_raw_value()
            local = " ".join(shlex.quote(p) for p in self._ssh()) + " " + shlex.quote(remote)
            return run_local_process(
                local,
                stdin=stdin,
                timeout=timeout,
                print_output=print_output,
                print_prefix=self.host.print_prefix,
            )

        code, output = execute_command_with_sudo_retry(self.host, arguments, execute)
        return (code in success if success else code == 0), output

    def _scp(self, source: str, target: str) -> None:
        config = self.host.data.get("ssh_config_file")
        subprocess.run(
            ["scp", "-q", "-F", str(config), "-o", "BatchMode=yes", source, target],
            check=True,
            capture_output=True,
        )

    def put_file(
        self,
        filename_or_io,
        remote_filename,
        remote_temp_filename=None,
        print_output=False,
        print_input=False,
        **arguments,
    ):
        _, local = mkstemp()
        remote_tmp = f"/tmp/pyinfra-{os.path.basename(local)}"  # noqa: S108 (on the host)
        try:
            with get_file_io(filename_or_io) as file_io, open(local, "wb") as out:
                data = file_io.read()
                out.write(data.encode() if isinstance(data, str) else data)
            self._scp(local, f"{self.host.data.otapssh_host}:{remote_tmp}")
            status, output = self.run_shell_command(
                StringCommand("mv", remote_tmp, QuoteString(remote_filename)), **arguments
            )
            if not status:
                raise OSError(output.stderr)
        finally:
            os.remove(local)
        return True

    def get_file(
        self,
        remote_filename,
        filename_or_io,
        remote_temp_filename=None,
        print_output=False,
        print_input=False,
        **arguments,
    ):
        status, output = self.run_shell_command(
            StringCommand("cat", QuoteString(remote_filename)), **arguments
        )
        if not status:
            raise OSError(output.stderr)
        with get_file_io(filename_or_io, "wb") as file_io:
            file_io.write(output.stdout.encode())
        return True
