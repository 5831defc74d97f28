"""Who may open the manager screens: the manager of the organisation, and nobody else."""

import pytest
from django.conf import settings
from django.urls import reverse

from tests.fixtures.world import SECRET

pytestmark = pytest.mark.app

OBJECT_URLS = ["person_edit", "person_deactivate", "person_delete", "client_coach"]


def object_urls(person):
    return [reverse(f"organisations:{name}", args=[person.pk]) for name in OBJECT_URLS]


def all_urls(person):
    return [
        reverse("organisations:people"),
        reverse("organisations:person_create"),
        *object_urls(person),
    ]


def test_anonymous_users_are_sent_to_the_login_page(client, client_a):
    login = reverse(settings.LOGIN_URL)
    for url in all_urls(client_a):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(login), url


@pytest.mark.parametrize("who", ["colleague", "client_a", "staff", "superuser"])
def test_non_managers_get_404_on_every_manager_screen(who, request, client, client_a, coach_a2):
    viewer = request.getfixturevalue(who)
    client.force_login(viewer)
    for url in all_urls(client_a) + object_urls(coach_a2):
        assert client.get(url).status_code == 404, (who, url)
        assert client.post(url, {"full_name": "X", "email": "x@a.test"}).status_code == 404
    client_a.refresh_from_db()
    assert client_a.full_name == "Chris Client"
    assert client_a.is_active


def test_a_deactivated_manager_is_signed_out(client, owner):
    client.force_login(owner)
    owner.is_active = False
    owner.save()
    response = client.get(reverse("organisations:people"))
    assert response.status_code == 302


def test_outsider_gets_404_on_every_object_of_another_organisation(
    client, outsider, client_a, colleague
):
    client.force_login(outsider)
    for person in (client_a, colleague):
        for url in object_urls(person):
            assert client.get(url).status_code == 404, url
            assert client.post(url, {"full_name": "X", "email": "x@b.test"}).status_code == 404
    client_a.refresh_from_db()
    colleague.refresh_from_db()
    assert client_a.full_name == "Chris Client" and client_a.is_active
    assert colleague.full_name == "Cora Coach" and colleague.is_active


def test_outsider_does_not_see_people_of_another_organisation(
    client, outsider, client_a, colleague, client_b, coach_b
):
    client.force_login(outsider)
    body = client.get(reverse("organisations:people")).content.decode()
    assert client_b.email in body and coach_b.email in body
    assert client_a.email not in body and colleague.email not in body


def test_owner_opens_every_screen(as_owner, client_a, colleague):
    for url in all_urls(client_a) + object_urls(colleague)[:3]:
        assert as_owner.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["owner", "other_manager", "staff", "superuser", "outsider"])
def test_managers_staff_and_strangers_are_not_objects_of_the_manager_screens(
    who, request, as_owner, other_manager
):
    target = request.getfixturevalue(who)
    for url in object_urls(target):
        assert as_owner.get(url).status_code == 404, url
        assert as_owner.post(url, {"full_name": "X", "email": "x@a.test"}).status_code == 404
    target.refresh_from_db()
    assert target.full_name != "X" and target.is_active


def test_unknown_ids_are_404(as_owner):
    for url in object_urls(type("Nobody", (), {"pk": 987654})()):
        assert as_owner.get(url).status_code == 404


def test_a_coach_has_no_coach_page(as_owner, colleague):
    assert (
        as_owner.get(reverse("organisations:client_coach", args=[colleague.pk])).status_code == 404
    )


def test_manager_screens_show_nothing_of_the_dialogue(as_owner, owner, client_a, dialogue):
    pages = [
        reverse("organisations:people"),
        reverse("organisations:person_create"),
        *object_urls(client_a),
        *object_urls(dialogue["note"].coach)[:3],
    ]
    for url in pages:
        body = as_owner.get(url).content.decode()
        assert SECRET not in body, url


def test_people_lists_coaches_clients_and_managers(as_owner, owner, other_manager, client_a):
    body = as_owner.get(reverse("organisations:people")).content.decode()
    for person in (owner, other_manager, client_a, client_a.coach):
        assert person.full_name in body
        assert person.email in body
    # managers are listed but not editable
    for manager in (owner, other_manager):
        assert reverse("organisations:person_edit", args=[manager.pk]) not in body
    assert reverse("organisations:person_edit", args=[client_a.pk]) in body
    assert reverse("organisations:client_coach", args=[client_a.pk]) in body


def test_pages_have_no_inline_styles_or_scripts(as_owner, client_a, colleague):
    for url in all_urls(client_a) + object_urls(colleague)[:3]:
        body = as_owner.get(url).content.decode()
        assert "style=" not in body, url
        assert "<script" not in body, url
