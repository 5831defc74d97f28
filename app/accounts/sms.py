"""SMS gateways, chosen by settings.SAFECOACH_SMS_BACKEND (env SAFECOACH_SMS_BACKEND).

- `file`    (accounts.sms.FileSMSBackend): one JSON line per SMS appended to
             SAFECOACH_SMS_FILE; the lab and the tests read codes from it.
- `console` (accounts.sms.ConsoleSMSBackend): prints the SMS, for a developer.
- `http`    (accounts.sms.HttpSMSBackend): POSTs JSON to a provider at SAFECOACH_SMS_URL with
             the bearer token SAFECOACH_SMS_TOKEN, with a timeout and retries.

A gateway raises SMSError when it cannot deliver; callers show "we could not send the code, try
again" and log the failure without the text, which holds the code.
"""

import json
import logging
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from safecoach import metrics

log = logging.getLogger(__name__)

ALIASES = {
    "file": "accounts.sms.FileSMSBackend",
    "console": "accounts.sms.ConsoleSMSBackend",
    "http": "accounts.sms.HttpSMSBackend",
}


class SMSError(Exception):
    """The SMS could not be handed to the gateway. The message never contains the text."""


class BaseSMSBackend:
    def send(self, to: str, text: str) -> None:
        raise NotImplementedError


class FileSMSBackend(BaseSMSBackend):
    def __init__(self, path=None):
        self.path = Path(path or settings.SAFECOACH_SMS_FILE)

    def send(self, to, text):
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "to": to, "text": text}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as error:
            raise SMSError(f"cannot append to {self.path}: {error.strerror}") from None


class ConsoleSMSBackend(BaseSMSBackend):
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, to, text):
        self.stream.write(f"SMS to {to}: {text}\n")
        self.stream.flush()


class HttpSMSBackend(BaseSMSBackend):
    """A skeleton for a real provider: JSON {"to", "text", "sender"} with a bearer token.

    Retries connection errors and 5xx answers (SAFECOACH_SMS_RETRIES times, short pauses);
    a 4xx answer is final. Adapt `payload` and `accepted` to the provider chosen.
    """

    def __init__(self, url=None, token=None, timeout=None, retries=None, pause=0.5):
        self.url = url or settings.SAFECOACH_SMS_URL
        self.token = token if token is not None else settings.SAFECOACH_SMS_TOKEN
        self.timeout = timeout or settings.SAFECOACH_SMS_TIMEOUT
        self.retries = settings.SAFECOACH_SMS_RETRIES if retries is None else retries
        self.pause = pause
        if not self.url.startswith(("https://", "http://")):
            raise ImproperlyConfigured(
                "SAFECOACH_SMS_URL is not set to an http(s) URL; set it to the provider's address."
            )

    def payload(self, to, text):
        return {"to": to, "text": text, "sender": settings.SAFECOACH_SMS_SENDER}

    def accepted(self, status):
        return 200 <= status < 300

    def send(self, to, text):
        body = json.dumps(self.payload(to, text)).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        last = "no attempt made"
        for attempt in range(1 + self.retries):
            if attempt:
                time.sleep(self.pause * attempt)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if self.accepted(response.status):
                        return
                    last = f"status {response.status}"
            except urllib.error.HTTPError as error:
                last = f"status {error.code}"
                if error.code < 500:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                last = f"{type(error).__name__}"
        raise SMSError(f"the SMS gateway did not accept the message ({last})")


def get_backend() -> BaseSMSBackend:
    name = settings.SAFECOACH_SMS_BACKEND
    return import_string(ALIASES.get(name, name))()


def send_sms(to: str, text: str, user_id=None, kind="other") -> None:
    """Send through the configured gateway; failures are logged without the text and re-raised.

    `kind` (the purpose of the code) labels the count in safecoach_sms_total, never the number.
    """
    try:
        get_backend().send(to, text)
    except SMSError as error:
        metrics.sms(kind, sent=False)
        log.warning("SMS for user %s not sent: %s", user_id, error)
        raise
    except ImproperlyConfigured as error:
        metrics.sms(kind, sent=False)
        log.error("SMS for user %s not sent: %s", user_id, error)
        raise SMSError(str(error)) from None
    metrics.sms(kind, sent=True)
