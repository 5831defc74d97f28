"""The platform staff's admin never shows dialogue, assignment, answer, comment or note content."""

import pytest
from django.urls import reverse

from coaching.models import Answer, Assignment, Comment, Message, Note
from safecoach.admin_site import admin_site
from safecoach.tests.admin_sessions import admin_session, with_two_step
from tests.fixtures.world import SECRET, make_person

pytestmark = [pytest.mark.app, pytest.mark.control("APP-02")]

CONFIDENTIAL = (Message, Assignment, Answer, Comment, Note)
CONTENT_FIELDS = {"body", "title", "instructions"}


@pytest.fixture
def superuser(superuser):
    """The superuser with two-step on: the admin opens only for such staff."""
    return with_two_step(superuser)


def admin_url(model, view, *args):
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_every_admin_page_of_every_model_hides_the_content(
    client, superuser, owner, client_b, dialogue
):
    admin_session(client, superuser)
    pages = [reverse("admin:index")]
    for model in admin_site._registry:
        pages.append(admin_url(model, "changelist"))
        pages.append(admin_url(model, "changelist") + "?q=SECRET")
        for pk in model._default_manager.values_list("pk", flat=True):
            for view in ("change", "history", "delete"):
                pages.append(admin_url(model, view, pk))
        pages.append(admin_url(model, "add"))
    for app_label in {model._meta.app_label for model in admin_site._registry}:
        pages.append(reverse("admin:app_list", args=[app_label]))
    checked = 0
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 403), url
        body = response.content.decode()
        if "?q=" in url:
            # the search box echoes the query; the results must be empty
            body = body.replace('value="SECRET"', "")
        assert SECRET not in body, url
        checked += response.status_code == 200
    # every confidential object has its own change page that was really shown
    assert checked > 5 * len(CONFIDENTIAL)


def test_search_does_not_look_into_content(client, superuser, dialogue):
    admin_session(client, superuser)
    fragment = SECRET.split("-")[-1]  # a piece of the secret; the page echoes the query
    for model in CONFIDENTIAL:
        response = client.get(admin_url(model, "changelist"), {"q": fragment})
        assert response.status_code == 200
        # no search fields: the query filters nothing, so it cannot probe the content either
        assert len(response.context["cl"].result_list) == model.objects.count()
        assert SECRET not in response.content.decode()


def test_confidential_admins_never_name_a_content_field(rf, superuser):
    request = rf.get("/")
    request.user = superuser
    for model in CONFIDENTIAL:
        model_admin = admin_site._registry[model]
        obj = model.objects.first()
        named = {
            *model_admin.get_list_display(request),
            *model_admin.get_search_fields(request),
            *(f if isinstance(f, str) else f[0] for f in model_admin.get_list_filter(request)),
            *model_admin.get_fields(request, obj),
            *model_admin.get_readonly_fields(request, obj),
        }
        assert not named & CONTENT_FIELDS, model
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, obj)
        assert model_admin.has_delete_permission(request, obj)


def test_only_superusers_delete_confidential_rows(rf, django_user_model):
    from django.contrib.auth.models import Permission

    clerk = make_person("clerk@platform.test", "Clerk", is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(content_type__app_label="coaching"))
    clerk = django_user_model.objects.get(pk=clerk.pk)
    request = rf.get("/")
    request.user = clerk
    for model in CONFIDENTIAL:
        model_admin = admin_site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_changing_confidential_rows_is_refused(client, superuser, dialogue):
    admin_session(client, superuser)
    message = dialogue["messages"][0]
    client.post(admin_url(Message, "change", message.pk), {"body": "changed"})
    message.refresh_from_db()
    assert message.body.startswith(SECRET)
    assert client.get(admin_url(Message, "changelist")).status_code == 200


def test_user_admin_works_with_email_login(client, superuser, org_a, django_user_model):
    admin_session(client, superuser)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@A.test",
            "full_name": "New Person",
            "organisation": org_a.pk,
            "role": "coach",
            "language": "en",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    person = django_user_model.objects.get(email="new.person@a.test")
    assert not person.has_usable_password()
    assert person.invitations.filter(used_at__isnull=True).exists()
    response = client.get(reverse("admin:accounts_user_changelist"), {"q": "new.person"})
    assert "new.person@a.test" in response.content.decode()


def test_user_admin_rejects_a_duplicate_address(client, superuser, owner):
    admin_session(client, superuser)
    response = client.post(
        reverse("admin:accounts_user_add"),
        {"email": "OWNER@a.test", "full_name": "Dup", "language": "en"},
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_non_staff_cannot_open_the_admin(client, owner):
    client.force_login(owner)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
