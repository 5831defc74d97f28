"""Access control proven for every URL pattern, for every kind of visitor.

Each row of GET_TABLE and POST_TABLE gives the outcome for the actors, in this order:

    anonymous  manager  coach_a  coach_b  client_a  client_b  other_manager  staff  staff_2fa

`staff` is platform staff without two-step verification; `staff_2fa` the same person with two-step
on, signed in with a session that passed a code (`mark_second_factor`, as the sign-in's second
step does). Only staff_2fa gets into the staff admin (safecoach.admin_access).

Codes: O 200 · L redirect to sign-in · A redirect to the admin's sign-in · R another redirect ·
       4 404 · 3 403 · M 405 (method not allowed)

Objects in URLs belong to coach A and client A of organisation A (see conftest.World). coach_b is
coach A's colleague, client_b another coach's client, other_manager manages another organisation.
A URL pattern missing from GET_TABLE makes test_every_url_is_in_the_table fail, so no view can be
added unchecked. Every request that is refused must leave the database exactly as it was.
"""

import pytest
from django.apps import apps
from django.urls import reverse

from safecoach.tests.admin_sessions import admin_session, with_two_step
from tests.app.urlpatterns import all_patterns
from tests.fixtures.world import ACTORS as WORLD_ACTORS

pytestmark = [pytest.mark.app, pytest.mark.control("APP-01"), pytest.mark.control("APP-02")]


def _client_a(w):
    return {"client_id": w.client_a.pk}


def _assignment(w):
    return {"pk": w.assignment.pk}


def _note(w):
    return {"pk": w.note.pk}


def _person(w):
    return {"pk": w.client_a.pk}


def _privacy_request(w):
    return {"pk": w.privacy_request.pk}


def _none(w):
    return {}


def _reset_link(w):
    return {"uidb64": "MQ", "token": "not-a-valid-token"}


def _invitation(w):
    return {"token": "not-a-valid-invitation-token"}


def _email_change_link(w):
    return {"token": "not-a-valid-email-change-token"}


def _admin_object(model_attr):
    return lambda w: {"object_id": getattr(w, model_attr).pk}


# key: (kwargs for the URL, outcomes per actor)
GET_TABLE = {
    "home": (_none, "L R R R R R R R R"),
    "healthz": (_none, "O O O O O O O O O"),
    # Metrics: only SAFECOACH_METRICS_ALLOWED (empty here) gets the exposition; tests/app/test_metrics.py.
    "metrics": (_none, "4 4 4 4 4 4 4 4 4"),
    "set_language": (_none, "R R R R R R R R R"),
    "accounts:login": (_none, "O R R R R R R R R"),
    "accounts:logout": (_none, "M M M M M M M M M"),
    "accounts:profile": (_none, "L O O O O O O O O"),
    "accounts:password_change": (_none, "L O O O O O O O O"),
    # Sign-in security (accounts): no second step is pending for these visitors, two-step is off.
    "accounts:signin_verify": (_none, "L R R R R R R R R"),
    "accounts:signin_resend": (_none, "M M M M M M M M M"),
    "accounts:confirm_password": (_none, "L O O O O O O O O"),
    "accounts:password_reset": (_none, "O O O O O O O O O"),
    "accounts:password_reset_done": (_none, "O O O O O O O O O"),
    "accounts:password_reset_confirm": (_reset_link, "O O O O O O O O O"),
    "accounts:password_reset_complete": (_none, "O O O O O O O O O"),
    "accounts:invitation_accept": (_invitation, "O O O O O O O O O"),
    "accounts:invitation_resend": (_person, "M M M M M M M M M"),
    "accounts:two_factor": (_none, "L O O O O O O O O"),
    "accounts:two_factor_sms": (_none, "L O O O O O O R R"),
    "accounts:two_factor_sms_confirm": (_none, "L R R R R R R R R"),
    "accounts:two_factor_totp": (_none, "L O O O O O O R R"),
    "accounts:backup_codes": (_none, "L R R R R R R R R"),
    "accounts:two_factor_disable": (_none, "L R R R R R R R R"),
    "accounts:confirm_factor": (_none, "L R R R R R R R O"),
    "accounts:email_change": (_none, "L O O O O O O O O"),
    "accounts:email_change_confirm": (_none, "L O O O O O O O O"),
    "accounts:email_change_link": (_email_change_link, "O O O O O O O O O"),
    "accounts:organisation_security": (_none, "L O 4 4 4 4 O 4 4"),
    "accounts:two_factor_reset_for": (_person, "L O 4 4 4 4 4 4 4"),
    "organisations:people": (_none, "L O 4 4 4 4 O 4 4"),
    "organisations:person_create": (_none, "L O 4 4 4 4 O 4 4"),
    "organisations:person_edit": (_person, "L O 4 4 4 4 4 4 4"),
    "organisations:person_deactivate": (_person, "L O 4 4 4 4 4 4 4"),
    "organisations:person_delete": (_person, "L O 4 4 4 4 4 4 4"),
    "organisations:client_coach": (_person, "L O 4 4 4 4 4 4 4"),
    "privacy:statement": (_none, "O O O O O O O O O"),
    "privacy:mine": (_none, "L O O O O O O O O"),
    "privacy:data": (_none, "L O O O O O O O O"),
    "privacy:export": (_none, "L O O O O O O O O"),
    "privacy:request": (_none, "L O O O O O O O O"),
    "privacy:delete": (_none, "L 4 4 4 O O 4 4 4"),
    "privacy:staff_requests": (_none, "L 4 4 4 4 4 4 O O"),
    "privacy:staff_request": (_privacy_request, "L 4 4 4 4 4 4 O O"),
    "coaching:client_list": (_none, "L 4 O O 4 4 4 4 4"),
    "coaching:my_dialogue": (_none, "L 4 4 4 R R 4 4 4"),
    "coaching:dialogue": (_client_a, "L 4 O 4 O 4 4 4 4"),
    "coaching:assignment_list": (_client_a, "L 4 O 4 O 4 4 4 4"),
    "coaching:assignment_create": (_client_a, "L 4 O 4 4 4 4 4 4"),
    "coaching:assignment_detail": (_assignment, "L 4 O 4 O 4 4 4 4"),
    "coaching:answer": (_assignment, "M M M M M M M M M"),
    "coaching:comment": (_assignment, "M M M M M M M M M"),
    "coaching:notes": (_client_a, "L 4 O 4 4 4 4 4 4"),
    "coaching:note_edit": (_note, "L 4 O 4 4 4 4 4 4"),
    "coaching:note_delete": (_note, "L 4 O 4 4 4 4 4 4"),
    # The platform staff's admin: only staff get in; everyone else is sent to its sign-in.
    "admin:index": (_none, "A A A A A A A A O"),
    # The admin's own sign-in form is not used: staff sign in like everyone (throttled, two-step).
    "admin:login": (_none, "L O O O O O O 3 R"),
    "admin:logout": (_none, "R R R R R R R R M"),
    "admin:password_change": (_none, "A A A A A A A A R"),
    "admin:password_change_done": (_none, "A A A A A A A A R"),
    "admin:autocomplete": (_none, "A A A A A A A A 3"),
    "admin:jsi18n": (_none, "A A A A A A A A O"),
    "admin:view_on_site": (
        lambda w: {"content_type_id": 999999, "object_id": 1},
        "A A A A A A A A 4",
    ),
    "admin/(?P<url>.*)$": (lambda w: {"url": "no-such-page/"}, "A A A A A A A A 4"),
    "admin:app_list": (lambda w: {"app_label": "coaching"}, "A A A A A A A A O"),
    # Django's page for setting someone's password: gone, 404 for everyone.
    "admin:accounts_user_password": (_admin_object("client_a"), "4 4 4 4 4 4 4 4 4"),
}

# Models in the staff admin, with the world object their change pages open. Coaching models are
# view-only (metadata, never content): their add page is refused even for a superuser.
ADMIN_MODELS = {
    "accounts_user": ("client_a", "O"),
    "organisations_organisation": ("org_a", "O"),
    "coaching_message": ("message", "3"),
    "coaching_assignment": ("assignment", "3"),
    "coaching_answer": ("answer", "3"),
    "coaching_comment": ("comment", "3"),
    "coaching_note": ("note", "3"),
}
for _model, (_attr, _add) in ADMIN_MODELS.items():
    GET_TABLE[f"admin:{_model}_changelist"] = (_none, "A A A A A A A A O")
    GET_TABLE[f"admin:{_model}_add"] = (_none, f"A A A A A A A A {_add}")
    for _view in ("change", "history", "delete"):
        GET_TABLE[f"admin:{_model}_{_view}"] = (_admin_object(_attr), "A A A A A A A A O")
    # Django's old-style object URL, which redirects to the change page.
    _app, _name = _model.split("_", 1)
    GET_TABLE[f"admin/{_app}/{_name}/<path:object_id>/"] = (
        _admin_object(_attr),
        "A A A A A A A A R",
    )

# POST outcomes; the data is what the actor allowed to act would send.
POST_TABLE = {
    "home": ({}, "L R R R R R R R R"),
    "healthz": ({}, "M M M M M M M M M"),
    "metrics": ({}, "4 4 4 4 4 4 4 4 4"),
    "set_language": ({"language": "en"}, "R R R R R R R R R"),
    "accounts:login": ({"username": "x@x.test", "password": "wrong"}, "O R R R R R R R R"),
    "accounts:logout": ({}, "L L L L L L L L L"),
    "accounts:profile": ({"full_name": "New Name", "language": "nl"}, "L R R R R R R R R"),
    "accounts:password_change": ({"old_password": "wrong"}, "L O O O O O O O O"),
    "accounts:signin_verify": ({"code": "123456"}, "L R R R R R R R R"),
    "accounts:signin_resend": ({}, "L R R R R R R R R"),
    "accounts:confirm_password": ({"password": "wrong"}, "L O O O O O O O O"),
    "accounts:password_reset": ({"email": "nobody@nowhere.test"}, "R R R R R R R R R"),
    "accounts:password_reset_done": ({}, "M M M M M M M M M"),
    "accounts:password_reset_confirm": ({"new_password1": "x"}, "O O O O O O O O O"),
    "accounts:password_reset_complete": ({}, "M M M M M M M M M"),
    "accounts:invitation_accept": ({"new_password1": "x"}, "O O O O O O O O O"),
    # client_a has chosen a password already: the manager is told so; nothing is sent.
    "accounts:invitation_resend": ({}, "L R 4 4 4 4 4 4 4"),
    "accounts:two_factor": ({}, "L M M M M M M O M"),
    # Two-step changes need the current factor first (B); e-mail changes need the person (E).
    "accounts:confirm_factor": ({}, "L R R R R R R R O"),
    "accounts:email_change": ({}, "L O O O O O O O O"),
    "accounts:email_change_confirm": ({}, "L O O O O O O O O"),
    "accounts:email_change_link": ({}, "M M M M M M M M M"),
    "accounts:two_factor_sms": ({"phone": "+31 6 12345678"}, "L R R R R R R R R"),
    "accounts:two_factor_sms_confirm": ({"code": "123456"}, "L R R R R R R R R"),
    "accounts:two_factor_totp": ({"code": "12"}, "L O O O O O O R R"),
    "accounts:backup_codes": ({}, "L R R R R R R R R"),
    "accounts:two_factor_disable": ({}, "L R R R R R R R R"),
    "accounts:organisation_security": ({"require_two_factor": ""}, "L R 4 4 4 4 R 4 4"),
    # client_a has no two-step on: the manager is told so; nothing changes.
    "accounts:two_factor_reset_for": ({}, "L O 4 4 4 4 4 4 4"),
    "organisations:people": ({}, "L M 4 4 4 4 M 4 4"),
    "organisations:person_create": (
        {"full_name": "New Person", "email": "new@a.test", "role": "client"},
        "L R 4 4 4 4 R 4 4",
    ),
    "organisations:person_edit": (
        {"full_name": "Renamed", "email": "client.a@a.test"},
        "L R 4 4 4 4 4 4 4",
    ),
    "organisations:person_deactivate": ({}, "L R 4 4 4 4 4 4 4"),
    "organisations:person_delete": ({}, "L R 4 4 4 4 4 4 4"),
    "organisations:client_coach": ({"coach": "coach_b"}, "L R 4 4 4 4 4 4 4"),
    "privacy:statement": ({}, "M M M M M M M M M"),
    "privacy:mine": ({}, "M M M M M M M M M"),
    "privacy:data": ({}, "M M M M M M M M M"),
    # Without the signed token of the page (and here with a wrong password) nothing happens: the
    # form comes back with an error.
    "privacy:export": ({"password": "wrong"}, "L O O O O O O O O"),
    "privacy:request": ({"kind": "access"}, "L R R R R R R R R"),
    "privacy:delete": ({"password": "wrong", "confirmation": "x"}, "L 4 4 4 O O 4 4 4"),
    "privacy:staff_requests": ({}, "M M M M M M M M M"),
    "privacy:staff_request": (
        {"action": "handle", "status": "done", "outcome": "Corrected the name."},
        "L 4 4 4 4 4 4 R R",
    ),
    "coaching:client_list": ({}, "M M M M M M M M M"),
    "coaching:my_dialogue": ({}, "M M M M M M M M M"),
    "coaching:dialogue": ({"body": "A new message"}, "L 4 R 4 R 4 4 4 4"),
    "coaching:assignment_list": ({}, "M M M M M M M M M"),
    "coaching:assignment_create": ({"title": "T", "instructions": "I"}, "L 4 R 4 4 4 4 4 4"),
    "coaching:assignment_detail": ({}, "M M M M M M M M M"),
    "coaching:answer": ({"body": "My answer"}, "L 4 4 4 R 4 4 4 4"),
    "coaching:comment": ({"body": "A comment"}, "L 4 R 4 4 4 4 4 4"),
    "coaching:notes": ({"body": "A note"}, "L 4 R 4 4 4 4 4 4"),
    "coaching:note_edit": ({"body": "Edited"}, "L 4 R 4 4 4 4 4 4"),
    "coaching:note_delete": ({}, "L 4 R 4 4 4 4 4 4"),
}

# The staff admin's password pages: no form anywhere sets a password without the sign-in throttle,
# and nobody sets another person's password.
POST_TABLE |= {
    "admin:login": (
        {"username": "staff@platform.test", "password": "Test-Password-2026"},
        "L O O O O O O 3 R",
    ),
    "admin:password_change": (
        {"old_password": "wrong", "new_password1": "N3w-Secret-x", "new_password2": "N3w-Secret-x"},
        "A A A A A A A A R",
    ),
    "admin:accounts_user_password": (
        {"password1": "Attacker-Pass-2026", "password2": "Attacker-Pass-2026"},
        "4 4 4 4 4 4 4 4 4",
    ),
}

REFUSED = {"L", "A", "4", "3", "M"}
ACTORS = [*WORLD_ACTORS, "staff_2fa"]


def _actor(world, name):
    return world.staff if name == "staff_2fa" else world.actor(name)


@pytest.fixture
def sign_in(world, client):
    """sign_in(actor) returns the test client signed in as that actor (or anonymous)."""

    def as_actor(name):
        if name == "staff_2fa":
            return admin_session(client, with_two_step(world.staff))
        if name != "anonymous":
            client.force_login(world.actor(name))
        return client

    return as_actor


def _expected(row):
    codes = row.split()
    assert len(codes) == len(ACTORS), f"row {row!r} needs {len(ACTORS)} outcomes"
    return dict(zip(ACTORS, codes, strict=True))


def _url(key, kwargs):
    if "(?P<url>" in key:
        return "/admin/" + kwargs["url"]
    if key.startswith("admin/"):  # an unnamed pattern, keyed by its route
        return "/" + key.replace("<path:object_id>", str(kwargs["object_id"]))
    return reverse(key, kwargs=kwargs)


def _outcome(response):
    status = response.status_code
    if status in (301, 302):
        location = response.headers["Location"]
        if location.startswith(reverse("admin:login")):
            return "A"
        if location.startswith(reverse("accounts:login")):
            return "L"
        return "R"
    return {200: "O", 404: "4", 403: "3", 405: "M"}.get(status, str(status))


def _snapshot():
    """Every row of every model of ours, minus the timestamps a visit itself updates."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label not in {"accounts", "organisations", "coaching", "privacy"}:
            continue
        rows[model._meta.label] = [
            {k: v for k, v in row.items() if k not in {"last_login", "last_activity"}}
            for row in model.objects.order_by("pk").values()
        ]
    return rows


def test_every_url_is_in_the_table():
    served = {key for key, _route, _p in all_patterns()}
    assert served - set(GET_TABLE) == set(), "URL patterns without access rules"
    assert set(GET_TABLE) - served == set(), "rules for URL patterns that no longer exist"
    assert set(POST_TABLE) <= set(GET_TABLE)


def test_every_non_admin_url_has_post_rules():
    non_admin = {k for k in GET_TABLE if not k.startswith("admin")}
    assert non_admin - set(POST_TABLE) == set()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("key", sorted(GET_TABLE))
def test_get(world, sign_in, key, actor):
    kwargs_for, row = GET_TABLE[key]
    http = sign_in(actor)
    before = _snapshot()
    response = http.get(_url(key, kwargs_for(world)))
    got = _outcome(response)
    assert got == _expected(row)[actor], f"GET {key} as {actor}: {response.status_code}"
    if got in REFUSED:
        assert _snapshot() == before


def _post_data(world, data):
    # Values naming an actor ("coach_b") are sent as that actor's id.
    return {k: (_actor(world, v).pk if v in ACTORS[1:] else v) for k, v in data.items()}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("key", sorted(POST_TABLE))
def test_post(world, sign_in, key, actor):
    data, row = POST_TABLE[key]
    kwargs_for, _ = GET_TABLE[key]
    http = sign_in(actor)
    before = _snapshot()
    response = http.post(_url(key, kwargs_for(world)), _post_data(world, data))
    got = _outcome(response)
    assert got == _expected(row)[actor], f"POST {key} as {actor}: {response.status_code}"
    if got in REFUSED:
        assert _snapshot() == before, f"POST {key} as {actor} was refused but changed data"
