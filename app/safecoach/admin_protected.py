"""The fields the platform staff's admin never reaches: what coach and client wrote, and secrets.

Content is what a coach and a client wrote to each other (and the coach's private notes).
Secrets are what would let someone sign in as a person or learn how they sign in: the password
hash, phone numbers and authenticator keys of two-step verification, code and token hashes, and
throttle keys. Any field whose name contains a word of SECRET_NAME_PARTS counts as a secret too,
so a new model with a token or a phone number is covered before anyone lists it here.

`reaches_protected(model, path)` tells whether a lookup path (`coach__two_factor__phone`) touches
such a field on its way; the staff admin (safecoach.admin_base) refuses every such path.
"""

from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP

CONTENT_FIELDS = {
    "coaching.Message": {"body"},
    "coaching.Answer": {"body"},
    "coaching.Comment": {"body"},
    "coaching.Note": {"body"},
    "coaching.Assignment": {"title", "instructions"},
}

SECRET_FIELDS = {
    "accounts.User": {"password"},
    "accounts.TwoFactor": {"totp_secret", "phone", "recorded_phone"},
    "accounts.OneTimeCode": {"code_hash", "phone"},
    "accounts.BackupCode": {"code_hash"},
    "accounts.Invitation": {"token_hash"},
    "accounts.Throttle": {"key"},
}

SECRET_NAME_PARTS = ("password", "hash", "secret", "token", "phone")


def is_content(model, name: str) -> bool:
    return name in CONTENT_FIELDS.get(model._meta.label, ())


def is_secret(model, name: str) -> bool:
    return name in SECRET_FIELDS.get(model._meta.label, ()) or any(
        part in name for part in SECRET_NAME_PARTS
    )


def is_protected(model, name: str) -> bool:
    """True for a content or secret field of `model`."""
    return is_content(model, name) or is_secret(model, name)


def protected_fields(model) -> set[str]:
    """The names of the content and secret fields of `model` (concrete fields only)."""
    return {f.name for f in model._meta.get_fields() if f.concrete and is_protected(model, f.name)}


def reaches_protected(model, path: str) -> bool:
    """True when the lookup path, read from `model`, passes through a protected field.

    The path is followed through relations (forward and reverse) as the ORM does; the first part
    that is not a field (a lookup such as `icontains` or a transform such as `year`) ends it.
    """
    for part in path.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if is_protected(model, field.name) or is_protected(model, part):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


def ordering_reaches_protected(model, path: str, depth: int = 3) -> bool:
    """True when ordering by `path` compares protected values: the path itself passes through a
    protected field, or it ends on a relation whose model is ordered (Meta.ordering) by one."""
    path = path.lstrip("-")
    if reaches_protected(model, path):
        return True
    for part in path.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    # The path ends on a relation: the database orders by the related model's own ordering.
    return depth > 0 and any(
        isinstance(item, str) and ordering_reaches_protected(model, item, depth - 1)
        for item in model._meta.ordering
    )
