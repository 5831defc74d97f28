"""A small world for cross-app tests: two organisations and someone in every role.

Organisation A: manager, coach A, coach B (a colleague of coach A), a client of A, a client of B.
Organisation B: its own manager (the outsider). Platform staff belong to no organisation.
Coach A has given client A a message, an assignment with an answer and a comment, and keeps a
private note; every one of those texts contains SECRET so tests can look for leaks.
"""

from dataclasses import dataclass

import pytest

from accounts.models import Role, User
from coaching.models import Answer, Assignment, Comment, Message, Note
from organisations.models import Organisation

PASSWORD = "Test-Password-2026"
SECRET = "SECRET-dialogue-text-7f3a"


@dataclass
class World:
    org_a: Organisation
    org_b: Organisation
    manager: User
    coach_a: User
    coach_b: User
    client_a: User
    client_b: User
    other_manager: User
    staff: User
    message: Message
    assignment: Assignment
    answer: Answer
    comment: Comment
    note: Note

    def actor(self, name):
        return None if name == "anonymous" else getattr(self, name)


ACTORS = [
    "anonymous",
    "manager",
    "coach_a",
    "coach_b",
    "client_a",
    "client_b",
    "other_manager",
    "staff",
]


def make_user(email, name, org=None, role="", coach=None, **extra):
    return User.objects.create_user(
        email, PASSWORD, full_name=name, organisation=org, role=role, coach=coach, **extra
    )


@pytest.fixture
def world(db):
    org_a = Organisation.objects.create(name="Organisation A")
    org_b = Organisation.objects.create(name="Organisation B")
    manager = make_user("manager@a.test", "Manager Alpha", org_a, Role.MANAGER)
    coach_a = make_user("coach.a@a.test", "Coach Anna", org_a, Role.COACH)
    coach_b = make_user("coach.b@a.test", "Coach Bert", org_a, Role.COACH)
    client_a = make_user("client.a@a.test", "Client Carla", org_a, Role.CLIENT, coach_a)
    client_b = make_user("client.b@a.test", "Client Dirk", org_a, Role.CLIENT, coach_b)
    other_manager = make_user("manager@b.test", "Manager Beta", org_b, Role.MANAGER)
    staff = make_user("staff@platform.test", "Staff Sam", is_staff=True, is_superuser=True)
    message = Message.objects.create(
        coach=coach_a, client=client_a, sender=coach_a, body=f"Hello {SECRET} message"
    )
    assignment = Assignment.objects.create(
        coach=coach_a,
        client=client_a,
        title=f"Title {SECRET}",
        instructions=f"Instructions {SECRET}",
    )
    answer = Answer.objects.create(assignment=assignment, body=f"Answer {SECRET}")
    comment = Comment.objects.create(assignment=assignment, body=f"Comment {SECRET}")
    note = Note.objects.create(coach=coach_a, client=client_a, body=f"Note {SECRET}")
    return World(
        org_a,
        org_b,
        manager,
        coach_a,
        coach_b,
        client_a,
        client_b,
        other_manager,
        staff,
        message,
        assignment,
        answer,
        comment,
        note,
    )


@pytest.fixture
def login(client):
    """login(user) signs the test client in as `user` (None stays anonymous)."""

    def sign_in(user):
        if user is not None:
            client.force_login(user)
        return client

    return sign_in
