import logging
import time

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import Error as DatabaseFailure
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from safecoach import metrics

log = logging.getLogger(__name__)


@login_required
def home(request):
    """Send each role to its own start page."""
    user = request.user
    if user.is_manager:
        return redirect("organisations:people")
    if user.is_coach:
        return redirect("coaching:client_list")
    if user.is_client:
        return redirect("coaching:my_dialogue")
    if user.is_staff:
        return redirect("admin:index")
    return redirect("accounts:profile")


HEALTH_CACHE_KEY = "safecoach:healthz"


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseFailure as error:
        metrics.database_error(error)
        log.warning("health check: the database does not answer (%s)", type(error).__name__)
        return False


def _cache_answers() -> bool:
    try:
        token = str(time.monotonic_ns())
        cache.set(HEALTH_CACHE_KEY, token, 30)
        return cache.get(HEALTH_CACHE_KEY) == token
    except Exception as error:  # any backend's own error class: the cache is unreachable
        log.warning("health check: the cache does not answer (%s)", type(error).__name__)
        return False


@require_GET
@never_cache
def healthz(request):
    """For load balancers, deploys and monitoring: 200 "ok" when the database and the cache
    answer, else 503 with one word, the first part that does not: "database" or "cache"."""
    for reason, answers in (("database", _database_answers), ("cache", _cache_answers)):
        if not answers():
            return HttpResponse(f"{reason}\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
