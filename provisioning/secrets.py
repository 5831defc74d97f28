"""Per-stage secrets: vault/<stage>.yml, encrypted with ansible-vault.

The lab makes its own: a random vault password in its state folder and a vault file with a
random root password, encrypted with it. Real stages ship a placeholder that converge refuses;
an operator replaces the value and encrypts the file (docs/hardening.md, "Secrets"), and gives
the password through OTAP_VAULT_PASSWORD_FILE.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from provisioning.errors import OtapError
from provisioning.inventory import Stage
from provisioning.paths import REPO

VAULT_DIR = REPO / "vault"
HEADER = "$ANSIBLE_VAULT;"
PLACEHOLDER = "CHANGE-ME"


def vault_file(stage: Stage, root: Path = VAULT_DIR) -> Path:
    return root / f"{stage.name}.yml"


def is_encrypted(path: Path) -> bool:
    return path.is_file() and path.read_text().startswith(HEADER)


def _ansible_vault() -> str:
    return shutil.which("ansible-vault", path=str(Path(sys.executable).parent)) or "ansible-vault"


def _env(password_file: Path) -> dict:
    """ansible-vault with this one password (it replaces ansible.cfg's vault_password_file)."""
    return {**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}


def _decrypts(path: Path, password_file: Path) -> bool:
    proc = subprocess.run(
        [_ansible_vault(), "view", str(path)],
        env=_env(password_file),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


def ensure_lab_vault(stage: Stage, root: Path = VAULT_DIR) -> Path:
    """The lab's vault password and vault file, made when missing or when they do not match."""
    password = stage.state_dir / "vault_password"
    path = vault_file(stage, root)
    if password.exists() and is_encrypted(path) and _decrypts(path, password):
        return password
    stage.state_dir.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        password.write_text(secrets.token_urlsafe(32) + "\n")
    finally:
        os.umask(old)
    plain = (
        "# The lab's throwaway secrets, made by otap; encrypted with the lab's vault password.\n"
        f'vault_root_password: "{secrets.token_urlsafe(24)}"\n'
    )
    proc = subprocess.run(
        [_ansible_vault(), "encrypt", "--output", str(path), "-"],
        env=_env(password),
        input=plain,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise OtapError(f"could not make the lab's vault file {path}: {proc.stderr.strip()}")
    return password


def vault_password_file(stage: Stage, root: Path = VAULT_DIR, env=None) -> Path:
    """The file with the stage's vault password; one clear sentence when it cannot be had."""
    env = os.environ if env is None else env
    if stage.lab:
        return ensure_lab_vault(stage, root)
    path = vault_file(stage, root)
    if not path.is_file():
        raise OtapError(
            f"stage {stage.name} has no secrets file {path.relative_to(root.parent)}; "
            "create it as docs/hardening.md says under Secrets."
        )
    if not is_encrypted(path):
        if PLACEHOLDER in path.read_text():
            raise OtapError(
                f"{path.relative_to(root.parent)} still holds placeholders; put the stage's "
                "secrets in it and encrypt it with ansible-vault (docs/hardening.md, Secrets)."
            )
        raise OtapError(
            f"{path.relative_to(root.parent)} is not encrypted; encrypt it with "
            f"`ansible-vault encrypt {path.relative_to(root.parent)}` before converging."
        )
    given = env.get("OTAP_VAULT_PASSWORD_FILE")
    if not given:
        raise OtapError(
            f"stage {stage.name}'s secrets are encrypted and no vault password was given; set "
            "OTAP_VAULT_PASSWORD_FILE to the file that holds it."
        )
    if not Path(given).is_file():
        raise OtapError(f"OTAP_VAULT_PASSWORD_FILE names {given}, which is not a file.")
    return Path(given)
