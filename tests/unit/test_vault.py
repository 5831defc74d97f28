"""Per-stage secrets: a missing vault password or a placeholder stops converge with one sentence."""

import pytest

from provisioning.stage import OtapError, load_stage, vault
from provisioning.stage.paths import REPO

pytestmark = [pytest.mark.unit, pytest.mark.control("ACC-02")]

ENCRYPTED = "$ANSIBLE_VAULT;1.1;AES256\n3132\n"


def _vault(root, stage):
    path = root / stage / "group_vars" / "all" / "vault.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("stage", ["test", "acceptance", "production"])
def test_real_stages_ship_a_placeholder_that_converge_refuses(stage):
    text = (REPO / "inventories" / stage / "group_vars" / "all" / "vault.yml").read_text()
    assert "CHANGE-ME" in text and "ansible-vault encrypt" in text
    for name in vault.LAB_SECRETS:
        assert f"{name}:" in text
    with pytest.raises(OtapError, match="still holds placeholders"):
        vault.vault_password_file(load_stage(stage), env={})


def test_an_encrypted_vault_without_a_password_is_one_clear_sentence(tmp_path):
    _vault(tmp_path, "production").write_text(ENCRYPTED)
    with pytest.raises(OtapError) as exc:
        vault.vault_password_file(load_stage("production"), root=tmp_path, env={})
    message = str(exc.value)
    assert "no vault password was given" in message and "OTAP_VAULT_PASSWORD_FILE" in message
    assert "\n" not in message and message.endswith(".")


def test_an_encrypted_vault_with_a_password_file(tmp_path):
    _vault(tmp_path, "production").write_text(ENCRYPTED)
    password = tmp_path / "pw"
    password.write_text("x\n")
    stage = load_stage("production")
    got = vault.vault_password_file(stage, tmp_path, {"OTAP_VAULT_PASSWORD_FILE": str(password)})
    assert got == password
    with pytest.raises(OtapError, match="is not a file"):
        vault.vault_password_file(stage, tmp_path, {"OTAP_VAULT_PASSWORD_FILE": "/nonexistent"})


def test_a_plain_vault_file_is_refused(tmp_path):
    _vault(tmp_path, "production").write_text('vault_root_password: "a-real-password-in-clear"\n')
    with pytest.raises(OtapError, match="is not encrypted"):
        vault.vault_password_file(load_stage("production"), root=tmp_path, env={})


def test_the_lab_makes_its_own_password_and_encrypted_vault(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path / "state"))
    stage = load_stage("development")
    password = vault.vault_password_file(stage, root=tmp_path, env={})
    vault_yml = _vault(tmp_path, "development")
    assert password.stat().st_mode & 0o077 == 0
    assert vault.is_encrypted(vault_yml)
    assert "vault_root_password" not in vault_yml.read_text()
    assert vault._decrypts(vault_yml, password)
    again = vault.vault_password_file(stage, root=tmp_path, env={})
    assert again.read_text() == password.read_text(), "a second run keeps the lab's secrets"
    password.unlink()
    vault.vault_password_file(stage, root=tmp_path, env={})
    assert vault._decrypts(vault_yml, password), "a lost password makes a new pair"


def test_the_lab_vault_holds_every_secret_the_roles_need(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path / "state"))
    stage = load_stage("development")
    password = vault.vault_password_file(stage, root=tmp_path, env={})
    plain = vault._view(_vault(tmp_path, "development"), password)
    assert vault.missing_lab_keys(plain) == []
    values = dict(line.split(": ", 1) for line in plain.splitlines() if not line.startswith("#"))
    for name in ("vault_backup_rest_key", "vault_backup_repository_key"):
        assert len(values[name].strip('"')) >= 32, name


def test_an_older_lab_vault_gets_the_new_secrets_and_keeps_its_values(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path / "state"))
    stage = load_stage("development")
    password = stage.state_dir / "vault_password"
    password.parent.mkdir(parents=True)
    password.write_text("lab-password\n")
    vault_yml = _vault(tmp_path, "development")
    old = 'vault_root_password: "kept-root"\nvault_secret_key: "kept-key"\n'
    vault._encrypt(vault_yml, password, old)
    assert vault.vault_password_file(stage, root=tmp_path, env={}) == password
    plain = vault._view(vault_yml, password)
    assert plain.startswith(old)
    assert vault.missing_lab_keys(plain) == []
    again = vault.vault_password_file(stage, root=tmp_path, env={})
    assert vault._view(vault_yml, again) == plain, "a complete vault is left as it is"
