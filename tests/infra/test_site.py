"""The public site as a visitor meets it, probed once per stage from the controller (the
report's pseudo-host "stage"): the app's web promises on the stage itself.

Sign-in and password reset are probed with an account that exists only for the probe (manage.py
site_probe on the first web host, over SSH): an address under probe.invalid, never a person's,
removed with its records at the end whatever happened (docs/audit.md).
"""

import secrets
import shlex

import pytest
import testinfra

from tests.infra import probe

PAGES = ("/", "/account/login/", "/privacy/")
LOGIN = "/account/login/"
RESET = "/account/password/reset/"
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def site(stage):
    return probe.endpoint(stage)


@pytest.fixture(scope="module")
def first_web(request, stage):
    """The first web host over the stage's ssh_config (verify's --ssh-config), for the probe's
    account: one host, not every host as testinfra's `host` fixture would give."""
    name = stage.groups["web"][0]
    return testinfra.get_host(f"ssh://{name}", ssh_config=request.config.option.ssh_config)


def site_probe(web, *args: str) -> str:
    with web.sudo():
        out = web.run(shlex.join(["/usr/local/sbin/safecoach-manage", "site_probe", *args]))
    assert out.rc == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.control("APP-04")
def test_pages_load_nothing_from_elsewhere_under_a_strict_csp(site, evidence):
    for path in PAGES:
        answer = probe.fetch(site, path)
        headers = {
            name: answer.header(name)
            for name in (
                "Content-Security-Policy",
                "X-Content-Type-Options",
                "X-Frame-Options",
                "Referrer-Policy",
            )
        }
        evidence(f"GET {path}", {"status": answer.status, **headers})
        assert answer.status in (200, 302), path
        assert probe.csp_problems(headers["Content-Security-Policy"], site.name) == [], path
        assert (headers["X-Content-Type-Options"] or "").lower() == "nosniff", path
        assert probe.frames_denied(answer), path
        assert headers["Referrer-Policy"], path
        if answer.status == 200:
            offsite = probe.offsite_references(answer.body, site.name)
            assert evidence(f"references off the site in {path}", offsite) == [], path


@pytest.mark.control("APP-06")
def test_the_site_answers_over_https_only(site, evidence):
    plain = probe.fetch(site, LOGIN, scheme="http")
    evidence(f"GET http://…{LOGIN}", {"status": plain.status, "location": plain.header("location")})
    assert plain.status == 301
    assert plain.header("location") == f"https://{site.name}{LOGIN}"
    answer = probe.fetch(site, LOGIN)
    cookies = probe.cookies_set(answer)
    evidence(
        f"GET https://…{LOGIN}",
        {
            "status": answer.status,
            "strict-transport-security": answer.header("strict-transport-security"),
            "server": answer.header("server"),
            "cookies set (flags)": cookies,
        },
    )
    assert probe.hsts_max_age(answer.header("strict-transport-security")) >= YEAR
    assert not any(ch.isdigit() for ch in answer.header("server") or ""), "Server names a version"
    csrf = cookies[probe.CSRF_COOKIE]
    assert csrf["secure"] and csrf["samesite"], csrf
    # No session before signing in; when a page does start one, its cookie is as strict.
    # (manage.py check --deploy on the web hosts checks SESSION_COOKIE_SECURE too: test_app.)
    if probe.SESSION_COOKIE in cookies:
        session = cookies[probe.SESSION_COOKIE]
        assert session["secure"] and session["httponly"] and session["samesite"], session


def wrong_sign_in(site, address) -> probe.Answer:
    page = probe.fetch(site, LOGIN)
    form = {
        "csrfmiddlewaretoken": probe.csrf_token(page.body),
        "username": address,
        "password": secrets.token_urlsafe(16),
    }
    return probe.fetch(site, LOGIN, form=form, cookies=probe.cookie_values(page))


def reset_request(site, address) -> probe.Answer:
    page = probe.fetch(site, RESET)
    form = {"csrfmiddlewaretoken": probe.csrf_token(page.body), "email": address}
    return probe.fetch(site, RESET, form=form, cookies=probe.cookie_values(page))


@pytest.mark.control("AUTH-02")
def test_sign_in_and_reset_do_not_tell_whether_an_account_exists(site, stage, first_web, evidence):
    known, unknown = site_probe(first_web, "create").split()
    # the address the site counts the probe's attempts under: the controller's in the lab;
    # elsewhere unknown here, so those rows expire on their own (docs/audit.md)
    client = ["--client", stage.controller_address] if stage.lab else []
    try:
        signed = {a: probe.summary(wrong_sign_in(site, a), a) for a in (known, unknown)}
        reset = {a: probe.summary(reset_request(site, a), a) for a in (known, unknown)}
    finally:
        removed = site_probe(first_web, "remove", known, unknown, *client)
    evidence("probe addresses (an account, none)", [known, unknown])
    evidence("sign-in with a wrong password (account, none)", [signed[known], signed[unknown]])
    evidence("password reset request (account, none)", [reset[known], reset[unknown]])
    evidence("site_probe remove", removed.strip())
    left = evidence("probe accounts left", site_probe(first_web, "list").split())
    assert probe.differences(signed[known], signed[unknown]) == []
    assert signed[known]["status"] == 200 and signed[known]["errors"]
    assert probe.differences(reset[known], reset[unknown]) == []
    assert reset[known]["status"] == 302
    assert removed.startswith("removed 1 probe accounts") and known not in left
