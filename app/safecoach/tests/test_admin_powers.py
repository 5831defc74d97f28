"""Staff powers over accounts: deactivate, and send a reset link to the person's own address.

The attack (finding 3 of the security review): in the admin, staff set a client's password at
/admin/accounts/user/<id>/password/, sign in as the client and read /dialogue/<id>/. Here that
page does not exist, the e-mail address cannot be changed, no phone or second factor is in the
admin, and a new account gets an invitation instead of a password chosen by staff.
Also finding 6: an id the database cannot hold answers a form error, not HTTP 500.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.forms import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.models import Invitation, TwoFactor, User
from safecoach.admin_base import ExistingModelMultipleChoiceField
from safecoach.tests.admin_sessions import admin_session, with_two_step
from tests.fixtures.world import PASSWORD, SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-05")]

ATTACKER_PASSWORD = "Attacker-Pass-2026"
ATTACKER_MAIL = "attacker@evil.test"
HUGE_ID = "99999999999999999999999"
VICTIM_PHONE = "+31611122233"


@pytest.fixture
def staff(world, client):
    return admin_session(client, with_two_step(world.staff))


def user_url(view, user):
    return reverse(f"admin:accounts_user_{view}", args=[user.pk])


def _change_data(person, **changes):
    """What the change form posts for `person`, with `changes`."""
    data = {
        "full_name": person.full_name,
        "language": person.language,
        "organisation": person.organisation_id or "",
        "role": person.role,
        "coach": person.coach_id or "",
        "is_active": "on" if person.is_active else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _row(user):
    return User.objects.filter(pk=user.pk).values().get()


# --- finding 3: staff set a client's password, sign in as the client, read the dialogue ------------


def test_finding_3_staff_cannot_set_a_password_and_read_the_dialogue(world, staff):
    url = f"/admin/accounts/user/{world.client_a.pk}/password/"
    assert staff.get(url).status_code == 404
    response = staff.post(
        url,
        {"usable_password": "true", "password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD},
    )
    assert response.status_code == 404
    world.client_a.refresh_from_db()
    assert world.client_a.check_password(PASSWORD)
    # the rest of the attack: sign in as the client with the chosen password, open the dialogue
    attacker = Client()
    attacker.post(
        reverse("accounts:login"),
        {"username": world.client_a.email, "password": ATTACKER_PASSWORD},
    )
    assert "_auth_user_id" not in attacker.session
    dialogue = attacker.get(reverse("coaching:dialogue", args=[world.client_a.pk]))
    assert dialogue.status_code == 302
    assert dialogue["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("actor", ["anonymous", "manager", "client_a", "staff", "staff_2fa"])
def test_the_password_page_answers_404_for_everyone(world, client, actor):
    if actor == "staff_2fa":
        admin_session(client, with_two_step(world.staff))
    elif actor != "anonymous":
        client.force_login(getattr(world, actor))
    url = user_url("password", world.client_a)
    assert url == f"/admin/accounts/user/{world.client_a.pk}/password/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"password1": "x", "password2": "x"}).status_code == 404


def test_the_change_form_has_no_password_and_shows_the_address_read_only(world, staff):
    page = staff.get(user_url("change", world.client_a)).content.decode()
    assert world.client_a.email in page
    for field in ("email", "password", "password1", "usable_password", "groups", "phone"):
        assert f'name="{field}"' not in page, field
    assert world.client_a.password not in page
    assert world.client_a.password.split("$")[-1][:6] not in page  # not even part of the hash


def test_a_posted_address_changes_nothing(world, staff):
    before = _row(world.client_a)
    response = staff.post(
        user_url("change", world.client_a), _change_data(world.client_a, email=ATTACKER_MAIL)
    )
    assert response.status_code == 302
    assert _row(world.client_a)["email"] == before["email"]
    assert not User.objects.filter(email=ATTACKER_MAIL).exists()


def test_no_phone_or_second_factor_anywhere_in_the_admin(world, staff):
    with_two_step(world.client_a, phone=VICTIM_PHONE)
    for url in (
        reverse("admin:index"),
        reverse("admin:app_list", args=["accounts"]),
        reverse("admin:accounts_user_changelist"),
        user_url("change", world.client_a),
        user_url("history", world.client_a),
    ):
        page = staff.get(url).content.decode()
        assert VICTIM_PHONE not in page
        assert VICTIM_PHONE[-6:] not in page
    for name in ("twofactor", "onetimecode", "backupcode", "invitation", "throttle"):
        assert staff.get(f"/admin/accounts/{name}/").status_code == 404


def test_staff_cannot_switch_anyones_second_factor(world, staff):
    with_two_step(world.client_a, phone=VICTIM_PHONE)
    staff.post(
        user_url("change", world.client_a),
        _change_data(world.client_a, phone="+31687654321", two_factor="", method=""),
    )
    tf = TwoFactor.objects.get(user=world.client_a)
    assert (tf.method, tf.phone) == ("sms", VICTIM_PHONE)


# --- adding a person: no password, an invitation -------------------------------------------------


def test_a_new_account_gets_an_invitation_and_no_password(
    world, staff, django_capture_on_commit_callbacks
):
    page = staff.get(reverse("admin:accounts_user_add")).content.decode()
    assert 'name="password1"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("admin:accounts_user_add"),
            {
                "email": "New.Person@A.test",
                "full_name": "New Person",
                "language": "nl",
                "organisation": world.org_a.pk,
                "role": "coach",
                # a staff member trying to choose the password anyway
                "usable_password": "true",
                "password1": ATTACKER_PASSWORD,
                "password2": ATTACKER_PASSWORD,
            },
        )
    assert response.status_code == 302
    person = User.objects.get(email="new.person@a.test")
    assert not person.has_usable_password()
    assert not person.check_password(ATTACKER_PASSWORD)
    assert Invitation.objects.filter(user=person, used_at__isnull=True).count() == 1
    [invitation] = mail.outbox
    assert invitation.to == ["new.person@a.test"]
    assert "/account/invitation/" in invitation.body


def test_a_role_without_an_organisation_is_a_form_error(world, staff):
    response = staff.post(
        reverse("admin:accounts_user_add"),
        {"email": "x@a.test", "full_name": "X", "language": "nl", "role": "client"},
    )
    assert response.status_code == 200
    assert "organisation" in response.context["adminform"].form.errors
    assert not User.objects.filter(email="x@a.test").exists()


def test_only_a_client_has_a_coach(world, staff):
    before = _row(world.coach_b)
    response = staff.post(
        user_url("change", world.coach_b), _change_data(world.coach_b, coach=world.coach_a.pk)
    )
    assert response.status_code == 200
    assert "coach" in response.context["adminform"].form.errors
    assert _row(world.coach_b) == before


# --- what staff may do: deactivate, and send a reset link to the person's own address ------------


def _act(http, action, *people):
    return http.post(
        reverse("admin:accounts_user_changelist"),
        {"action": action, "_selected_action": [p.pk for p in people]},
    )


def test_staff_deactivate_an_account(world, staff):
    person = Client()
    person.force_login(world.client_a)
    assert _act(staff, "deactivate", world.client_a).status_code == 302
    world.client_a.refresh_from_db()
    assert not world.client_a.is_active
    # the person's open session ends with it
    response = person.get(reverse("coaching:dialogue", args=[world.client_a.pk]))
    assert response.status_code == 302


def test_a_reset_link_goes_only_to_the_persons_own_address(world, staff):
    assert _act(staff, "send_password_reset", world.client_a).status_code == 302
    [message] = mail.outbox
    assert message.to == [world.client_a.email]
    assert "/account/password/reset/" in message.body
    assert SECRET not in message.body
    world.client_a.refresh_from_db()
    assert world.client_a.check_password(PASSWORD)  # nothing changed until the person acts


def test_someone_without_a_password_gets_a_new_invitation(
    world, staff, django_capture_on_commit_callbacks
):
    world.client_b.set_unusable_password()
    world.client_b.save()
    with django_capture_on_commit_callbacks(execute=True):
        _act(staff, "send_password_reset", world.client_b)
    [message] = mail.outbox
    assert message.to == [world.client_b.email]
    assert "/account/invitation/" in message.body


def test_only_a_superuser_makes_someone_staff(world, client):
    clerk = User.objects.create_user(
        "clerk@platform.test", PASSWORD, full_name="Clerk", is_staff=True
    )
    clerk.user_permissions.set(Permission.objects.filter(codename__in=["view_user", "change_user"]))
    admin_session(client, with_two_step(clerk))
    client.post(user_url("change", clerk), _change_data(clerk, is_staff="on", is_superuser="on"))
    client.post(
        user_url("change", world.client_a),
        _change_data(world.client_a, is_staff="on", is_superuser="on"),
    )
    clerk.refresh_from_db()
    world.client_a.refresh_from_db()
    assert not clerk.is_superuser
    assert not (world.client_a.is_staff or world.client_a.is_superuser)
    # nor may they deactivate a superuser
    _act(client, "deactivate", world.staff)
    world.staff.refresh_from_db()
    assert world.staff.is_active


# --- finding 6: an id the database cannot hold ---------------------------------------------------


def test_finding_6_the_groups_post_is_no_server_error(world, staff):
    """The exact request of the review: POST …/change/ with groups=99999999999999999999999."""
    staff.raise_request_exception = False
    before = _row(world.client_a)
    response = staff.post(
        user_url("change", world.client_a), _change_data(world.client_a, groups=HUGE_ID)
    )
    assert response.status_code in (200, 302)
    assert not world.client_a.groups.exists()
    assert {k: v for k, v in _row(world.client_a).items() if k != "last_activity"} == {
        k: v for k, v in before.items() if k != "last_activity"
    }


@pytest.mark.parametrize("field", ["organisation", "coach"])
@pytest.mark.parametrize("value", [HUGE_ID, "999999", "-1", "1e3", "abc"])
def test_finding_6_an_unknown_id_is_a_form_error(world, staff, field, value):
    staff.raise_request_exception = False
    before = _row(world.client_a)
    response = staff.post(
        user_url("change", world.client_a), _change_data(world.client_a, **{field: value})
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors.as_data()
    assert [e.code for e in errors[field]] == ["invalid_choice"]
    assert _row(world.client_a) == before


def test_an_unknown_id_on_the_add_form_is_a_form_error(world, staff):
    staff.raise_request_exception = False
    response = staff.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "n@a.test",
            "full_name": "N",
            "language": "nl",
            "organisation": HUGE_ID,
            "role": "client",
            "coach": HUGE_ID,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors.as_data()
    assert errors["organisation"][0].code == errors["coach"][0].code == "invalid_choice"


@pytest.mark.parametrize("value", [HUGE_ID, "-99999999999999999999999", "999999"])
def test_a_many_to_many_field_of_the_admin_refuses_an_unknown_id(db, value):
    Group.objects.create(name="existing")
    field = ExistingModelMultipleChoiceField(Group.objects.all())
    with pytest.raises(ValidationError) as refused:
        field.clean([value])
    assert refused.value.code == "invalid_choice"
    assert list(field.clean([str(Group.objects.get().pk)])) == [Group.objects.get()]


def test_a_refused_form_and_a_refused_filter_are_logged_without_what_was_typed(
    world, staff, caplog
):
    caplog.set_level("INFO", logger="safecoach.admin")
    staff.post(
        user_url("change", world.client_a), _change_data(world.client_a, organisation=HUGE_ID)
    )
    staff.get(reverse("admin:accounts_user_changelist"), {"password__startswith": "md5$"})
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "safecoach.admin")
    assert f"user {world.staff.pk}" in logged
    assert "organisation" in logged
    assert "password__startswith" in logged
    assert HUGE_ID not in logged
    assert "md5$" not in logged
    assert world.client_a.email not in logged


def test_staff_cannot_quietly_drop_an_organisations_two_step_rule(world, staff):
    world.org_a.require_two_factor = True
    world.org_a.save()
    url = reverse("admin:organisations_organisation_change", args=[world.org_a.pk])
    response = staff.post(url, {"name": "Organisation A", "require_two_factor": ""})
    assert response.status_code == 302
    world.org_a.refresh_from_db()
    assert world.org_a.require_two_factor
    assert mail.outbox == []
