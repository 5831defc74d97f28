"""`otap report sign` and `otap report check`: a run's report.json signed with an SSH key.

report.json lists the sha256 of every other file of its run (`files`), so its signature
(report.json.sig, `ssh-keygen -Y sign`, namespace safecoach-report) covers the whole run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

from provisioning.stage import OtapError, UsageError

NAMESPACE = "safecoach-report"
REPORT, SIGNATURE = "report.json", "report.json.sig"
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
SIGNER = "report-signer"  # the identity of the allowed_signers made for --key


def default_key(suffix: str = "") -> Path:
    """The operator's first SSH key of ~/.ssh/id_ed25519, id_ecdsa, id_rsa (SUFFIX: ".pub")."""
    ssh = Path.home() / ".ssh"
    for name in DEFAULT_KEYS:
        if (ssh / f"{name}{suffix}").is_file():
            return ssh / f"{name}{suffix}"
    kind = "public key" if suffix else "key"
    raise UsageError(
        f"no SSH {kind} found ({', '.join(f'~/.ssh/{n}{suffix}' for n in DEFAULT_KEYS)}); "
        "name one with --key."
    )


def _ssh_keygen(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, check=False)
    except OSError as exc:
        raise OtapError("ssh-keygen is missing: apt-get install openssh-client.") from exc


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def sign(run: Path, key: Path | None = None) -> Path:
    """Sign RUN's report.json with KEY (default: the operator's SSH key); report.json.sig."""
    key = key or default_key()
    if not key.is_file():
        raise UsageError(f"there is no key {key}.")
    signature = run / SIGNATURE
    signature.unlink(missing_ok=True)  # ssh-keygen does not replace one
    proc = _ssh_keygen(["-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(run / REPORT)])
    if proc.returncode != 0:
        raise OtapError(f"ssh-keygen could not sign {run / REPORT}: {_last_line(proc)}.")
    return signature


def _allowed_signers(key: Path, folder: Path) -> Path:
    text = key.read_text().strip()
    if "PRIVATE KEY" in text:
        raise UsageError(f"{key} is a private key; give its public key (.pub) to --key.")
    path = folder / "allowed_signers"
    path.write_text(f'{SIGNER} namespaces="{NAMESPACE}" {text}\n')
    return path


def check(
    run: Path,
    allowed_signers: Path | None = None,
    identity: str | None = None,
    key: Path | None = None,
) -> list[str]:
    """What does not hold in RUN: one sentence per file that changed or is missing, and for the
    signature; an empty list when every file matches and the signature is good."""
    if allowed_signers and key:
        raise UsageError("give either --allowed-signers with --identity, or --key, not both.")
    if allowed_signers and not identity:
        raise UsageError("--allowed-signers needs --identity (the signer's name in that file).")
    for path in (allowed_signers, key):
        if path and not path.is_file():
            raise UsageError(f"there is no file {path}.")
    report = run / REPORT
    problems = []
    try:
        listed = json.loads(report.read_bytes())["files"]
    except (ValueError, KeyError, TypeError):
        return [f"{report} is damaged: it is no report.json with a list of files."]
    for name, digest in sorted(listed.items()):
        path = run / name
        if not path.is_file():
            problems.append(f"{name} is missing.")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name} has changed since the report was written.")
    if not (run / SIGNATURE).is_file():
        return [*problems, f"report.json is not signed (no {SIGNATURE}); see otap report sign."]
    with tempfile.TemporaryDirectory() as tmp:
        if not allowed_signers:
            allowed_signers = _allowed_signers(key or default_key(".pub"), Path(tmp))
            identity = SIGNER
        args = ["-Y", "verify", "-f", str(allowed_signers), "-I", str(identity), "-n", NAMESPACE]
        proc = _ssh_keygen([*args, "-s", str(run / SIGNATURE)], stdin=report.read_bytes())
    if proc.returncode != 0:
        problems.append(f"the signature of report.json does not verify ({_last_line(proc)}).")
    return problems


def unlisted(run: Path) -> list[str]:
    """Files of RUN that report.json does not cover (a report in another language)."""
    try:
        listed = set(json.loads((run / REPORT).read_bytes())["files"])
    except (ValueError, KeyError, TypeError, OSError):
        return []
    ours = listed | {REPORT, SIGNATURE}
    return sorted(p.name for p in run.iterdir() if p.name not in ours)
