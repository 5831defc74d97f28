"""Restriction of processing (AVG art. 18): while restricted, a person's data is only stored.

Enforced for every request by `privacy.middleware.PrivacyMiddleware` (`refuse_if_restricted`):
- the restricted person's own account is read-only: every POST is refused except on the privacy
  pages (their rights: export, requests, erasure), signing in and out, the language switch and
  keeping the account secure (password, two-step verification);
- nobody else may open or change the restricted person's coaching data: their coach gets a
  403 page on the dialogue, assignments and notes about them;
- an organisation manager cannot change, deactivate, reassign or delete the person (profile
  pages may still be read, to know the account exists and is restricted);
and elsewhere:
- `coaching.notifications.notify` sends them no e-mail;
- the retention job neither warns nor erases them (the data must be kept while restricted).
"""

from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.models import User
from privacy.models import ProcessingRestriction

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# URL names a restricted person may still POST to (besides the whole privacy namespace): signing
# in and out, the language, and keeping their own account secure (password, two-step
# verification; some of these names come with the sign-in work).
ALWAYS_ALLOWED = {
    "set_language",
    "accounts:login",
    "accounts:logout",
    "accounts:signin_verify",
    "accounts:signin_resend",
    "accounts:password_change",
    "accounts:confirm_password",
    "accounts:password_reset",
    "accounts:password_reset_confirm",
    "accounts:two_factor",
    "accounts:two_factor_sms",
    "accounts:two_factor_sms_confirm",
    "accounts:two_factor_totp",
    "accounts:backup_codes",
    "accounts:two_factor_disable",
}


def is_restricted(user):
    if user is None or not getattr(user, "pk", None):
        return False
    return ProcessingRestriction.objects.filter(user_id=user.pk).exists()


MAX_ID = 2**63 - 1  # ids beyond a bigint are simply not found (the view answers 404)


def _valid_id(value):
    return isinstance(value, int) and 0 < value <= MAX_ID


def _coaching_subject_id(url_name, kwargs):
    """The client whose data a coaching URL opens, or None."""
    from coaching.models import Assignment, Note

    if any(not _valid_id(value) for value in kwargs.values()):
        return None
    if "client_id" in kwargs:
        return kwargs["client_id"]
    if url_name in {"assignment_detail", "answer", "comment"}:
        return (
            Assignment.objects.filter(pk=kwargs.get("pk"))
            .values_list("client_id", flat=True)
            .first()
        )
    if url_name in {"note_edit", "note_delete"}:
        return Note.objects.filter(pk=kwargs.get("pk")).values_list("client_id", flat=True).first()
    return None


def _refuse(request, message):
    return render(request, "privacy/restricted.html", {"reason": message}, status=403)


def refuse_if_restricted(request, view_kwargs):
    """A 403 response when the request would process restricted data, else None."""
    user = getattr(request, "user", None)
    match = request.resolver_match
    if user is None or not user.is_authenticated or match is None:
        return None
    namespace = match.namespace
    view_name = match.view_name
    if (
        request.method not in SAFE_METHODS
        and namespace != "privacy"
        and view_name not in ALWAYS_ALLOWED
        and is_restricted(user)
    ):
        return _refuse(
            request,
            _(
                "Processing of your data is restricted at your request, so your account "
                "is read-only. You can still use your privacy page."
            ),
        )
    subject_id = None
    if namespace == "coaching":
        subject_id = _coaching_subject_id(match.url_name, view_kwargs)
    elif namespace == "organisations" and request.method not in SAFE_METHODS:
        subject_id = view_kwargs.get("pk")
    if not _valid_id(subject_id) or subject_id == user.pk:
        return None
    # Only for people the user may otherwise reach: the view answers 404 for the rest, so
    # a restriction never reveals that an account exists.
    if ProcessingRestriction.objects.filter(user_id=subject_id).exists() and (
        User.objects.for_user(user).filter(pk=subject_id).exists()
    ):
        return _refuse(
            request,
            _(
                "Processing of this person's data is restricted at their request. Their data "
                "is kept but cannot be opened or changed until the restriction is lifted."
            ),
        )
    return None
