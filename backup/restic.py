"""Run restic through subprocess with argument lists, classify its exit codes, retry on locks.

Secrets never reach a command line: the repository password travels as RESTIC_PASSWORD_FILE
(a path to a 0600 file) and the REST server credentials as RESTIC_REST_USERNAME and
RESTIC_REST_PASSWORD in the child's environment, which only the same user can read.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .config import Repository


class Outcome(enum.Enum):
    OK = "ok"
    INCOMPLETE = "incomplete snapshot"
    NO_REPOSITORY = "no repository"
    LOCKED = "repository locked"
    WRONG_PASSWORD = "wrong password"  # noqa: S105 (a name, not a secret)
    UNREACHABLE = "server unreachable"
    FAILURE = "failure"


# Exit codes of restic (>= 0.17) and of this tool; see docs/backup.md.
EXIT_CODES = {
    Outcome.OK: 0,
    Outcome.FAILURE: 1,
    Outcome.INCOMPLETE: 3,
    Outcome.NO_REPOSITORY: 10,
    Outcome.LOCKED: 11,
    Outcome.WRONG_PASSWORD: 12,
    Outcome.UNREACHABLE: 13,
}


FORBIDDEN = "unexpected HTTP response (403)"


def classify(returncode: int) -> Outcome:
    """Map a restic exit code to an Outcome; anything unknown is a failure."""
    return {
        0: Outcome.OK,
        3: Outcome.INCOMPLETE,
        10: Outcome.NO_REPOSITORY,
        11: Outcome.LOCKED,
        12: Outcome.WRONG_PASSWORD,
    }.get(returncode, Outcome.FAILURE)


class ResticError(Exception):
    """restic did not succeed; str() is one sentence for a person, outcome says which class."""

    def __init__(
        self,
        outcome: Outcome,
        message: str,
        returncode: int | None = None,
        result: Result | None = None,
    ):
        self.outcome = outcome
        self.returncode = returncode
        self.result = result
        self.generic = False  # True when no known cause was recognised
        super().__init__(message)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


@dataclass
class Result:
    argv: list[str]
    returncode: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    @property
    def outcome(self) -> Outcome:
        return classify(self.returncode)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("message_type") == message_type]

    def error_text(self) -> str:
        """The most useful error line restic gave: its JSON exit_error, else stderr's last line."""
        for m in reversed(self.messages):
            if m.get("message_type") == "exit_error" and m.get("message"):
                return str(m["message"]).strip().splitlines()[0]
        for m in reversed(self.messages):
            if m.get("message_type") == "error":
                err = m.get("error") or {}
                if err.get("message"):
                    return str(err["message"]).strip()
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.returncode}"


# Environment variables restic reads that must not leak in from the caller.
_RESTIC_ENV_PREFIXES = ("RESTIC_",)
_SCRUB = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "B2_ACCOUNT_KEY", "AZURE_ACCOUNT_KEY"}


def build_env(
    repo: Repository, base: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment for restic: the caller's minus any RESTIC_* or cloud secret, plus ours."""
    src = os.environ if base is None else base
    env = {
        k: v for k, v in src.items() if not k.startswith(_RESTIC_ENV_PREFIXES) and k not in _SCRUB
    }
    env["RESTIC_REPOSITORY"] = repo.url
    env["RESTIC_PASSWORD_FILE"] = str(repo.password_file)
    env["RESTIC_PROGRESS_FPS"] = "0.5"
    if repo.cache_dir is not None:
        env["RESTIC_CACHE_DIR"] = str(repo.cache_dir)
    if repo.cacert is not None:
        env["RESTIC_CACERT"] = str(repo.cacert)
    if repo.rest_username and repo.rest_password_file:
        env["RESTIC_REST_USERNAME"] = repo.rest_username
        env["RESTIC_REST_PASSWORD"] = read_secret(repo.rest_password_file)
    if extra:
        env.update(extra)
    return env


def read_secret(path) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip("\r\n")


def build_argv(repo: Repository, args: Sequence[str], *, json_output: bool = True) -> list[str]:
    """restic's argv: binary, global options, then the command's own arguments."""
    argv = [repo.restic]
    if json_output:
        argv.append("--json")
    if repo.cache_dir is None:
        argv.append("--no-cache")
    return [*argv, *args]


Runner = Callable[..., Result]
Progress = Callable[[dict[str, Any]], None]


def run_process(
    argv: list[str],
    env: dict[str, str],
    *,
    on_message: Progress | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float | None = None,
) -> Result:
    """Run argv; parse stdout as JSON lines (unless stdout is a file to stream into)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError:
        raise ResticError(
            Outcome.FAILURE,
            f"restic was not found at '{argv[0]}'; install restic 0.17 or newer or set "
            "[repository] restic to its path.",
        ) from None
    except PermissionError:
        raise ResticError(
            Outcome.FAILURE, f"'{argv[0]}' is not executable; fix its mode."
        ) from None
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    try:
        messages, out_lines = _read_messages(proc, stdout is None, on_message)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise ResticError(
            Outcome.FAILURE, f"restic {argv_command(argv)} did not finish within {timeout:.0f} s."
        ) from None
    except BaseException:
        # interrupted (SIGTERM from systemd, Ctrl-C): let restic stop and remove its lock
        _stop(proc)
        raise
    reader.join()
    stderr = b"".join(err_chunks).decode("utf-8", "replace")
    # restic also writes exit_error JSON to stderr; pick it up there.
    for line in stderr.splitlines():
        if line.startswith("{") and '"message_type"' in line:
            with contextlib.suppress(json.JSONDecodeError):
                messages.append(json.loads(line))
    return Result(argv, proc.returncode, messages, "\n".join(out_lines), stderr)


def _stop(proc: subprocess.Popen, grace: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _read_messages(
    proc: subprocess.Popen, parse: bool, on_message: Progress | None
) -> tuple[list[dict[str, Any]], list[str]]:
    messages: list[dict[str, Any]] = []
    out_lines: list[str] = []
    if not parse:
        return messages, out_lines
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        out_lines.append(line)
        if line.startswith("{"):
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            messages.append(msg)
            if on_message is not None:
                on_message(msg)
        elif line.startswith("["):
            with contextlib.suppress(json.JSONDecodeError):
                messages.append({"message_type": "list", "items": json.loads(line)})
    return messages, out_lines


def argv_command(argv: Sequence[str]) -> str:
    return next((a for a in argv[1:] if not a.startswith("-")), "?")


def explain(result: Result, repo: Repository) -> ResticError:
    """Turn a failed Result into a ResticError with one sentence that says what to do."""
    outcome = result.outcome
    cmd = argv_command(result.argv)
    detail = result.error_text()
    low = (result.stderr + "\n" + detail).lower()
    if outcome is Outcome.NO_REPOSITORY:
        msg = (
            f"There is no restic repository at {repo.url}; create it with "
            "'safecoach-backup init' (or fix [repository] url)."
        )
    elif outcome is Outcome.LOCKED:
        msg = (
            f"The repository at {repo.url} is locked by another restic process ({detail}); "
            "wait for it to finish, or if none is running remove stale locks with "
            "'safecoach-backup unlock'."
        )
    elif outcome is Outcome.WRONG_PASSWORD:
        msg = (
            f"The password in {repo.password_file} does not open the repository at {repo.url}; "
            "put the repository's password (from the vault) in that file."
        )
    elif outcome is Outcome.INCOMPLETE:
        msg = (
            f"restic {cmd} saved an incomplete snapshot because some files could not be read "
            f"({detail}); fix the file permissions or paths and run the backup again."
        )
    elif "unexpected http response (401)" in low or "401 unauthorized" in low:
        outcome = Outcome.FAILURE
        msg = (
            f"The backup server at {repo.url} refused the REST credentials of user "
            f"'{repo.rest_username}'; check rest_username and rest_password_file."
        )
    elif "unexpected http response (403)" in low or "403 forbidden" in low:
        msg = (
            f"The backup server at {repo.url} refused restic {cmd} (403 forbidden: the "
            "server is append-only or the user may not use this repository)."
        )
    elif "no space left on device" in low:
        msg = (
            f"restic {cmd} failed because a disk is full ({detail}); free space on the "
            "repository or cache disk and run it again."
        )
    elif "connection refused" in low or "no such host" in low or "i/o timeout" in low:
        outcome = Outcome.UNREACHABLE
        msg = (
            f"Cannot reach the backup server for {repo.url} ({detail}); check that it is "
            "running and that the firewall allows this host."
        )
    elif "unknown flag" in low or "unknown command" in low:
        msg = (
            f"restic at '{repo.restic}' is too old for this tool ({detail}); install restic "
            "0.17 or newer (Debian 13's package) or set [repository] restic to its path."
        )
    else:
        err = ResticError(
            outcome,
            f"restic {cmd} failed with exit status {result.returncode}: {detail}",
            result.returncode,
            result,
        )
        err.generic = True
        return err
    return ResticError(outcome, msg, result.returncode, result)


def preflight(repo: Repository) -> None:
    """For a REST repository, fail fast if the server does not accept TCP connections.

    restic itself retries an unreachable server for up to 15 minutes before it gives up.
    """
    endpoint = repo.rest_endpoint
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=repo.connect_timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ResticError(
            Outcome.UNREACHABLE,
            f"Cannot reach the backup server at {host}:{port} ({reason}); check that it is "
            "running and that the firewall allows this host.",
        ) from None


class Restic:
    """One repository. run() retries a locked repository with backoff, then raises."""

    def __init__(
        self,
        repo: Repository,
        *,
        runner: Runner = run_process,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
        check_reachable: bool = True,
    ):
        self.repo = repo
        self.runner = runner
        self.sleep = sleep
        self.say = say or (lambda _msg: None)
        self._reachable_checked = not check_reachable

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return build_env(self.repo, extra=extra)

    def argv(self, args: Sequence[str], *, json_output: bool = True) -> list[str]:
        return build_argv(self.repo, args, json_output=json_output)

    def attempt(self, args: Sequence[str], *, json_output=True, extra_env=None, **kw) -> Result:
        """Run once and return the Result, whatever the exit code."""
        if not self._reachable_checked:
            preflight(self.repo)
            self._reachable_checked = True
        return self.runner(self.argv(args, json_output=json_output), self.env(extra_env), **kw)

    def run(
        self,
        args: Sequence[str],
        *,
        allow: Iterable[Outcome] = (Outcome.OK,),
        retry_locked: bool = True,
        **kw,
    ) -> Result:
        """Run, retrying while the repository is locked; raise ResticError unless allowed."""
        allowed = set(allow)
        delays = self.repo.retry.delays() if retry_locked else []
        waited = 0.0
        for i in range(len(delays) + 1):
            result = self.attempt(args, **kw)
            if result.outcome is not Outcome.LOCKED or Outcome.LOCKED in allowed:
                break
            if i == len(delays):
                raise ResticError(
                    Outcome.LOCKED,
                    f"The repository at {self.repo.url} is locked by another restic process "
                    f"({result.error_text()}); gave up after {i + 1} attempts over "
                    f"{waited:.0f} s: wait for it to finish, or if none is running remove "
                    "stale locks with 'safecoach-backup unlock'.",
                    result.returncode,
                    result,
                )
            self.say(
                f"repository is locked; attempt {i + 1} of {len(delays) + 1}, "
                f"retrying in {delays[i]:.0f} s"
            )
            self.sleep(delays[i])
            waited += delays[i]
        if result.outcome is Outcome.OK and FORBIDDEN in result.stderr:
            # restic forget reports a refused removal but still exits 0: never call that ok.
            refused = Result(result.argv, 1, result.messages, result.stdout, result.stderr)
            raise explain(refused, self.repo)
        if result.outcome in allowed:
            return result
        raise explain(result, self.repo)
