"""What a manager may do to the people of their organisation, as plain functions.

The views call these; tests and management commands may call them too.
"""

from django.db import transaction

from accounts.models import Role, User
from coaching.models import Note


class ReassignmentError(ValueError):
    """The new coach cannot take this client (wrong role, organisation or inactive)."""


@transaction.atomic
def reassign_client(client: User, new_coach: User | None) -> User:
    """Give `client` a new coach (or none), following the reassignment rule of docs/app.md.

    - Messages and assignments stay attached to the old coach–client pair; the client keeps
      seeing all of them. The new coach sees only what is exchanged from now on (the coaching
      querysets scope a coach to rows of their own pair with their *current* clients).
    - The old coach loses all access to the client.
    - The old coach's private notes about this client are deleted: nobody else may read them,
      and the platform keeps no notes that nobody can read.

    Reassigning to the current coach changes nothing.
    """
    client = User.objects.select_for_update().get(pk=client.pk)
    if client.role != Role.CLIENT:
        raise ReassignmentError("Only a client has a coach.")
    if new_coach is not None and (
        new_coach.role != Role.COACH
        or new_coach.organisation_id != client.organisation_id
        or not new_coach.is_active
    ):
        raise ReassignmentError("The new coach must be an active coach of the same organisation.")
    old_coach_id = client.coach_id
    new_coach_id = new_coach.pk if new_coach is not None else None
    if old_coach_id == new_coach_id:
        return client
    if old_coach_id is not None:
        Note.objects.filter(coach_id=old_coach_id, client=client).delete()
    client.coach = new_coach
    client.save(update_fields=["coach"])
    return client


def set_active(person: User, active: bool) -> User:
    """Activate or deactivate an account; a deactivated user cannot sign in."""
    if person.is_active != active:
        person.is_active = active
        person.save(update_fields=["is_active"])
    return person


@transaction.atomic
def delete_person(person: User) -> None:
    """Delete a coach or client with all their data. A deleted coach's clients keep their
    accounts and have no coach until a manager assigns one (the foreign key is SET_NULL).
    The privacy app erases and records it (docs/privacy.md, "Erasure")."""
    from privacy.erasure import erase_user
    from privacy.models import RequestSource

    erase_user(person, source=RequestSource.ORGANISATION)
