"""Per-stage secrets: inventories/<stage>/group_vars/all/vault.yml, encrypted with ansible-vault.

One vault file per stage, loaded by Ansible for every play of that stage's inventory. The lab
makes its own: a random vault password in its state folder and a vault file with random
secrets, encrypted with it. Real stages ship a placeholder that converge refuses;
an operator replaces the value and encrypts the file (docs/hardening.md, "Secrets"), and gives
the password through OTAP_VAULT_PASSWORD_FILE.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from provisioning.stage.errors import OtapError
from provisioning.stage.inventory import Stage
from provisioning.stage.paths import INVENTORIES, REPO, venv_tool

VAULT_NAME = Path("group_vars") / "all" / "vault.yml"
HEADER = "$ANSIBLE_VAULT;"
PLACEHOLDER = "CHANGE-ME"


def vault_file(stage: Stage, root: Path = INVENTORIES) -> Path:
    return root / stage.name / VAULT_NAME


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def is_encrypted(path: Path) -> bool:
    return path.is_file() and path.read_text().startswith(HEADER)


def _env(password_file: Path) -> dict:
    """ansible-vault with this one password (it replaces ansible.cfg's vault_password_file)."""
    return {**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}


def _decrypts(path: Path, password_file: Path) -> bool:
    return _view(path, password_file) is not None


# The lab's secrets: vault key -> random bytes of its throwaway value (0: empty).
LAB_SECRETS = {
    "vault_root_password": 24,
    "vault_secret_key": 48,
    "vault_db_app_password": 24,
    "vault_sms_token": 0,
    # the secrets the backup REST and repository passwords derive from (docs/backup.md)
    "vault_backup_rest_key": 32,
    "vault_backup_repository_key": 32,
}
LAB_HEADER = (
    "# The lab's throwaway secrets, made by otap; encrypted with the lab's vault password.\n"
)


def lab_secret_lines(names) -> str:
    """YAML lines with fresh random values for the lab's vault keys `names`."""
    out = []
    for name in names:
        size = LAB_SECRETS[name]
        out.append(f'{name}: "{secrets.token_urlsafe(size) if size else ""}"\n')
    return "".join(out)


def missing_lab_keys(plain: str) -> list[str]:
    """The lab's vault keys that a decrypted vault file does not set yet."""
    present = {line.split(":", 1)[0].strip() for line in plain.splitlines() if ":" in line}
    return [name for name in LAB_SECRETS if name not in present]


def _view(path: Path, password_file: Path) -> str | None:
    proc = subprocess.run(
        [venv_tool("ansible-vault"), "view", str(path)],
        env=_env(password_file),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


def _encrypt(path: Path, password_file: Path, plain: str) -> None:
    proc = subprocess.run(
        [venv_tool("ansible-vault"), "encrypt", "--output", str(path), "-"],
        env=_env(password_file),
        input=plain,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise OtapError(f"could not make the lab's vault file {path}: {proc.stderr.strip()}")


def ensure_lab_vault(stage: Stage, root: Path = INVENTORIES) -> Path:
    """The lab's vault password and vault file, made when missing or when they do not match.

    A vault made before a secret was added to LAB_SECRETS gets that secret added; the values it
    holds already are kept.
    """
    password = stage.vault_password
    path = vault_file(stage, root)
    plain = _view(path, password) if password.exists() and is_encrypted(path) else None
    if plain is not None:
        missing = missing_lab_keys(plain)
        if missing:
            _encrypt(path, password, plain.rstrip("\n") + "\n" + lab_secret_lines(missing))
        return password
    stage.state_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        password.write_text(secrets.token_urlsafe(32) + "\n")
    finally:
        os.umask(old)
    _encrypt(path, password, LAB_HEADER + lab_secret_lines(LAB_SECRETS))
    return password


def vault_password_file(stage: Stage, root: Path = INVENTORIES, env=None) -> Path:
    """The file with the stage's vault password; one clear sentence when it cannot be had."""
    env = os.environ if env is None else env
    if stage.lab:
        return ensure_lab_vault(stage, root)
    path = vault_file(stage, root)
    if not path.is_file():
        raise OtapError(
            f"stage {stage.name} has no secrets file {_shown(path)}; "
            "create it as docs/hardening.md says under Secrets."
        )
    if not is_encrypted(path):
        if PLACEHOLDER in path.read_text():
            raise OtapError(
                f"{_shown(path)} still holds placeholders; put the stage's "
                "secrets in it and encrypt it with ansible-vault (docs/hardening.md, Secrets)."
            )
        raise OtapError(
            f"{_shown(path)} is not encrypted; encrypt it with "
            f"`ansible-vault encrypt {_shown(path)}` before converging."
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
