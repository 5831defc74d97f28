"""The SMS gateways: file, console, and HTTP against a local server this test starts."""

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from accounts.models import OneTimeCode
from accounts.sms import ConsoleSMSBackend, FileSMSBackend, HttpSMSBackend, SMSError, get_backend

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]


def test_the_file_gateway_writes_one_json_line_per_sms(tmp_path):
    path = tmp_path / "sub" / "sms.jsonl"
    gateway = FileSMSBackend(path)
    gateway.send("+31612345678", "one")
    gateway.send("+31612345678", "two")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["to"], r["text"]) for r in lines] == [
        ("+31612345678", "one"),
        ("+31612345678", "two"),
    ]


def test_the_console_gateway_prints():
    out = io.StringIO()
    ConsoleSMSBackend(out).send("+31612345678", "hello")
    assert out.getvalue() == "SMS to +31612345678: hello\n"


def test_the_setting_chooses_the_gateway(settings):
    settings.SAFECOACH_SMS_BACKEND = "console"
    assert isinstance(get_backend(), ConsoleSMSBackend)
    settings.SAFECOACH_SMS_BACKEND = "accounts.sms.FileSMSBackend"
    assert isinstance(get_backend(), FileSMSBackend)
    settings.SAFECOACH_SMS_BACKEND = "http"
    settings.SAFECOACH_SMS_URL = ""
    with pytest.raises(ImproperlyConfigured, match="SAFECOACH_SMS_URL"):
        get_backend()


class Provider:
    """A provider on 127.0.0.1 answering with the given statuses in turn."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                provider.requests.append((dict(self.headers), json.loads(body)))
                status = provider.statuses.pop(0) if provider.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_the_http_gateway_posts_json_with_the_token():
    with Provider([200]) as provider:
        HttpSMSBackend(url=provider.url, token="t0ken", pause=0).send("+31612345678", "hi")
    [(headers, body)] = provider.requests
    assert headers["Authorization"] == "Bearer t0ken"
    assert body["to"] == "+31612345678" and body["text"] == "hi"


def test_the_http_gateway_retries_server_errors():
    with Provider([503, 502, 200]) as provider:
        HttpSMSBackend(url=provider.url, token="t", retries=2, pause=0).send("+31612345678", "x")
    assert len(provider.requests) == 3


def test_the_http_gateway_does_not_retry_a_refusal():
    with Provider([401, 200]) as provider, pytest.raises(SMSError, match="status 401"):
        HttpSMSBackend(url=provider.url, token="t", retries=2, pause=0).send("+31612345678", "x")
    assert len(provider.requests) == 1


def test_the_http_gateway_gives_up_after_the_retries():
    with Provider([500, 500, 500]) as provider, pytest.raises(SMSError):
        HttpSMSBackend(url=provider.url, token="t", retries=2, pause=0).send("+31612345678", "x")
    assert len(provider.requests) == 3


def test_an_unreachable_provider_is_an_sms_error():
    with Provider([]) as provider:
        url = provider.url
    with pytest.raises(SMSError):
        HttpSMSBackend(url=url, token="t", retries=1, pause=0, timeout=1).send("+31612345678", "x")


def test_a_failing_provider_is_one_sentence_for_the_person_and_a_log_without_the_code(
    world, login, settings, caplog
):
    settings.SAFECOACH_SMS_BACKEND = "http"
    settings.SAFECOACH_SMS_RETRIES = 0
    with Provider([500]) as provider, caplog.at_level(logging.WARNING):
        settings.SAFECOACH_SMS_URL = provider.url
        response = login(world.coach_a).post(
            reverse("accounts:two_factor_sms"), {"phone": "+31612345678"}
        )
    [(_headers, body)] = provider.requests
    code = body["text"].split()[4].rstrip(".")
    assert code.isdigit()
    assert "We could not send the code; please try again." in response.content.decode()
    assert "not sent" in caplog.text and code not in caplog.text
    assert not OneTimeCode.objects.exists()


def test_an_unconfigured_provider_is_a_clear_log_line_and_a_clear_sentence(
    world, login, settings, caplog
):
    settings.SAFECOACH_SMS_BACKEND = "http"
    settings.SAFECOACH_SMS_URL = ""
    with caplog.at_level(logging.ERROR):
        response = login(world.coach_a).post(
            reverse("accounts:two_factor_sms"), {"phone": "+31612345678"}
        )
    assert "We could not send the code; please try again." in response.content.decode()
    assert "SAFECOACH_SMS_URL is not set" in caplog.text
