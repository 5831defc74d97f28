"""Unit tests: configuration loading and validation, one clear sentence per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup import cli
from backup.config import ConfigError, load

pytestmark = pytest.mark.unit


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    for name in ("repo-pw", "rest-pw", "db-pw"):
        p = tmp_path / name
        p.write_text("s3cret\n")
        p.chmod(0o600)
    return tmp_path


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def minimal(d: Path, extra: str = "", url: str | None = None) -> str:
    return f"""
[repository]
url = "{url or "rest:https://backup.example.org:8000/db1/"}"
password_file = "{d}/repo-pw"
rest_username = "db1"
rest_password_file = "{d}/rest-pw"

[database]
name = "safecoach"
host = "127.0.0.1"
password_file = "{d}/db-pw"
{extra}
"""


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.problems


def test_valid_toml(secrets_dir):
    cfg = load(write(secrets_dir, minimal(secrets_dir) + '\n[files]\npaths = ["/srv/media"]\n'))
    assert cfg.repository.is_rest
    assert cfg.repository.rest_endpoint == ("backup.example.org", 8000)
    assert cfg.database.name == "safecoach"
    assert cfg.database.port == 5432
    assert cfg.files.paths == ("/srv/media",)
    assert cfg.check_subsets == 7
    assert cfg.repository.retry.attempts == 5


def test_valid_yaml(secrets_dir):
    text = f"""
repository:
  url: /var/backups/restic
  password_file: {secrets_dir}/repo-pw
files:
  paths: [/srv/media]
check:
  read_data_subsets: 10
"""
    cfg = load(write(secrets_dir, text, "c.yml"))
    assert cfg.repository.url == "/var/backups/restic"
    assert cfg.database is None
    assert cfg.check_subsets == 10


def test_env_var_names_the_file(secrets_dir, monkeypatch):
    path = write(secrets_dir, minimal(secrets_dir))
    monkeypatch.setenv("SAFECOACH_BACKUP_CONFIG", str(path))
    assert load().path == path


def test_missing_file(tmp_path):
    [msg] = problems(tmp_path / "nope.toml")
    assert "does not exist" in msg


def test_invalid_toml(tmp_path):
    [msg] = problems(write(tmp_path, "[repository\nurl = 1"))
    assert "not valid TOML" in msg


def test_invalid_yaml(tmp_path):
    [msg] = problems(write(tmp_path, "repository: [unclosed\n", "c.yaml"))
    assert "not valid YAML" in msg


def test_missing_repository_section(tmp_path):
    assert any("section [repository] is missing" in p for p in problems(write(tmp_path, "")))


def test_password_file_readable_by_others(secrets_dir):
    (secrets_dir / "repo-pw").chmod(0o644)
    [msg] = problems(write(secrets_dir, minimal(secrets_dir)))
    assert "readable by others" in msg
    assert f"chmod 600 {secrets_dir}/repo-pw" in msg


def test_password_file_missing_and_empty(secrets_dir):
    (secrets_dir / "repo-pw").unlink()
    (secrets_dir / "db-pw").write_text("")
    msgs = problems(write(secrets_dir, minimal(secrets_dir)))
    assert any("repo-pw does not exist" in m for m in msgs)
    assert any("db-pw is empty" in m for m in msgs)


def test_credentials_in_url_are_refused(secrets_dir):
    url = "rest:https://db1:hunter2@backup.example.org:8000/db1/"
    msgs = problems(write(secrets_dir, minimal(secrets_dir, url=url)))
    assert any("must not contain credentials" in m for m in msgs)


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("relative/path", "absolute path or a rest: URL"),
        ("s3:s3.amazonaws.com/bucket", "not supported"),
        ("rest:ftp://host/x/", "rest:https://HOST:PORT/USER/"),
        ("rest:https://host:port/x/", "rest:https://HOST:PORT/USER/"),
        ("rest:https://host:99999/x/", "rest:https://HOST:PORT/USER/"),
    ],
)
def test_bad_urls(secrets_dir, url, fragment):
    text = f'[repository]\nurl = "{url}"\npassword_file = "{secrets_dir}/repo-pw"\n'
    text += '[files]\npaths = ["/srv"]\n'
    msgs = problems(write(secrets_dir, text))
    assert any(fragment in m for m in msgs), msgs


def test_rest_user_without_password_file(secrets_dir):
    text = minimal(secrets_dir).replace(f'rest_password_file = "{secrets_dir}/rest-pw"\n', "")
    msgs = problems(write(secrets_dir, text))
    assert any("go together" in m for m in msgs)


def test_several_problems_reported_together(secrets_dir):
    extra = 'port = "5432"\ncolour = "blue"\n\n[check]\nread_data_subsets = -1\n'
    extra += '\n[files]\npaths = ["relative"]\n'
    msgs = problems(write(secrets_dir, minimal(secrets_dir, extra)))
    joined = "\n".join(msgs)
    assert "[database] port must be a whole number" in joined
    assert "[database] has an unknown key 'colour'" in joined
    assert "[check] read_data_subsets must be at least 0" in joined
    assert "'relative' must be an absolute path" in joined
    assert len(msgs) == 4


def test_bad_database_name(secrets_dir):
    text = minimal(secrets_dir).replace('name = "safecoach"', 'name = "safe; drop"')
    assert any("not a plain PostgreSQL name" in m for m in problems(write(secrets_dir, text)))


def test_nothing_to_back_up(secrets_dir):
    text = f'[repository]\nurl = "/r"\npassword_file = "{secrets_dir}/repo-pw"\n'
    assert any("nothing to back up" in m for m in problems(write(secrets_dir, text)))


def test_metrics_dir_must_be_absolute_but_need_not_exist(secrets_dir):
    text = minimal(secrets_dir) + '\n[metrics]\ntextfile_dir = "relative/dir"\n'
    assert any(
        "textfile_dir must be an absolute path" in m for m in problems(write(secrets_dir, text))
    )
    text = minimal(secrets_dir) + '\n[metrics]\ntextfile_dir = "/nonexistent/dir"\n'
    assert str(load(write(secrets_dir, text)).metrics_dir) == "/nonexistent/dir"


def test_cacert_must_exist(secrets_dir):
    text = minimal(secrets_dir).replace("[database]", 'cacert = "/no/ca.pem"\n\n[database]')
    assert any("cacert: /no/ca.pem does not exist" in m for m in problems(write(secrets_dir, text)))


def test_cli_config_error_is_one_sentence_and_exit_2(tmp_path, capsys):
    path = write(tmp_path, "[repository]\n")
    code = cli.main(["--config", str(path), "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("safecoach-backup: error: ")
    assert "[repository] url is missing" in err


def test_cli_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for code in ("0 ", "3 ", "10", "11", "12", "13"):
        assert f"\n  {code}" in out


def test_the_documented_example_is_valid(tmp_path):
    docs = Path(__file__).resolve().parents[2] / "docs" / "backup.md"
    text = docs.read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    for name in ("repository-password", "rest-password", "db-password", "backup-ca.pem"):
        p = tmp_path / name
        p.write_text("x\n")
        p.chmod(0o600)
    example = example.replace("/etc/safecoach-backup/", f"{tmp_path}/")
    cfg = load(write(tmp_path, example))
    assert cfg.repository.rest_username == "db1"
    assert cfg.database.name == "safecoach"
    assert cfg.check_subsets == 7
