"""The privacy pages: a person's own rights, and the staff pages that handle requests.

Own pages (`mine`, `export`, `request`, `delete`) only ever show or change the signed-in person;
no URL carries another person's id. The staff pages answer 404 to anyone but active platform
staff and never show dialogue content.
"""

from datetime import date
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.decorators import password_confirmed
from coaching.models import Answer, Assignment, Comment, Message
from privacy import export
from privacy.access_log import record_access
from privacy.erasure import count_data, erase_user
from privacy.forms import (
    DeleteAccountForm,
    ExportForm,
    HandleRequestForm,
    PrivacyRequestForm,
    StaffEraseForm,
)
from privacy.models import (
    AccessKind,
    AccessLogEntry,
    PrivacyRequest,
    ProcessingRestriction,
    RequestKind,
    RequestSource,
    RequestStatus,
)
from privacy.restriction import is_restricted

COUNT_LABELS = {
    "messages": gettext_lazy("Messages"),
    "assignments": gettext_lazy("Assignments"),
    "answers": gettext_lazy("Answers"),
    "comments": gettext_lazy("Comments"),
    "notes": gettext_lazy("Private notes"),
    "access_log": gettext_lazy("Access log entries"),
}


def _labelled(counts):
    return [(COUNT_LABELS[key], value) for key, value in counts.items()]


STATEMENT_VERSION = "1.1"
STATEMENT_DATE = date(2026, 11, 27)  # shown in the reader's language (a date, not a string)


@require_GET
def statement(request):
    """The privacy statement: public, versioned here."""
    return render(
        request,
        "privacy/statement.html",
        {
            "version": STATEMENT_VERSION,
            "date": STATEMENT_DATE,
            "contact_email": settings.PRIVACY_CONTACT_EMAIL,
        },
    )


# The export's fields that hold an ISO 8601 moment or date (privacy/export.py).
EXPORT_MOMENTS = {
    "exported_at",
    "date_joined",
    "last_login",
    "last_activity",
    "sent_at",
    "read_at",
    "given_at",
    "answered_at",
    "updated_at",
    "written_at",
    "at",
    "received_at",
    "deadline",
    "handled_at",
}
EXPORT_DATES = {"due_date"}


def readable(data):
    """The export with its ISO 8601 strings turned back into datetimes and dates, so that a
    page shows them like every other date: in the reader's language and the site's time zone
    (settings.TIME_ZONE), not as UTC text with microseconds."""
    if isinstance(data, list):
        return [readable(item) for item in data]
    if not isinstance(data, dict):
        return data
    result = {}
    for key, value in data.items():
        if isinstance(value, str) and key in EXPORT_MOMENTS:
            value = parse_datetime(value) or value
        elif isinstance(value, str) and key in EXPORT_DATES:
            value = parse_date(value) or value
        else:
            value = readable(value)
        result[key] = value
    return result


def _held_data(user):
    """Counts of what the platform holds about `user`, by kind, as the person may see it."""
    if user.is_client:
        assignments = Assignment.objects.filter(client=user)
        return {
            "messages": Message.objects.filter(client=user).count(),
            "assignments": assignments.count(),
            "answers": Answer.objects.filter(assignment__in=assignments).count(),
            "comments": Comment.objects.filter(assignment__in=assignments).count(),
        }
    if user.is_coach:
        assignments = Assignment.objects.for_user(user).filter(coach=user)
        return {
            "messages": Message.objects.for_user(user).filter(sender=user).count(),
            "assignments": assignments.count(),
            "comments": Comment.objects.filter(assignment__in=assignments).count(),
        }
    return {}


@require_GET
@login_required
def mine(request):
    """Inzage: everything held about the signed-in person, grouped, with links to the full text."""
    user = request.user
    entries = list(AccessLogEntry.objects.for_user(user).select_related("actor")[:200])
    for entry in entries:
        entry.actor_name = export.actor_name(entry, user)
    context = {
        "held": _labelled(_held_data(user)),
        "entries": entries,
        "requests": PrivacyRequest.objects.for_user(user),
        "restricted": is_restricted(user),
        "version": STATEMENT_VERSION,
        "date": STATEMENT_DATE,
    }
    return render(request, "privacy/mine.html", context)


@require_GET
@password_confirmed
def my_data(request):
    """Inzage in full: everything of the export, readable on one page (the person's own).

    It shows as much as the download, so it asks for the password again like the download does
    (a recent confirmation, accounts.decorators.password_confirmed)."""
    data = readable(export.build_export(request.user))
    context = {
        "profile": data["profile.json"]["profile"],
        "messages_": data["dialogue.json"]["messages"],
        "assignments": data["assignments.json"]["assignments"],
    }
    return render(request, "privacy/data.html", context)


@login_required
def export_data(request):
    """Download a copy: behind the password, logged."""
    form = ExportForm(request.user, request.POST or None, request=request)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "privacy/export.html", {"form": form})
        now = timezone.now()
        record_access(request.user, request.user, AccessKind.EXPORT, now=now, coalesce=False)
        data = export.build_zip(request.user, now=now)
        response = HttpResponse(data, content_type="application/zip")
        name = f"safecoach-export-{now:%Y%m%d-%H%M%S}.zip"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(request, "privacy/export.html", {"form": form})


@login_required
def make_request(request):
    """Ask for a correction, erasure, restriction, objection, access, or file a complaint."""
    form = PrivacyRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user
        PrivacyRequest.objects.create(
            user=user,
            organisation=user.organisation,
            role=user.role or ("staff" if user.is_staff else ""),
            kind=form.cleaned_data["kind"],
            details=form.cleaned_data["details"].strip(),
        )
        messages.success(
            request,
            _("Your request has been received. We answer within one month."),
        )
        return redirect("privacy:mine")
    return render(request, "privacy/request.html", {"form": form})


@login_required
def delete_account(request):
    """A client erases their own account; coaches and managers ask their organisation."""
    user = request.user
    if not user.is_client:
        raise Http404
    form = DeleteAccountForm(user, request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        erase_user(user, source=RequestSource.SELF_SERVICE)
        logout(request)
        messages.success(request, _("Your account and all its data have been erased."))
        return redirect("privacy:statement")
    return render(request, "privacy/delete.html", {"form": form, "held": _held_data(user)})


# --- platform staff -------------------------------------------------------------------------


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not (request.user.is_active and request.user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@staff_required
def staff_requests(request):
    """Privacy requests, open ones first by deadline; metadata only."""
    rows = PrivacyRequest.objects.select_related("organisation")
    open_rows = rows.filter(status=RequestStatus.OPEN).order_by("due_at", "id")
    closed_rows = rows.exclude(status=RequestStatus.OPEN).order_by("-handled_at", "-id")[:100]
    return render(
        request,
        "privacy/staff_requests.html",
        {"open_requests": open_rows, "closed_requests": closed_rows, "now": timezone.now()},
    )


@staff_required
def staff_request(request, pk):
    """One request: the person's profile (logged), and what staff can do with it."""
    privacy_request = get_object_or_404(
        PrivacyRequest.objects.select_related("user", "organisation", "handled_by"), pk=pk
    )
    person = privacy_request.user
    handle_form = HandleRequestForm(
        request.POST if request.POST.get("action") == "handle" else None
    )
    erase_form = StaffEraseForm(request.POST if request.POST.get("action") == "erase" else None)
    if request.method == "POST":
        action = request.POST.get("action")
        result = _staff_action(request, privacy_request, person, action, handle_form, erase_form)
        if result is not None:
            return result
    if person is not None:
        record_access(request.user, person, AccessKind.PRIVACY_REQUEST)
    context = {
        "req": privacy_request,
        "person": person,
        "restricted": is_restricted(person),
        "held": _labelled(count_data(person)) if person else None,
        "handle_form": handle_form,
        "erase_form": erase_form,
    }
    return render(request, "privacy/staff_request.html", context)


def _close(privacy_request, staff, status, outcome):
    privacy_request.status = status
    privacy_request.outcome = outcome
    privacy_request.handled_by = staff
    privacy_request.handled_at = timezone.now()
    privacy_request.save()


def _staff_action(request, privacy_request, person, action, handle_form, erase_form):
    """Carry out `action`; a redirect when done, None when the page must show an error."""
    staff = request.user
    back = redirect("privacy:staff_request", pk=privacy_request.pk)
    if action == "handle":
        if not privacy_request.is_open:
            messages.error(request, _("This request has already been handled."))
            return back
        if handle_form.is_valid():
            _close(
                privacy_request,
                staff,
                handle_form.cleaned_data["status"],
                handle_form.cleaned_data["outcome"],
            )
            messages.success(request, _("The request has been closed."))
            return back
        return None
    if action == "erase":
        if (
            person is None
            or privacy_request.kind != RequestKind.ERASURE
            or not privacy_request.is_open
        ):
            messages.error(
                request,
                _("Only an open erasure request of an existing account can be carried out."),
            )
            return back
        if person.is_staff:
            messages.error(request, _("Platform staff accounts are not erased from this page."))
            return back
        if erase_form.is_valid():
            erase_user(
                person,
                source=RequestSource.USER,
                handled_by=staff,
                privacy_request=privacy_request,
            )
            messages.success(request, _("The account has been erased and the request closed."))
            return redirect("privacy:staff_requests")
        return None
    if action in {"restrict", "lift"}:
        if person is None:
            messages.error(request, _("The account of this request no longer exists."))
            return back
        with transaction.atomic():
            if action == "restrict":
                ProcessingRestriction.objects.get_or_create(
                    user=person, defaults={"request": privacy_request}
                )
                if privacy_request.is_open and privacy_request.kind == RequestKind.RESTRICTION:
                    _close(
                        privacy_request,
                        staff,
                        RequestStatus.DONE,
                        "Processing restricted.",
                    )
                messages.success(request, _("Processing of this account is now restricted."))
            else:
                lifted = ProcessingRestriction.objects.filter(user=person).delete()[0]
                if lifted and privacy_request.kind == RequestKind.RESTRICTION:
                    privacy_request.outcome = (
                        f"{privacy_request.outcome} Restriction lifted {timezone.now():%Y-%m-%d}."
                    ).strip()
                    privacy_request.save(update_fields=["outcome"])
                messages.success(request, _("The restriction has been lifted."))
        return back
    messages.error(request, _("Unknown action; nothing was changed."))
    return back
