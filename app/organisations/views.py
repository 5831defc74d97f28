"""The manager screens: the people of one organisation, never anything of the dialogue.

Every object is looked up through `User.objects.managed_by(request.user)`: a person of another
organisation, a manager, platform staff or an unknown id all answer 404, and so does every page
here for anyone who is not an active organisation manager.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import email_change
from accounts.invitations import invitable, send_invitation
from accounts.models import Role, User
from accounts.twofactor import record_phone, two_factor_of
from organisations import services
from organisations.forms import ClientCoachForm, PersonCreateForm, PersonEditForm


def manager_required(view):
    """Sign-in first (anonymous users go to the login page), then 404 for non-managers."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_active or not user.is_manager or user.organisation_id is None:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _managed_person(request, pk, **filters):
    return get_object_or_404(
        User.objects.managed_by(request.user).select_related("coach").filter(**filters), pk=pk
    )


ROLE_ORDER = Case(
    When(role=Role.MANAGER, then=Value(0)),
    When(role=Role.COACH, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


@manager_required
@require_GET
def people(request):
    members = (
        User.objects.for_user(request.user)
        .select_related("coach")
        .annotate(role_order=ROLE_ORDER)
        .order_by("role_order", "full_name", "email")
    )
    groups = {Role.MANAGER: [], Role.COACH: [], Role.CLIENT: []}
    for member in members:
        groups.setdefault(member.role, []).append(member)
    return render(
        request,
        "organisations/people.html",
        {
            "organisation": request.user.organisation,
            "managers": groups[Role.MANAGER],
            "coaches": groups[Role.COACH],
            "clients": groups[Role.CLIENT],
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def person_create(request):
    form = PersonCreateForm(request.POST or None, organisation=request.user.organisation)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            person = form.save()
            if form.cleaned_data["phone"]:
                record_phone(person, form.cleaned_data["phone"], request.user, notify=False)
            send_invitation(person, invited_by=request.user)
        messages.success(
            request,
            _("%(name)s has been added and invited by e-mail to choose a password.")
            % {"name": person.full_name},
        )
        return redirect("organisations:people")
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Add a coach or client"),
            "intro": _(
                "We e-mail the new person an invitation with a single-use link to choose their "
                "own password. Nobody, you included, ever sees or sends their password."
            ),
            "submit_label": _("Add"),
            "cancel_url": reverse("organisations:people"),
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def person_edit(request, pk):
    person = _managed_person(request, pk)
    form = PersonEditForm(request.POST or None, instance=person)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The details have been saved."))
        if form.requested_email:
            # Only asked for: the person confirms from the new address, signed in, or nothing
            # changes (accounts.email_change).
            email_change.request_change(person, form.requested_email, requested_by=request.user)
            messages.info(
                request,
                _(
                    "We have e-mailed a link to the new address and told the current one. The "
                    "address changes only when the person confirms it while signed in."
                ),
            )
        return redirect("organisations:people")
    return render(
        request,
        "organisations/person_edit.html",
        {
            "form": form,
            "person": person,
            "invitable": invitable(person),
            "two_factor_on": two_factor_of(person) is not None,
            "title": _("Edit %(name)s") % {"name": person.full_name or person.email},
            "submit_label": _("Save"),
            "cancel_url": reverse("organisations:people"),
        },
    )


@manager_required
@require_http_methods(["GET", "POST"])
def person_deactivate(request, pk):
    """GET: a confirmation page. POST: switch the account between active and deactivated."""
    person = _managed_person(request, pk)
    if request.method == "POST":
        services.set_active(person, not person.is_active)
        if person.is_active:
            text = _("%(name)s can sign in again.")
        else:
            text = _("%(name)s has been deactivated and can no longer sign in.")
        messages.success(request, text % {"name": person.full_name or person.email})
        return redirect("organisations:people")
    return render(request, "organisations/person_deactivate.html", {"person": person})


@manager_required
@require_http_methods(["GET", "POST"])
def person_delete(request, pk):
    person = _managed_person(request, pk)
    if request.method == "POST":
        name = person.full_name or person.email
        services.delete_person(person)
        messages.success(
            request, _("%(name)s and all their data have been deleted.") % {"name": name}
        )
        return redirect("organisations:people")
    return render(
        request,
        "organisations/person_delete.html",
        {"person": person, "client_count": person.clients.count() if person.is_coach else 0},
    )


@manager_required
@require_http_methods(["GET", "POST"])
def client_coach(request, pk):
    client = _managed_person(request, pk, role=Role.CLIENT)
    form = ClientCoachForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        new_coach = form.cleaned_data["coach"]
        if (new_coach.pk if new_coach else None) != client.coach_id:
            services.reassign_client(client, new_coach)
            if new_coach is None:
                text = _("%(client)s no longer has a coach.")
            else:
                text = _("%(client)s now has %(coach)s as coach.")
            messages.success(
                request,
                text
                % {
                    "client": client.full_name or client.email,
                    "coach": new_coach.full_name if new_coach else "",
                },
            )
        return redirect("organisations:people")
    return render(
        request, "organisations/client_coach.html", {"form": form, "client_person": client}
    )
