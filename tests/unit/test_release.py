"""Releases: checksums, the manifest, a tampered release refused with one sentence."""

import json

import pytest

from provisioning import cli
from provisioning.releases import build as release
from provisioning.stage import OtapError

pytestmark = [pytest.mark.unit, pytest.mark.control("DEP-05")]

RID = "0.1.0-5162cdf82e4d"


def make_release(root, rid=RID):
    """A release folder as `build` leaves it, with small stand-in files."""
    folder = root / rid
    (folder / "wheelhouse").mkdir(parents=True)
    (folder / "safecoach-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    (folder / "wheelhouse" / "django-5.2-py3-none-any.whl").write_bytes(b"django")
    (folder / "static.tar.gz").write_bytes(b"static")
    files = release.checksums(folder)
    (folder / release.SUMS).write_text(release.render_sums(files))
    manifest = {
        "release": rid,
        "version": "0.1.0",
        "commit": "5162cdf82e4d" + "0" * 28,
        "dirty": False,
        "built_at": "2026-11-27T05:00:00Z",
        "wheel": "safecoach-0.1.0-py3-none-any.whl",
        "files": files,
    }
    (folder / release.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_good_release_verifies(tmp_path):
    folder = make_release(tmp_path)
    found = release.check(folder)
    assert found.id == RID
    assert set(found.manifest["files"]) == {
        "safecoach-0.1.0-py3-none-any.whl",
        "wheelhouse/django-5.2-py3-none-any.whl",
        "static.tar.gz",
    }


def test_sums_file_is_sha256sum_format(tmp_path):
    folder = make_release(tmp_path)
    line = (folder / release.SUMS).read_text().splitlines()[0]
    digest, name = line.split("  ")
    assert len(digest) == 64
    assert (folder / name).is_file()


def test_a_tampered_file_is_refused_with_one_sentence(tmp_path):
    folder = make_release(tmp_path)
    (folder / "wheelhouse" / "django-5.2-py3-none-any.whl").write_bytes(b"evil")
    with pytest.raises(OtapError) as info:
        release.check(folder)
    message = str(info.value)
    assert message.startswith("checksum mismatch in release 0.1.0-5162cdf82e4d:")
    assert "wheelhouse/django-5.2-py3-none-any.whl" in message
    assert "\n" not in message and message.endswith(".")


def test_a_tampered_manifest_is_refused(tmp_path):
    folder = make_release(tmp_path)
    manifest = json.loads((folder / release.MANIFEST).read_text())
    manifest["files"]["static.tar.gz"] = "0" * 64
    (folder / release.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(OtapError, match="disagree"):
        release.check(folder)


def test_a_missing_or_an_extra_file_is_refused(tmp_path):
    folder = make_release(tmp_path)
    (folder / "static.tar.gz").unlink()
    with pytest.raises(OtapError, match=r"incomplete: static\.tar\.gz is missing"):
        release.check(folder)
    folder = make_release(tmp_path, "0.1.0-aaaaaaa")
    (folder / "wheelhouse" / "extra-1.0-py3-none-any.whl").write_bytes(b"x")
    with pytest.raises(OtapError, match="does not list"):
        release.check(folder)


def test_an_unknown_release_is_one_sentence_naming_the_built_ones(tmp_path):
    make_release(tmp_path)
    with pytest.raises(OtapError) as info:
        release.find("9.9.9-abcdef0", root=tmp_path)
    assert "does not exist" in str(info.value)
    assert RID in str(info.value)
    with pytest.raises(OtapError, match="does not exist"):
        release.find("../../etc", root=tmp_path)


def test_newest_release_is_the_default(tmp_path):
    make_release(tmp_path)
    assert release.find(None, root=tmp_path).id == RID
    with pytest.raises(OtapError, match="no release built yet"):
        release.find(None, root=tmp_path / "empty")


def test_release_verify_command_reports_tampering_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTAP_RELEASES", str(tmp_path))
    folder = make_release(tmp_path)
    assert cli.main(["release", "verify", RID]) == 0
    (folder / "static.tar.gz").write_bytes(b"changed")
    assert cli.main(["release", "verify", RID]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("otap: error: checksum mismatch")


def test_lock_entries_keep_hashes():
    lock = (
        "django==5.2.19 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via safecoach\n"
        "psycopg[binary]==3.3.9 \\\n    --hash=sha256:cc\n"
    )
    entries = release.lock_entries(lock)
    assert entries["django"] == "django==5.2.19 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb"
    assert entries["psycopg"].startswith("psycopg[binary]==3.3.9")


def test_runtime_closure_follows_extras_and_host_markers():
    metadata = {
        "django": ["asgiref>=3.8", "sqlparse>=0.3", "tzdata; sys_platform == 'win32'"],
        "asgiref": ["typing-extensions>=4; python_version < '3.11'"],
        "sqlparse": [],
        "psycopg": [
            "typing-extensions>=4.6; python_version < '3.13'",
            "psycopg-binary==3.3.9; extra == 'binary'",
            "psycopg-pool; extra == 'pool'",
        ],
        "psycopg-binary": [],
    }
    names = release.runtime_closure(["django>=5.2", "psycopg[binary]>=3.2"], metadata.get)
    assert names == ["asgiref", "django", "psycopg", "psycopg-binary", "sqlparse"]


def test_release_ids():
    assert release.valid_release_id("0.1.0-5162cdf82e4d")
    assert release.valid_release_id("0.1.0-5162cdf82e4d.dirty")
    assert not release.valid_release_id("0.1.0")
    assert not release.valid_release_id("../x-1234567")
