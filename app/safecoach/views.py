from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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


@require_GET
@never_cache
def healthz(request):
    """For load balancers and deploys: answers 200 only when the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")
