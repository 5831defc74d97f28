"""Fixtures of the organisations tests: two organisations with an owner (the manager of
organisation A), a colleague (a coach of A), clients, and an outsider (the manager of B)."""

import pytest

from accounts.models import Role
from coaching.models import Answer, Assignment, Comment, Message, Note
from organisations.models import Organisation

PASSWORD = "Test-Password-2026"

# Text planted in every kind of confidential content; it must never reach a manager or staff.
SECRET = "SECRET-dialogue-7d1f3a"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(django_user_model):
    def make(email, role="", organisation=None, coach=None, **fields):
        fields.setdefault("full_name", email.split("@")[0].replace(".", " ").title())
        fields.setdefault("language", "en")
        return django_user_model.objects.create_user(
            email, PASSWORD, role=role, organisation=organisation, coach=coach, **fields
        )

    return make


@pytest.fixture
def org_a(db):
    return Organisation.objects.create(name="Organisation A")


@pytest.fixture
def org_b(db):
    return Organisation.objects.create(name="Organisation B")


@pytest.fixture
def owner(make_user, org_a):
    """The manager of organisation A: the only one who may use its manager screens."""
    return make_user("owner@a.test", Role.MANAGER, org_a, full_name="Olga Owner")


@pytest.fixture
def other_manager(make_user, org_a):
    return make_user("second.manager@a.test", Role.MANAGER, org_a, full_name="Max Manager")


@pytest.fixture
def colleague(make_user, org_a):
    """A coach of organisation A."""
    return make_user("colleague@a.test", Role.COACH, org_a, full_name="Cora Coach")


@pytest.fixture
def coach_a2(make_user, org_a):
    return make_user("second.coach@a.test", Role.COACH, org_a, full_name="Kees Coach")


@pytest.fixture
def client_a(make_user, org_a, colleague):
    return make_user("client@a.test", Role.CLIENT, org_a, coach=colleague, full_name="Chris Client")


@pytest.fixture
def outsider(make_user, org_b):
    """The manager of organisation B: everything of A is a 404 for them."""
    return make_user("outsider@b.test", Role.MANAGER, org_b, full_name="Otto Outsider")


@pytest.fixture
def coach_b(make_user, org_b):
    return make_user("coach@b.test", Role.COACH, org_b, full_name="Bea Coach")


@pytest.fixture
def client_b(make_user, org_b, coach_b):
    return make_user("client@b.test", Role.CLIENT, org_b, coach=coach_b, full_name="Ben Client")


@pytest.fixture
def staff(make_user):
    """Platform staff: no organisation, no role."""
    return make_user("staff@platform.test", is_staff=True, full_name="Stan Staff")


@pytest.fixture
def superuser(make_user):
    return make_user("root@platform.test", is_staff=True, is_superuser=True, full_name="Rita Root")


@pytest.fixture
def dialogue(colleague, client_a):
    """Confidential content of the pair (colleague, client_a), each item carrying SECRET."""
    message = Message.objects.create(
        coach=colleague, client=client_a, sender=colleague, body=f"{SECRET} message"
    )
    reply = Message.objects.create(
        coach=colleague, client=client_a, sender=client_a, body=f"{SECRET} reply"
    )
    assignment = Assignment.objects.create(
        coach=colleague,
        client=client_a,
        title=f"{SECRET} title",
        instructions=f"{SECRET} instructions",
    )
    answer = Answer.objects.create(assignment=assignment, body=f"{SECRET} answer")
    comment = Comment.objects.create(assignment=assignment, body=f"{SECRET} comment")
    note = Note.objects.create(coach=colleague, client=client_a, body=f"{SECRET} note")
    return {
        "messages": [message, reply],
        "assignment": assignment,
        "answer": answer,
        "comment": comment,
        "note": note,
    }


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client
