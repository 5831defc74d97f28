"""`for_user` on every coaching model, for an owner, a colleague and an outsider."""

import pytest

from coaching.models import Answer, Assignment, Comment, Message, Note

pytestmark = [pytest.mark.app, pytest.mark.control("APP-01")]

MODELS = [Message, Assignment, Answer, Comment, Note]


@pytest.mark.parametrize("model", MODELS)
def test_the_coach_sees_their_own_pair(world, model):
    assert model.objects.for_user(world.coach_a).count() == 1


@pytest.mark.parametrize("model", [Message, Assignment, Answer, Comment])
def test_the_client_sees_what_was_given_to_them(world, model):
    assert model.objects.for_user(world.client_a).count() == 1


def test_the_client_never_sees_the_coachs_notes(world):
    assert Note.objects.for_user(world.client_a).count() == 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("outsider", ["manager", "coach_b", "client_b", "other_manager", "staff"])
def test_nobody_else_sees_anything(world, model, outsider):
    assert model.objects.for_user(world.actor(outsider)).count() == 0


@pytest.mark.parametrize("model", MODELS)
def test_a_deactivated_client_drops_out_of_the_coachs_scope(world, model):
    world.client_a.is_active = False
    world.client_a.save()
    assert model.objects.for_user(world.coach_a).count() == 0


@pytest.mark.parametrize("model", MODELS)
def test_a_deactivated_user_sees_nothing(world, model):
    world.coach_a.is_active = False
    world.coach_a.save()
    assert model.objects.for_user(world.coach_a).count() == 0
