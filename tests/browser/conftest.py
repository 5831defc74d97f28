"""Headless Chromium (Debian's package) driven by Playwright against the app.

Playwright may not download browsers here: it launches /usr/bin/chromium. Every page the tests
open is watched for Content-Security-Policy violations and console errors, which fail the test.
"""

import os
import shutil

import pytest

from tests.fixtures.world import *  # noqa: F403 - its fixtures (__all__)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install chromium (scripts/test installs it).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary synchronous calls. Only while the browser runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class Visitor:
    """One person's browser: a context of its own, and the page problems it saw."""

    def __init__(self, browser, base_url):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 390, "height": 844})
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message):
        # HTTP statuses are the tests' own business; anything else (a CSP refusal, a script
        # error) is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def go(self, path):
        response = self.page.goto(self.base_url + path)
        return response.status

    def sign_in(self, email, password):
        self.go("/account/login/")
        self.page.fill("input[name=username]", email)
        self.page.fill("input[name=password]", password)
        self.page.click("main button[type=submit]")

    def close(self):
        self.context.close()


@pytest.fixture
def visitor(chromium, live_server):
    """visitor() opens a fresh browser context; all are closed after the test."""
    opened = []

    def open_one():
        one = Visitor(chromium, live_server.url)
        opened.append(one)
        return one

    yield open_one
    problems = [p for one in opened for p in one.problems]
    for one in opened:
        one.close()
    assert problems == [], "the browser reported problems (CSP violations count)"
