"""Dutch first, English second: the catalogue is complete and pages speak the chosen language."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.urls import reverse

pytestmark = pytest.mark.app

APP = Path(__file__).resolve().parents[2]
PO = APP / "locale" / "nl" / "LC_MESSAGES" / "django.po"


def test_every_dutch_entry_is_translated():
    catalogue = polib.pofile(str(PO))
    assert catalogue.untranslated_entries() == []
    assert catalogue.fuzzy_entries() == []


def test_the_catalogue_holds_every_translatable_string_in_the_code(tmp_path):
    """makemessages on a copy of the app finds no msgid the committed catalogue lacks."""
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is missing: install Debian's gettext package (scripts/test does).")
    copy = tmp_path / "app"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("*.sqlite3", "static_collected"))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "nl", "--no-obsolete", "-v", "0"],
        cwd=copy,
        env={"SAFECOACH_DEBUG": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    fresh = {e.msgid for e in polib.pofile(str(copy / "locale/nl/LC_MESSAGES/django.po"))}
    committed = {e.msgid for e in polib.pofile(str(PO)) if not e.obsolete}
    assert fresh - committed == set(), "run: cd app && manage.py makemessages -l nl; translate"


def test_pages_are_dutch_by_default(client, db):
    page = client.get(reverse("accounts:login")).content.decode()
    assert 'lang="nl"' in page
    assert "Inloggen" in page


def test_a_visitor_can_switch_to_english(client, db):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("accounts:login")).content.decode()
    assert 'lang="en"' in page
    assert "Sign in" in page


def test_a_signed_in_user_gets_their_own_language(world, login):
    world.coach_a.language = "en"
    world.coach_a.save()
    page = login(world.coach_a).get(reverse("coaching:client_list")).content.decode()
    assert "My clients" in page
    page = login(world.client_a).get(reverse("accounts:profile")).content.decode()
    assert "Mijn account" in page
