"""Helpers for the sign-in tests: a fresh SMS file per test, and readers for what was sent."""

import json
import re

import pytest
from django.urls import reverse

from tests.fixtures.world import PASSWORD


class SMSFile:
    def __init__(self, path):
        self.path = path

    def messages(self):
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def last_code(self, to=None):
        sent = [m for m in self.messages() if to is None or m["to"] == to]
        assert sent, "no SMS was sent"
        return re.search(r"\b(\d{6})\b", sent[-1]["text"]).group(1)


@pytest.fixture
def world(world):
    """The shared world, everyone reading English: these tests check the English msgids, so
    they hold whatever the Dutch catalogue says (tests/app checks the Dutch pages)."""
    from accounts.models import User

    User.objects.update(language="en")
    for name in ("manager", "coach_a", "coach_b", "client_a", "client_b", "other_manager", "staff"):
        getattr(world, name).language = "en"
    return world


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def sms(settings, tmp_path):
    settings.SAFECOACH_SMS_BACKEND = "file"
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    return SMSFile(tmp_path / "sms.jsonl")


@pytest.fixture
def sign_in(client):
    """Post the sign-in form; returns the response."""

    def post(email, password=PASSWORD, **extra):
        return client.post(
            reverse("accounts:login"), {"username": email, "password": password}, **extra
        )

    return post


def form_errors(response):
    """All error texts of the page's form, as one string."""
    form = response.context["form"]
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def pass_factor(http, sms=None, code=None):
    """Pass accounts:confirm_factor as the person would: the code texted to the current number
    (or `code`, from the app or a backup code). Returns the response of the code step."""
    page = http.get(reverse("accounts:confirm_factor"))
    assert page.status_code == 200
    return http.post(reverse("accounts:confirm_factor"), {"code": code or sms.last_code()})


def totp_key_on_page(response) -> str:
    """The authenticator key as the setup page shows it for typing in."""
    match = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', response.content.decode())
    return match.group(1).replace(" ", "")
