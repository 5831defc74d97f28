"""The confidential part: dialogue, assignments with answers and comments, private notes.

Who sees what (every queryset goes through `for_user`):
- a client: everything addressed to them, from any coach they have had;
- a coach: what belongs to the pair (coach, client) for their *current*, active clients;
  private notes only their own;
- a manager, platform staff, anyone else: nothing.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MESSAGE_MAX_LENGTH = 5000
TEXT_MAX_LENGTH = 10000


def _pair_scope(user, prefix=""):
    """Q filter for rows of a coach-client pair visible to `user`, or None for nothing."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_coach:
        return models.Q(
            **{
                f"{prefix}coach": user,
                f"{prefix}client__coach": user,
                f"{prefix}client__is_active": True,
            }
        )
    if user.is_client:
        return models.Q(**{f"{prefix}client": user})
    return None


class PairQuerySet(models.QuerySet):
    scope_prefix = ""

    def for_user(self, user):
        scope = _pair_scope(user, self.scope_prefix)
        return self.none() if scope is None else self.filter(scope)


class AssignmentChildQuerySet(PairQuerySet):
    scope_prefix = "assignment__"


class CoachClientPair(models.Model):
    """Rows that belong to one coach and one client (deleting either deletes the row)."""

    coach = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("coach"),
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("client"),
    )

    class Meta:
        abstract = True


class Message(CoachClientPair):
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("sender"),
    )
    body = models.TextField(_("message"), max_length=MESSAGE_MAX_LENGTH)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    objects = PairQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "coach", "-created_at"])]

    def __str__(self):
        return gettext("message %(id)s") % {"id": self.pk}


class Assignment(CoachClientPair):
    title = models.CharField(_("title"), max_length=200)
    instructions = models.TextField(_("instructions"), max_length=TEXT_MAX_LENGTH)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    created_at = models.DateTimeField(_("given"), auto_now_add=True)

    objects = PairQuerySet.as_manager()

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return gettext("assignment %(id)s") % {"id": self.pk}


class Answer(models.Model):
    """The client's answer to an assignment; one per assignment, which the client may revise."""

    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="answer", verbose_name=_("assignment")
    )
    body = models.TextField(_("answer"), max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(_("answered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = AssignmentChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self):
        return gettext("answer %(id)s") % {"id": self.pk}


class Comment(models.Model):
    """The coach's comment on an assignment and its answer."""

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="comments", verbose_name=_("assignment")
    )
    body = models.TextField(_("comment"), max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(_("written"), auto_now_add=True)

    objects = AssignmentChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "id"]

    def __str__(self):
        return gettext("comment %(id)s") % {"id": self.pk}


class NoteQuerySet(models.QuerySet):
    def for_user(self, user):
        """Professional secrecy: a coach's notes are the coach's alone, on current clients."""
        if not user.is_authenticated or not user.is_active or not user.is_coach:
            return self.none()
        return self.filter(coach=user, client__coach=user, client__is_active=True)


class Note(CoachClientPair):
    body = models.TextField(_("note"), max_length=TEXT_MAX_LENGTH)
    created_at = models.DateTimeField(_("written"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = NoteQuerySet.as_manager()

    class Meta:
        verbose_name = _("private note")
        verbose_name_plural = _("private notes")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return gettext("note %(id)s") % {"id": self.pk}
