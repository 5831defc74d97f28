"""seed_demo: the documented demo organisation, made idempotently."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Role, User
from coaching.models import Answer, Assignment, Comment, Message, Note
from organisations.management.commands.seed_demo import PASSWORD
from organisations.models import Organisation

pytestmark = pytest.mark.app

MODELS = (Organisation, User, Message, Assignment, Answer, Comment, Note)


def run(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def state():
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True)) for model in MODELS
    } | {"users": sorted(User.objects.values_list("email", "role", "coach__email", "password"))}


def test_seed_demo_creates_the_documented_organisation(db):
    out = run()
    assert "manager@demo.safecoach.test" in out and PASSWORD in out
    organisation = Organisation.objects.get(name="Praktijk De Linde")
    manager = User.objects.get(email="manager@demo.safecoach.test")
    assert (manager.full_name, manager.role, manager.organisation) == (
        "Mila Manager",
        Role.MANAGER,
        organisation,
    )
    anna = User.objects.get(email="anna.coach@demo.safecoach.test")
    bram = User.objects.get(email="bram.coach@demo.safecoach.test")
    assert set(User.objects.clients_of(anna).values_list("full_name", flat=True)) == {
        "Carla Bakker",
        "Daan Visser",
        "Eva Smit",
    }
    assert set(User.objects.clients_of(bram).values_list("full_name", flat=True)) == {
        "Fleur de Boer",
        "Gijs Mulder",
    }
    staff = User.objects.get(email="staff@demo.safecoach.test")
    assert staff.is_superuser and staff.is_staff
    assert staff.organisation is None and staff.role == ""
    for client in User.objects.filter(role=Role.CLIENT):
        messages = Message.objects.filter(client=client, coach=client.coach)
        assert messages.count() >= 3
        assert messages.filter(read_at=None).exists() or client.full_name == "Fleur de Boer"
        assert Note.objects.filter(client=client, coach=client.coach).exists()
    assert Message.objects.exclude(read_at=None).exists()
    assert Answer.objects.exists() and Comment.objects.exists()
    for email in User.objects.values_list("email", flat=True):
        assert Client().login(email=email, password=PASSWORD), email


def test_seed_demo_is_idempotent(db):
    run()
    before = state()
    out = run()
    assert "nothing changed" in out
    assert state() == before


def test_seed_demo_reset_recreates(db):
    run()
    carla = User.objects.get(email="carla@demo.safecoach.test")
    carla.full_name = "Changed"
    carla.save()
    bystander = Organisation.objects.create(name="Other")
    out = run("--reset")
    assert "nothing changed" not in out
    assert User.objects.get(email="carla@demo.safecoach.test").full_name == "Carla Bakker"
    assert Organisation.objects.filter(name="Praktijk De Linde").count() == 1
    assert Organisation.objects.filter(pk=bystander.pk).exists()
    assert User.objects.filter(email__endswith="@demo.safecoach.test").count() == 9


def test_seed_demo_extra_messages(db):
    run()
    carla = User.objects.get(email="carla@demo.safecoach.test")
    seeded = Message.objects.filter(client=carla).count()
    run("--messages", "50")
    assert Message.objects.filter(client=carla).count() == seeded + 50
    run("--messages", "50")
    assert Message.objects.filter(client=carla).count() == seeded + 50


@pytest.mark.control("AUTH-04")
def test_the_demo_requires_two_step_and_signs_in_with_an_sms_code(db, settings, tmp_path):
    """Every demo account, staff too, has SMS two-step on with its documented number; the
    password alone signs nobody in, the code texted to that number does."""
    import json
    import re

    from django.urls import reverse

    from accounts.models import TwoFactor
    from organisations.management.commands.seed_demo import PHONES

    settings.SAFECOACH_SMS_BACKEND = "file"
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    out = run()
    assert Organisation.objects.get(name="Praktijk De Linde").require_two_factor
    for local, phone in PHONES.items():
        address = f"{local}@demo.safecoach.test"
        assert phone in out
        tf = TwoFactor.objects.get(user__email=address)
        assert (tf.method, tf.phone) == ("sms", phone)
        http = Client()
        http.post(reverse("accounts:login"), {"username": address, "password": PASSWORD})
        assert "_auth_user_id" not in http.session, address
        last = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])
        assert last["to"] == phone
        code = re.search(r"\b(\d{6})\b", last["text"]).group(1)
        http.post(reverse("accounts:signin_verify"), {"code": code})
        assert "_auth_user_id" in http.session, address
