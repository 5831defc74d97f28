"""`otap report sign` and `check` with a real ssh-keygen and a throwaway key."""

import json
import subprocess

import pytest

from provisioning import cli
from tests.unit.report_runs import make_run

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def key(tmp_path):
    """A throwaway ed25519 key pair without a passphrase."""
    path = tmp_path / "keys" / "signer"
    path.parent.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "auditor", "-f", str(path)],
        check=True,
    )
    return path


def sign(run, key) -> None:
    assert cli.main(["report", "sign", str(run), "--key", str(key)]) == 0


def check(run, *options) -> int:
    return cli.main(["report", "check", str(run), *options])


def test_a_signed_run_checks(key, capsys):
    run = make_run()
    sign(run, key)
    assert (run / "report.json.sig").read_text().startswith("-----BEGIN SSH SIGNATURE-----")
    assert check(run, "--key", f"{key}.pub") == 0
    assert "every file matches report.json, and its signature is good" in capsys.readouterr().out


def test_an_allowed_signers_file_and_identity(key, tmp_path, capsys):
    run = make_run()
    sign(run, key)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"auditor@example {(key.parent / 'signer.pub').read_text()}")
    assert check(run, "--allowed-signers", str(allowed), "--identity", "auditor@example") == 0
    assert check(run, "--allowed-signers", str(allowed), "--identity", "someone@else") == 1
    assert "the signature of report.json does not verify" in capsys.readouterr().err


def test_a_tampered_junit_is_named(key, capsys):
    run = make_run()
    sign(run, key)
    junit = run / "junit.xml"
    junit.write_text(junit.read_text().replace("failure", "skipped"))
    assert check(run, "--key", f"{key}.pub") == 1
    err = capsys.readouterr().err
    assert "junit.xml has changed since the report was written" in err
    assert "report.html" not in err and "signature" not in err


def test_a_tampered_report_json_fails_its_signature(key, capsys):
    run = make_run()
    sign(run, key)
    report = json.loads((run / "report.json").read_text())
    next(c for c in report["controls"] if c["id"] == "SSH-02")["status"] = "passed"
    (run / "report.json").write_text(json.dumps(report, indent=2))
    assert check(run, "--key", f"{key}.pub") == 1
    assert "the signature of report.json does not verify" in capsys.readouterr().err


def test_another_key_does_not_verify(key, tmp_path, capsys):
    run = make_run()
    sign(run, key)
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    assert check(run, "--key", f"{other}.pub") == 1
    assert "does not verify" in capsys.readouterr().err


def test_an_unsigned_run_does_not_check(key, capsys):
    run = make_run()
    assert check(run, "--key", f"{key}.pub") == 1
    assert "report.json is not signed" in capsys.readouterr().err


def test_the_default_key_is_the_operator_s(key, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    run = make_run()
    assert cli.main(["report", "sign", str(run)]) == 2
    assert "no SSH key found (~/.ssh/id_ed25519" in capsys.readouterr().err
    for suffix in ("", ".pub"):
        (home / ".ssh" / f"id_ed25519{suffix}").write_bytes(
            (key.parent / f"signer{suffix}").read_bytes()
        )
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    assert cli.main(["report", "sign", str(run)]) == 0
    assert check(run) == 0


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        (["--allowed-signers", "x"], "--allowed-signers needs --identity"),
        (["--allowed-signers", "x", "--identity", "a", "--key", "k"], "not both"),
        (["--key", "/nonexistent.pub"], "there is no file /nonexistent.pub"),
    ],
)
def test_bad_options_are_one_sentence_and_exit_2(options, sentence, capsys):
    run = make_run()
    assert check(run, *options) == 2
    assert sentence in capsys.readouterr().err


def test_a_private_key_given_as_public_is_refused(key, capsys):
    run = make_run()
    sign(run, key)
    assert check(run, "--key", str(key)) == 2
    assert "is a private key; give its public key (.pub)" in capsys.readouterr().err
