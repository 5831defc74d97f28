"""The app's metrics (safecoach.metrics, docs/monitoring-app.md): what they count, and who sees them.

The metrics page is attacked as a visitor, a signed-in manager and staff, from addresses that are
not allowed and with forged address headers: each gets the ordinary 404. An allowed address gets
the exposition, which is then searched for the people and the dialogue made before: no e-mail
address, name, id, path or dialogue text may appear anywhere in it.
"""

import re

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts import twofactor
from accounts.mail import send_account_mail
from accounts.models import CodePurpose
from accounts.sms import SMSError
from coaching.notifications import notify
from tests.app.urlpatterns import all_patterns
from tests.fixtures.world import PASSWORD, SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("MON-10")]

MONITOR = "10.20.30.40"
ALLOWED = override_settings(SAFECOACH_METRICS_ALLOWED=["10.20.30.0/24"])


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client=None, address=MONITOR, **headers):
    with ALLOWED:
        return (client or Client()).get("/metrics", REMOTE_ADDR=address, **headers)


def page(response):
    """The page without its CSRF tokens, which differ with every answer."""
    return re.sub(rb'value="[A-Za-z0-9]{32,}"', b"", response.content)


def not_found_page(client):
    """The 404 of a path that never existed, with its path (in the page's links) as /metrics."""
    return page(client.get("/metricx")).replace(b"/metricx", b"/metrics")


# --- who gets the page ----------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["anonymous", "manager", "staff"])
@pytest.mark.parametrize("allowed", [[], ["10.20.30.0/24"]], ids=["nobody-allowed", "monitor-only"])
def test_visitors_managers_and_staff_get_the_ordinary_404(world, login, actor, allowed):
    client = login(world.actor(actor))
    with override_settings(SAFECOACH_METRICS_ALLOWED=allowed):
        for method in (client.get, client.post, client.head, client.options):
            response = method("/metrics")
            assert response.status_code == 404, method
            assert b"safecoach_" not in response.content
        assert page(client.get("/metrics")) == not_found_page(client)


def test_nobody_is_allowed_by_default_not_even_the_monitoring_address(db):
    response = Client().get("/metrics", REMOTE_ADDR=MONITOR)
    assert response.status_code == 404


def test_forged_address_headers_do_not_open_the_page(db):
    """Without a configured header the socket's address counts; with one, only that header."""
    client = Client()
    forged = {"HTTP_X_FORWARDED_FOR": MONITOR, "HTTP_X_REAL_IP": MONITOR, "HTTP_FORWARDED": MONITOR}
    assert scrape(client, address="192.0.2.7", **forged).status_code == 404
    with override_settings(SAFECOACH_CLIENT_IP_HEADER="HTTP_X_REAL_IP"):
        # nginx overwrites X-Real-IP with the visitor's address; the socket's address (nginx's
        # own, or the monitoring host's on a direct connection) no longer counts, even when the
        # header is missing.
        assert scrape(client, address=MONITOR, HTTP_X_REAL_IP="192.0.2.7").status_code == 404
        assert scrape(client, address=MONITOR, HTTP_X_FORWARDED_FOR=MONITOR).status_code == 404
        assert scrape(client, address=MONITOR).status_code == 404
        assert scrape(client, address="192.0.2.7", HTTP_X_REAL_IP=MONITOR).status_code == 200


def test_garbage_in_the_allowed_list_or_the_address_allows_nothing(db):
    with override_settings(SAFECOACH_METRICS_ALLOWED=["not-an-address", "10.20.30.0/99"]):
        assert Client().get("/metrics", REMOTE_ADDR=MONITOR).status_code == 404
    with ALLOWED:
        assert Client().get("/metrics", REMOTE_ADDR="unknown").status_code == 404


def test_an_allowed_address_gets_the_exposition(db):
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "safecoach_http_requests",
        "safecoach_http_request_duration_seconds",
        "safecoach_workers",
        "safecoach_database_errors",
        "safecoach_signin_failures",
        "safecoach_throttle_locks",
        "safecoach_mails",
        "safecoach_sms",
    } <= names
    with ALLOWED:
        assert Client().post("/metrics", REMOTE_ADDR=MONITOR).status_code == 405


# --- no personal data -----------------------------------------------------------------------


def test_the_exposition_holds_no_personal_data(
    world, login, client, django_capture_on_commit_callbacks
):
    """People and dialogue are made and used in every way that counts; then scrape and grep."""
    people = [
        world.manager,
        world.coach_a,
        world.coach_b,
        world.client_a,
        world.client_b,
        world.other_manager,
        world.staff,
    ]
    visits = [
        reverse("coaching:dialogue", kwargs={"client_id": world.client_a.pk}),
        reverse("coaching:assignment_detail", kwargs={"pk": world.assignment.pk}),
        reverse("coaching:notes", kwargs={"client_id": world.client_a.pk}),
        reverse("organisations:person_edit", kwargs={"pk": world.client_a.pk}),
        f"/dialogue/{world.client_b.pk}/?q={world.client_b.email}",
        f"/no-such-page/{world.client_a.email}/{world.client_a.full_name}/",
    ]
    anonymous = Client()
    # Failed and locked sign-ins with the e-mail address typed; a real sign-in.
    for _ in range(7):
        anonymous.post(
            reverse("accounts:login"), {"username": world.client_a.email, "password": "wrong"}
        )
    anonymous.post(
        reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD}
    )
    for path in visits:
        anonymous.get(path)
    for person in (world.coach_a, world.manager, world.staff):
        signed_in = login(person)
        for path in visits:
            signed_in.get(path)
    login(world.coach_a).post(
        reverse("coaching:dialogue", kwargs={"client_id": world.client_a.pk}),
        {"body": f"Another {SECRET} message"},
    )
    # Mail and SMS.
    with django_capture_on_commit_callbacks(execute=True):
        notify(world.client_a, "message")
    send_account_mail(world.client_b, "password_changed", "https://example.test/x")
    twofactor.send_code(world.client_b, CodePurpose.ENROL, "+31612345678")
    assert mail.outbox

    text = scrape().content.decode()
    needles = [SECRET, "+31612345678", "612345678", "example.test", "/dialogue", "/no-such"]
    for person in people:
        needles += [person.email, person.full_name]
    needles += [world.org_a.name, world.org_b.name]
    for needle in needles:
        assert needle.lower() not in text.lower(), needle
    assert "@" not in text
    url_names = {key for key, _route, _pattern in all_patterns()} | {"unmatched"}
    families = [f for f in text_string_to_metric_families(text) if f.name.startswith("safecoach_")]
    for family in families:
        for sample in family.samples:
            for label, label_value in sample.labels.items():
                if label == "le":
                    continue
                if label == "status_class":
                    assert label_value in {"1xx", "2xx", "3xx", "4xx", "5xx"}
                    continue
                if label == "view":  # a URL name the app defines (some hold digits: jsi18n)
                    unnamed = re.fullmatch(r"([a-z_]+:)*unnamed", label_value)
                    assert label_value in url_names or unnamed, label_value
                    continue
                # Fixed names only: no digit (an id), no "/" (a path), no "@" (an address).
                assert re.fullmatch(r"[A-Za-z][A-Za-z_:.\-]*", label_value), (label, label_value)
    # The views of the visits are there, by URL name.
    assert 'view="coaching:dialogue"' in text
    assert 'view="unmatched"' in text


# --- what is counted ------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_url_name_method_and_status_class(db):
    labels = {"view": "healthz", "method": "GET", "status_class": "2xx"}
    before = value("safecoach_http_requests_total", **labels)
    timed = value("safecoach_http_request_duration_seconds_count", view="healthz")
    assert Client().get("/healthz").status_code == 200
    assert value("safecoach_http_requests_total", **labels) == before + 1
    assert value("safecoach_http_request_duration_seconds_count", view="healthz") == timed + 1

    not_allowed = {"view": "healthz", "method": "POST", "status_class": "4xx"}
    before = value("safecoach_http_requests_total", **not_allowed)
    Client().post("/healthz")
    assert value("safecoach_http_requests_total", **not_allowed) == before + 1

    odd = {"view": "healthz", "method": "other", "status_class": "4xx"}
    before = value("safecoach_http_requests_total", **odd)
    Client().generic("PROPFIND", "/healthz")
    assert value("safecoach_http_requests_total", **odd) == before + 1


def test_unknown_paths_and_redirects_of_middleware_have_a_fixed_name(world, login):
    unmatched = {"view": "unmatched", "method": "GET", "status_class": "4xx"}
    before = value("safecoach_http_requests_total", **unmatched)
    Client().get(f"/people/{world.client_a.pk}/{world.client_a.email}")
    assert value("safecoach_http_requests_total", **unmatched) == before + 1

    # A view's own redirect (sign-in required) is counted under the view.
    redirected = {"view": "coaching:client_list", "method": "GET", "status_class": "3xx"}
    before = value("safecoach_http_requests_total", **redirected)
    assert Client().get(reverse("coaching:client_list")).status_code == 302
    assert value("safecoach_http_requests_total", **redirected) == before + 1


def test_a_database_error_that_ends_a_request_is_counted(world, login, monkeypatch):
    from django.db import OperationalError, connections

    client = login(world.coach_a)
    client.raise_request_exception = False
    before = value("safecoach_database_errors_total", error="OperationalError")
    errors = {"view": "coaching:client_list", "method": "GET", "status_class": "5xx"}
    failed = value("safecoach_http_requests_total", **errors)

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connections["default"], "cursor", refuse)
    response = client.get(reverse("coaching:client_list"))
    monkeypatch.undo()
    assert response.status_code == 500
    assert value("safecoach_database_errors_total", error="OperationalError") == before + 1
    # The session is read before the view is resolved: still counted under the view's name.
    assert value("safecoach_http_requests_total", **errors) == failed + 1


def test_sign_in_failures_and_throttle_locks(world, settings):
    limit = settings.SAFECOACH_THROTTLE["login-account-address"][0]
    wrong = value("safecoach_signin_failures_total", reason="password")
    locked = value("safecoach_signin_failures_total", reason="locked")
    locks = value("safecoach_throttle_locks_total", scope="login-account-address")
    client = Client()
    for _ in range(limit + 2):
        client.post(
            reverse("accounts:login"), {"username": world.client_a.email, "password": "wrong"}
        )
    assert value("safecoach_signin_failures_total", reason="password") == wrong + limit
    assert value("safecoach_signin_failures_total", reason="locked") == locked + 2
    assert value("safecoach_throttle_locks_total", scope="login-account-address") == locks + 1


def test_a_right_password_on_the_last_attempt_starts_no_lock(world, settings):
    limit = settings.SAFECOACH_THROTTLE["login-account-address"][0]
    locks = value("safecoach_throttle_locks_total", scope="login-account-address")
    client = Client()
    for _ in range(limit - 1):
        client.post(
            reverse("accounts:login"), {"username": world.client_a.email, "password": "wrong"}
        )
    client.post(reverse("accounts:login"), {"username": world.client_a.email, "password": PASSWORD})
    assert value("safecoach_throttle_locks_total", scope="login-account-address") == locks


def test_wrong_codes_and_their_lock(world, settings):
    limit = settings.SAFECOACH_THROTTLE["code"][0]
    wrong = value("safecoach_signin_failures_total", reason="code")
    locked = value("safecoach_signin_failures_total", reason="locked")
    locks = value("safecoach_throttle_locks_total", scope="code")
    twofactor.new_backup_codes(world.client_a)
    for _ in range(limit + 1):
        with pytest.raises(twofactor.CodeError):
            twofactor.check_backup_code(world.client_a, "0000-0000")
    assert value("safecoach_signin_failures_total", reason="code") == wrong + limit
    assert value("safecoach_signin_failures_total", reason="locked") == locked + 1
    assert value("safecoach_throttle_locks_total", scope="code") == locks + 1


def test_mails_sent_and_failed_by_kind(world, monkeypatch, django_capture_on_commit_callbacks):
    sent = value("safecoach_mails_total", kind="password_changed", result="sent")
    failed = value("safecoach_mails_total", kind="password_changed", result="failed")
    send_account_mail(world.client_a, "password_changed", "https://site.test/login/")
    assert value("safecoach_mails_total", kind="password_changed", result="sent") == sent + 1

    def relay_down(*args, **kwargs):
        raise ConnectionRefusedError("relay down")

    monkeypatch.setattr("accounts.mail.send_mail", relay_down)
    send_account_mail(world.client_a, "password_changed", "https://site.test/login/")
    assert value("safecoach_mails_total", kind="password_changed", result="failed") == failed + 1

    notified = value("safecoach_mails_total", kind="assignment", result="sent")
    with django_capture_on_commit_callbacks(execute=True):
        notify(world.client_a, "assignment")
    assert value("safecoach_mails_total", kind="assignment", result="sent") == notified + 1
    # Every kind is there from the start, at 0 if nothing was sent.
    assert (
        REGISTRY.get_sample_value(
            "safecoach_mails_total", {"kind": "backup_codes", "result": "failed"}
        )
        is not None
    )


def test_sms_sent_and_failed_by_kind(world, settings, tmp_path):
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    sent = value("safecoach_sms_total", kind="enrol", result="sent")
    failed = value("safecoach_sms_total", kind="signin", result="failed")
    twofactor.send_code(world.client_a, CodePurpose.ENROL, "+31612345678")
    assert value("safecoach_sms_total", kind="enrol", result="sent") == sent + 1

    settings.SAFECOACH_SMS_BACKEND = "http"
    settings.SAFECOACH_SMS_URL = ""  # not configured: the gateway refuses at once
    with pytest.raises(twofactor.CodeError):
        twofactor.send_code(world.client_b, CodePurpose.SIGNIN, "+31612345679")
    assert value("safecoach_sms_total", kind="signin", result="failed") == failed + 1
    with pytest.raises(SMSError):
        from accounts.sms import send_sms

        send_sms("+31612345679", "text")
    assert value("safecoach_sms_total", kind="other", result="failed") >= 1


def test_an_unnamed_pattern_is_labelled_by_its_namespace_not_its_path(db):
    labels = {"view": "admin:unnamed", "method": "GET", "status_class": "3xx"}
    before = value("safecoach_http_requests_total", **labels)
    Client().get("/admin/no-such-page/")
    assert value("safecoach_http_requests_total", **labels) == before + 1
