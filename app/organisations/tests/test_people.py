"""Create, edit, deactivate and delete coaches and clients; tampered forms change nothing."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Role, User
from coaching.models import Answer, Assignment, Comment, Message, Note
from tests.fixtures.world import PASSWORD

pytestmark = pytest.mark.app

CREATE = reverse("organisations:person_create")


def edit_url(person):
    return reverse("organisations:person_edit", args=[person.pk])


def snapshot():
    return sorted(
        User.objects.values_list(
            "pk", "email", "full_name", "role", "organisation_id", "coach_id", "is_active"
        )
    )


# -- create -------------------------------------------------------------------------------


def test_create_a_coach(as_owner, org_a):
    response = as_owner.post(
        CREATE, {"full_name": "New Coach", "email": "New.Coach@A.test", "role": "coach"}
    )
    assert response.status_code == 302
    person = User.objects.get(email="new.coach@a.test")
    assert (person.full_name, person.role, person.organisation, person.coach) == (
        "New Coach",
        Role.COACH,
        org_a,
        None,
    )
    assert person.is_active and not person.is_staff and not person.is_superuser
    assert not person.has_usable_password()


def test_create_a_client_with_a_coach(as_owner, org_a, colleague):
    response = as_owner.post(
        CREATE,
        {
            "full_name": "New Client",
            "email": "new.client@a.test",
            "role": "client",
            "coach": colleague.pk,
        },
    )
    assert response.status_code == 302
    person = User.objects.get(email="new.client@a.test")
    assert (person.role, person.organisation, person.coach) == (Role.CLIENT, org_a, colleague)


def test_create_a_client_without_a_coach(as_owner):
    as_owner.post(CREATE, {"full_name": "Solo", "email": "solo@a.test", "role": "client"})
    assert User.objects.get(email="solo@a.test").coach is None


def test_a_new_person_is_invited_by_mail_and_no_password_is_sent(
    as_owner, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        as_owner.post(CREATE, {"full_name": "Invited Ina", "email": "ina@a.test", "role": "coach"})
    person = User.objects.get(email="ina@a.test")
    assert not person.has_usable_password()
    assert [m.to for m in mail.outbox] == [["ina@a.test"]]
    assert "/account/invitation/" in mail.outbox[0].body
    assert "Ina" not in mail.outbox[0].body


def test_the_edit_page_offers_a_new_invitation_until_a_password_is_chosen(
    as_owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_owner.post(CREATE, {"full_name": "Invited Ina", "email": "ina@a.test", "role": "coach"})
    person = User.objects.get(email="ina@a.test")
    edit = reverse("organisations:person_edit", args=[person.pk])
    resend = reverse("accounts:invitation_resend", args=[person.pk])
    assert resend in as_owner.get(edit).content.decode()
    person.set_password("Chosen-Password-2026")
    person.save()
    assert resend not in as_owner.get(edit).content.decode()


def test_coach_choices_are_active_coaches_of_the_organisation(
    as_owner, colleague, coach_a2, coach_b, client_a
):
    coach_a2.is_active = False
    coach_a2.save()
    form = as_owner.get(CREATE).context["form"]
    assert list(form.fields["coach"].queryset) == [colleague]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"full_name": "X", "email": "OWNER@a.test", "role": "coach"}, "email"),
        ({"full_name": "X", "email": "Colleague@A.TEST", "role": "client"}, "email"),
        ({"full_name": "X", "email": "not-an-address", "role": "coach"}, "email"),
        ({"full_name": "X", "email": "a" * 250 + "@a.test", "role": "coach"}, "email"),
        ({"full_name": "X" * 151, "email": "long@a.test", "role": "coach"}, "full_name"),
        ({"full_name": "   ", "email": "blank@a.test", "role": "coach"}, "full_name"),
        ({"full_name": "X", "email": "x@a.test", "role": "manager"}, "role"),
        ({"full_name": "X", "email": "x@a.test", "role": ""}, "role"),
        ({"full_name": "X", "email": "x@a.test", "role": "staff"}, "role"),
    ],
)
def test_create_rejects_bad_input(as_owner, colleague, data, field):
    before = snapshot()
    response = as_owner.post(CREATE, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert snapshot() == before


def test_duplicate_address_has_a_clear_error(as_owner, colleague):
    response = as_owner.post(
        CREATE, {"full_name": "X", "email": "COLLEAGUE@a.test", "role": "coach"}
    )
    assert "already exists" in response.content.decode()


def test_create_rejects_a_coach_of_another_organisation(as_owner, coach_b):
    before = snapshot()
    response = as_owner.post(
        CREATE, {"full_name": "X", "email": "x@a.test", "role": "client", "coach": coach_b.pk}
    )
    assert "coach" in response.context["form"].errors
    assert snapshot() == before


def test_create_rejects_a_coach_for_a_coach(as_owner, colleague):
    before = snapshot()
    response = as_owner.post(
        CREATE, {"full_name": "X", "email": "x@a.test", "role": "coach", "coach": colleague.pk}
    )
    assert "coach" in response.context["form"].errors
    assert snapshot() == before


def test_create_rejects_a_client_or_manager_as_coach(as_owner, client_a, owner):
    for pk in (client_a.pk, owner.pk, 987654, "x"):
        response = as_owner.post(
            CREATE, {"full_name": "X", "email": "x@a.test", "role": "client", "coach": pk}
        )
        assert "coach" in response.context["form"].errors
    assert not User.objects.filter(email="x@a.test").exists()


def test_posted_organisation_staff_and_password_fields_are_ignored(as_owner, org_a, org_b):
    as_owner.post(
        CREATE,
        {
            "full_name": "X",
            "email": "x@a.test",
            "role": "coach",
            "organisation": org_b.pk,
            "is_staff": "on",
            "is_superuser": "on",
            "password": "Known-Password-1",
        },
    )
    person = User.objects.get(email="x@a.test")
    assert person.organisation == org_a
    assert not person.is_staff and not person.is_superuser
    assert not person.has_usable_password()


# -- edit ---------------------------------------------------------------------------------


def test_edit_name_and_ask_for_a_new_email(as_owner, client_a):
    response = as_owner.post(
        edit_url(client_a), {"full_name": "Chris Changed", "email": "Chris@A.test"}
    )
    assert response.status_code == 302
    client_a.refresh_from_db()
    # The name is corrected at once; the address changes only when the person confirms it
    # (accounts.email_change; test_manager_powers.py).
    assert (client_a.full_name, client_a.email) == ("Chris Changed", "client@a.test")


def test_edit_keeps_own_address_in_another_case(as_owner, client_a):
    response = as_owner.post(edit_url(client_a), {"full_name": "Chris", "email": "CLIENT@a.test"})
    assert response.status_code == 302


def test_edit_rejects_an_address_in_use(as_owner, client_a, client_b):
    before = snapshot()
    response = as_owner.post(edit_url(client_a), {"full_name": "X", "email": "Client@B.test"})
    assert "email" in response.context["form"].errors
    assert snapshot() == before


def test_edit_ignores_role_organisation_coach_and_flags(as_owner, client_a, org_b, coach_b):
    as_owner.post(
        edit_url(client_a),
        {
            "full_name": "Chris",
            "email": "client@a.test",
            "role": "manager",
            "organisation": org_b.pk,
            "coach": coach_b.pk,
            "is_staff": "on",
            "is_superuser": "on",
            "is_active": "",
        },
    )
    client_a.refresh_from_db()
    assert client_a.role == Role.CLIENT
    assert client_a.organisation.name == "Organisation A"
    assert client_a.coach.email == "colleague@a.test"
    assert client_a.is_active and not client_a.is_staff and not client_a.is_superuser


def test_edit_rejects_over_long_values(as_owner, client_a):
    before = snapshot()
    response = as_owner.post(edit_url(client_a), {"full_name": "X" * 151, "email": "client@a.test"})
    assert "full_name" in response.context["form"].errors
    assert snapshot() == before


# -- deactivate ---------------------------------------------------------------------------


def test_deactivate_get_only_asks(as_owner, client_a):
    url = reverse("organisations:person_deactivate", args=[client_a.pk])
    assert as_owner.get(url).status_code == 200
    client_a.refresh_from_db()
    assert client_a.is_active


def test_deactivate_and_reactivate(as_owner, client, client_a):
    url = reverse("organisations:person_deactivate", args=[client_a.pk])
    assert as_owner.post(url).status_code == 302
    client_a.refresh_from_db()
    assert not client_a.is_active
    assert as_owner.post(url).status_code == 302
    client_a.refresh_from_db()
    assert client_a.is_active


def test_a_deactivated_user_cannot_sign_in(as_owner, client_a, django_user_model):
    from django.test import Client

    browser = Client()
    assert browser.login(email=client_a.email, password=PASSWORD)
    as_owner.post(reverse("organisations:person_deactivate", args=[client_a.pk]))
    # the running session ends
    assert browser.get(reverse("accounts:profile")).status_code == 302
    # and a new sign-in fails, through the backend and through the login form
    assert not Client().login(email=client_a.email, password=PASSWORD)
    response = Client().post(
        reverse("accounts:login"), {"username": client_a.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


# -- delete -------------------------------------------------------------------------------


def test_delete_get_only_asks(as_owner, client_a):
    assert (
        as_owner.get(reverse("organisations:person_delete", args=[client_a.pk])).status_code == 200
    )
    assert User.objects.filter(pk=client_a.pk).exists()


def test_delete_a_client_deletes_their_data(as_owner, client_a, dialogue):
    response = as_owner.post(reverse("organisations:person_delete", args=[client_a.pk]))
    assert response.status_code == 302
    assert not User.objects.filter(pk=client_a.pk).exists()
    for model in (Message, Assignment, Answer, Comment, Note):
        assert not model.objects.exists(), model


def test_delete_a_coach_leaves_clients_without_coach(as_owner, colleague, client_a, dialogue):
    as_owner.post(reverse("organisations:person_delete", args=[colleague.pk]))
    assert not User.objects.filter(pk=colleague.pk).exists()
    client_a.refresh_from_db()
    assert client_a.coach is None and client_a.is_active
    for model in (Message, Assignment, Answer, Comment, Note):
        assert not model.objects.exists(), model


def test_delete_page_of_a_coach_mentions_their_clients(as_owner, colleague, client_a):
    body = as_owner.get(
        reverse("organisations:person_delete", args=[colleague.pk])
    ).content.decode()
    assert "1 client" in body
