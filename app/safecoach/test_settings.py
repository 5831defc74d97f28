"""Settings for the test suite: the real settings, with a throwaway key and fast hashing.

HTTPS-only behaviour (redirects, secure cookies, HSTS) is switched off because Django's test
client speaks plain HTTP; tests/test_deploy_check.py checks the production settings separately.
"""

import os
import tempfile

os.environ.setdefault("SAFECOACH_SECRET_KEY", "test-only-key-" + "x" * 50)
os.environ.setdefault("SAFECOACH_SECURE", "0")

from safecoach.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Account mail is sent in the request, so tests find it in mail.outbox at once.
SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND = False
# SMS codes go to a file that tests read (accounts/tests set a file per test).
SAFECOACH_SMS_BACKEND = "file"
SAFECOACH_SMS_FILE = os.path.join(tempfile.gettempdir(), f"safecoach-test-sms-{os.getpid()}.jsonl")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
