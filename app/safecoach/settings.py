"""Settings for safecoach, read from the environment.

Every setting a deployment changes is a SAFECOACH_* environment variable, documented in
docs/configuration.md. Without any, the app runs for a developer: SQLite, console e-mail,
DEBUG off unless SAFECOACH_DEBUG=1.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from safecoach.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("SAFECOACH_DEBUG", False)
SECRET_KEY = env_str("SAFECOACH_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SAFECOACH_SECRET_KEY is not set; set it to a long random value "
            "(or set SAFECOACH_DEBUG=1 on a developer machine)."
        )
    SECRET_KEY = "insecure-development-only-key-never-use-it-on-a-server-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("SAFECOACH_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
SITE_URL = env_str("SAFECOACH_SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "organisations",
    "coaching",
    "privacy",
    "safecoach",
]

MIDDLEWARE = [
    # First: times and counts every request, including what the other middleware answers.
    "safecoach.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "safecoach.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "accounts.middleware.SignInPolicyMiddleware",
    "privacy.middleware.PrivacyMiddleware",
]

ROOT_URLCONF = "safecoach.urls"
WSGI_APPLICATION = "safecoach.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("SAFECOACH_DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Argon2id first; older hashes are upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        # Our user has full_name and email (Django's default list names first_name/last_name).
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "accounts.validators.DigitAndUppercaseValidator"},
]

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("SAFECOACH_STATIC_ROOT", str(BASE_DIR / "static_collected")))

# E-mail only notifies; any SMTP relay works. The console backend prints mail for a developer.
EMAIL_BACKEND = env_str("SAFECOACH_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("SAFECOACH_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("SAFECOACH_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("SAFECOACH_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("SAFECOACH_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("SAFECOACH_EMAIL_STARTTLS", False)
EMAIL_FILE_PATH = env_str("SAFECOACH_EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env_str("SAFECOACH_FROM_EMAIL", "safecoach <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Sessions and cookies: strict by default, relaxed only for a developer on plain HTTP.
SECURE = env_bool("SAFECOACH_SECURE", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SAFECOACH_SESSION_SECONDS", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if SECURE:
    SECURE_SSL_REDIRECT = env_bool("SAFECOACH_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SAFECOACH_HSTS_SECONDS", 63072000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SAFECOACH_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CSRF_TRUSTED_ORIGINS = env_list("SAFECOACH_CSRF_TRUSTED_ORIGINS", [])

# Sign-in security (docs/signin.md).
# Sessions end after this many seconds without a request (SESSION_COOKIE_AGE caps the total).
SAFECOACH_SESSION_IDLE_SECONDS = env_int("SAFECOACH_SESSION_IDLE_SECONDS", 30 * 60)
# Sensitive actions ask for the password again when it was last typed longer ago than this.
SAFECOACH_REAUTH_SECONDS = env_int("SAFECOACH_REAUTH_SECONDS", 5 * 60)
# Password reset links work once and expire after this many seconds.
PASSWORD_RESET_TIMEOUT = env_int("SAFECOACH_PASSWORD_RESET_SECONDS", 2 * 3600)
# Reset mails are handed to the relay on a background thread, so that the answer takes as long
# for a known address as for an unknown one (docs/signin.md).
SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND = env_bool("SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND", True)
# Invitation links work once and expire after this many days.
SAFECOACH_INVITATION_DAYS = env_int("SAFECOACH_INVITATION_DAYS", 7)
# Throttles: scope -> (attempts allowed, within seconds, then locked for seconds).
# A password attempt counts for the account and the address together, for the address, and for
# the account (the e-mail address typed). The account's limit must stay out of reach of one
# address alone (accounts.throttle.one_address_cannot_lock_the_account, checked by the tests):
# a flood from one address locks that address out, not the owner.
SAFECOACH_THROTTLE = {
    "login-account-address": (
        env_int("SAFECOACH_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", 5),
        15 * 60,
        env_int("SAFECOACH_LOGIN_LOCKOUT_SECONDS", 15 * 60),
    ),
    "login-address": (
        env_int("SAFECOACH_LOGIN_FAILURES_PER_ADDRESS", 30),
        15 * 60,
        env_int("SAFECOACH_LOGIN_LOCKOUT_SECONDS", 15 * 60),
    ),
    "login-account": (
        env_int("SAFECOACH_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR", 50),
        60 * 60,
        env_int("SAFECOACH_LOGIN_ACCOUNT_LOCKOUT_SECONDS", 15 * 60),
    ),
    "code": (5, 15 * 60, env_int("SAFECOACH_CODE_COOLDOWN_SECONDS", 5 * 60)),
    # Texts sent per person (all purposes): the 11th within an hour waits for the hour to end.
    "sms": (env_int("SAFECOACH_SMS_PER_HOUR", 10), 60 * 60, 60 * 60),
    "reset-account": (3, 60 * 60, 60 * 60),
    "reset-address": (20, 60 * 60, 60 * 60),
    # E-mail address changes asked for one account (by the person or their manager): each sends
    # two mails, so the 5th within a day closes the form for that account for a day.
    "email-change": (5, 24 * 60 * 60, 24 * 60 * 60),
}
# Throttle rows (keyed hashes, no readable addresses) are deleted after this many hours.
SAFECOACH_THROTTLE_RETENTION_HOURS = env_int("SAFECOACH_THROTTLE_RETENTION_HOURS", 24)
# Behind nginx: the request header holding the visitor's address (e.g. HTTP_X_REAL_IP).
SAFECOACH_CLIENT_IP_HEADER = env_str("SAFECOACH_CLIENT_IP_HEADER", "")
# Two-step codes by SMS: lifetime, and the least time between two codes.
SAFECOACH_CODE_SECONDS = 5 * 60
SAFECOACH_CODE_RESEND_SECONDS = 30
# SMS gateway: file, console, http, or a dotted path to a class (accounts/sms.py).
# Without debug the default is the real gateway, so codes never land in a server's log.
SAFECOACH_SMS_BACKEND = env_str("SAFECOACH_SMS_BACKEND", "console" if DEBUG else "http")
SAFECOACH_SMS_FILE = env_str("SAFECOACH_SMS_FILE", str(BASE_DIR / "var" / "sms.jsonl"))
SAFECOACH_SMS_URL = env_str("SAFECOACH_SMS_URL", "")
SAFECOACH_SMS_TOKEN = env_str("SAFECOACH_SMS_TOKEN", "")
SAFECOACH_SMS_TIMEOUT = env_int("SAFECOACH_SMS_TIMEOUT", 5)
SAFECOACH_SMS_RETRIES = env_int("SAFECOACH_SMS_RETRIES", 2)
SAFECOACH_SMS_SENDER = env_str("SAFECOACH_SMS_SENDER", "safecoach")
# Countries whose mobile numbers we text (ISO codes), and the one assumed for 06-numbers.
SAFECOACH_SMS_REGIONS = env_list("SAFECOACH_SMS_REGIONS", ["NL", "BE"])
SAFECOACH_SMS_DEFAULT_REGION = env_str("SAFECOACH_SMS_DEFAULT_REGION", "NL")

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("SAFECOACH_LOG_LEVEL", "INFO")},
}

# Metrics (docs/monitoring-app.md): the addresses or networks that may read /metrics (the
# monitoring host). Empty: nobody; every other visitor gets the ordinary 404. Behind nginx the
# address is the one SAFECOACH_CLIENT_IP_HEADER names, and nginx refuses the path itself too.
SAFECOACH_METRICS_ALLOWED = env_list("SAFECOACH_METRICS_ALLOWED", [])

# The dialogue page shows this many messages per page.
DIALOGUE_PAGE_SIZE = 30

# Privacy (docs/privacy.md): retention of inactive accounts, the access log, confirmations.
RETENTION_INACTIVE_DAYS = env_int("SAFECOACH_RETENTION_INACTIVE_DAYS", 730)
RETENTION_NOTICE_DAYS = env_int("SAFECOACH_RETENTION_NOTICE_DAYS", 30)
PRIVACY_ACCESS_LOG_DAYS = env_int("SAFECOACH_ACCESS_LOG_DAYS", 730)
PRIVACY_CONFIRMATION_SECONDS = env_int("SAFECOACH_PRIVACY_CONFIRMATION_SECONDS", 15 * 60)
PRIVACY_CONTACT_EMAIL = env_str("SAFECOACH_PRIVACY_EMAIL", "privacy@localhost")

# Key for secrets stored encrypted (TOTP keys; accounts/field_crypto.py): from the stage's vault.
# Empty: derived from SECRET_KEY with HKDF, so it is never in the database either way.
SAFECOACH_FIELD_KEY = env_str("SAFECOACH_FIELD_KEY", "")
