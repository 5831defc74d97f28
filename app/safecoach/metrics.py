"""The app's metrics for Prometheus (prometheus_client); the series are in docs/monitoring-app.md.

Labels hold fixed names only: the URL name of the view (never the path), the HTTP method, the
status class, a throttle scope, a mail or SMS kind, a database error class. No address, id,
name or path of a person ever becomes a label value.

Gunicorn runs several worker processes. When PROMETHEUS_MULTIPROC_DIR names a writable folder,
prometheus_client's multiprocess mode is on: every process writes its values to files there and
a scrape of any worker adds them up (MultiProcessCollector). Without it, each process has the
default registry of its own, as for a developer's runserver. A PROMETHEUS_MULTIPROC_DIR that
does not exist or cannot be written is logged and ignored, so a metrics setting can never stop
the app (or a management command) from starting.

The metrics page (`metrics`) answers only requests from SAFECOACH_METRICS_ALLOWED (addresses or
networks; empty: nobody); everyone else gets the same 404 as for a page that does not exist.
"""

import ipaddress
import logging
import os
import sys
import time
from functools import lru_cache

import prometheus_client
from django.conf import settings
from django.core.signals import got_request_exception
from django.db import utils as db_utils
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from prometheus_client import Counter, Gauge, Histogram, multiprocess, values

log = logging.getLogger(__name__)


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, or None when the process keeps its own registry."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
        return path
    return ""


MULTIPROCESS_DIR = multiprocess_dir()
if MULTIPROCESS_DIR == "":
    log.warning(
        "PROMETHEUS_MULTIPROC_DIR is set but is not a writable folder; metrics are kept per "
        "process (each gunicorn worker answers with its own counts)."
    )
    # prometheus_client chose the file-backed values at import; metrics made from here on keep
    # their values in memory instead.
    values.ValueClass = values.MutexValue
    MULTIPROCESS_DIR = None

# Seconds: from a fast page to gunicorn's timeout (30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST"})

REQUESTS = Counter(
    "safecoach_http_requests_total",
    "Requests answered, by view (URL name), method and status class.",
    ["view", "method", "status_class"],
)
LATENCY = Histogram(
    "safecoach_http_request_duration_seconds",
    "Time from the request entering Django to the response leaving it, by view (URL name).",
    ["view"],
    buckets=LATENCY_BUCKETS,
)
WORKERS = Gauge(
    "safecoach_workers",
    "App processes serving requests (gunicorn workers alive).",
    multiprocess_mode="livesum",
)
DATABASE_ERRORS = Counter(
    "safecoach_database_errors_total",
    "Database errors that ended a request (a 500) or failed the health check, by error class.",
    ["error"],
)
SIGNIN_FAILURES = Counter(
    "safecoach_signin_failures_total",
    "Failed sign-in steps: password (sign-in), password_again (asked again), code (second "
    "step), locked (refused while a throttle counter was locked).",
    ["reason"],
)
THROTTLE_LOCKS = Counter(
    "safecoach_throttle_locks_total",
    "Throttle locks started, by scope (settings.SAFECOACH_THROTTLE).",
    ["scope"],
)
MAILS = Counter(
    "safecoach_mails_total",
    "Mails handed to the relay (sent) or refused by it (failed), by kind.",
    ["kind", "result"],
)
SMS = Counter(
    "safecoach_sms_total",
    "Texts handed to the SMS gateway (sent) or not (failed), by kind (code purpose).",
    ["kind", "result"],
)

SIGNIN_REASONS = ("password", "password_again", "code", "locked")
DATABASE_ERROR_CLASSES = (
    "OperationalError",
    "InterfaceError",
    "IntegrityError",
    "ProgrammingError",
    "DataError",
    "InternalError",
    "NotSupportedError",
    "DatabaseError",
    "Error",
)
RESULTS = ("sent", "failed")


def prepare(counter, label_sets) -> None:
    """Create the series at 0, so that rate() and absent() see them before the first event."""
    for labels in label_sets:
        counter.labels(*labels)


prepare(SIGNIN_FAILURES, [(reason,) for reason in SIGNIN_REASONS])
prepare(DATABASE_ERRORS, [(name,) for name in DATABASE_ERROR_CLASSES])
prepare(THROTTLE_LOCKS, [(scope,) for scope in settings.SAFECOACH_THROTTLE])


def prepare_kinds(counter, kinds) -> None:
    prepare(counter, [(kind, result) for kind in kinds for result in RESULTS])


# --- events -------------------------------------------------------------------------------


def signin_failed(reason: str) -> None:
    SIGNIN_FAILURES.labels(reason).inc()


def throttle_locked(scope: str) -> None:
    THROTTLE_LOCKS.labels(scope).inc()


def mail(kind: str, sent: bool) -> None:
    MAILS.labels(kind, "sent" if sent else "failed").inc()


def sms(kind: str, sent: bool) -> None:
    SMS.labels(kind, "sent" if sent else "failed").inc()


def database_error(error: BaseException) -> None:
    """Count a django.db error under the name of its class in the DB-API hierarchy."""
    for cls in type(error).__mro__:
        if cls.__module__ == db_utils.__name__ and cls.__name__ in DATABASE_ERROR_CLASSES:
            DATABASE_ERRORS.labels(cls.__name__).inc()
            return


def _on_request_exception(sender, request=None, **kwargs):
    """An exception ended (part of) a request: count database errors, once per request (a
    failing session can raise again in each middleware that reads the user)."""
    error = sys.exc_info()[1]
    if not isinstance(error, db_utils.Error):
        return
    if request is not None:
        if getattr(request, "_safecoach_database_error", False):
            return
        request._safecoach_database_error = True
    database_error(error)


got_request_exception.connect(_on_request_exception, dispatch_uid="safecoach-metrics-db-errors")


# --- requests -------------------------------------------------------------------------------


def _view_name(request, status: int) -> str:
    """The URL name of the view that answered ("unmatched" when no URL pattern matched,
    "NAMESPACE:unnamed" for a pattern without a name).

    A response made before the view was resolved (a middleware's redirect) is resolved here;
    a 404 without a match is not resolved twice.
    """
    match = getattr(request, "resolver_match", None)
    if match is None and status != 404:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
    if match is None:
        return "unmatched"
    if match.url_name is None:  # an unnamed pattern (the admin's catch-all): no dotted path
        return ":".join([*match.namespaces, "unnamed"])
    return match.view_name


class MetricsMiddleware:
    """First in MIDDLEWARE: counts and times every request by view, method and status class.

    Cheap on purpose: one clock read on each side, and the labelled series are kept in a dict
    of this process (prometheus_client's labels() takes a lock and builds a key every call).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._series = {}
        # In the worker process (gunicorn forks before Django loads without --preload).
        WORKERS.set(1)

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - start
        status = response.status_code
        view = _view_name(request, status)
        method = request.method if request.method in METHODS else "other"
        key = (view, method, status // 100)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                REQUESTS.labels(view, method, f"{status // 100}xx"),
                LATENCY.labels(view),
            )
        series[0].inc()
        series[1].observe(elapsed)
        return response


# --- the metrics page -----------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]):
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            log.error("SAFECOACH_METRICS_ALLOWED: %r is not an address or network; ignored", entry)
    return tuple(networks)


def address_allowed(address: str) -> bool:
    networks = _networks(tuple(settings.SAFECOACH_METRICS_ALLOWED))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def exposition() -> bytes:
    if MULTIPROCESS_DIR:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    else:
        registry = prometheus_client.REGISTRY
    return prometheus_client.generate_latest(registry)


def request_address(request) -> str:
    """The address the request came from: with SAFECOACH_CLIENT_IP_HEADER set (behind nginx,
    which writes that header itself), that header and nothing else; else the socket's."""
    header = settings.SAFECOACH_CLIENT_IP_HEADER
    if header:
        return request.META.get(header, "").split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


@never_cache
def metrics_view(request):
    """The exposition, for the monitoring host only; everyone else: the ordinary 404."""
    if not address_allowed(request_address(request)):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(exposition(), content_type=prometheus_client.CONTENT_TYPE_LATEST)
