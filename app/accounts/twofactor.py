"""Two-step verification: phone numbers, SMS codes, the authenticator app and backup codes.

The rules (docs/signin.md): an SMS code is single-use, expires after SAFECOACH_CODE_SECONDS
(5 minutes), a new one can be asked for at most once per SAFECOACH_CODE_RESEND_SECONDS (30 s),
and SAFECOACH_THROTTLE["code"] wrong codes (5) in a row lock code entry for a cooldown. Wrong
codes count together whether they were meant as SMS, app or backup code.
"""

import time
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import codes, notices, throttle
from accounts.models import (
    BackupCode,
    CodePurpose,
    OneTimeCode,
    TwoFactor,
    TwoFactorMethod,
)
from accounts.sms import SMSError, send_sms
from safecoach import metrics

BACKUP_CODE_COUNT = 10

metrics.prepare_kinds(metrics.SMS, CodePurpose.values)


# Session key: when this session last passed a second factor (POSIX seconds). Set by every view
# that accepts a code at sign-in or at enrolment; read by the staff admin (and step-up checks).
SECOND_FACTOR_SESSION_KEY = "second_factor_at"


def mark_second_factor(request) -> None:
    """Record that this session has just passed a second factor (code or backup code)."""
    request.session[SECOND_FACTOR_SESSION_KEY] = time.time()


def second_factor_passed(request) -> bool:
    """True when this session passed a second factor since it was signed in."""
    return request.session.get(SECOND_FACTOR_SESSION_KEY) is not None


class CodeError(Exception):
    """One clear sentence for the person; nothing was changed except a counted wrong try."""


def two_factor_of(user) -> TwoFactor | None:
    """The person's two-step settings when two-step is on, else None (read fresh each time)."""
    tf = TwoFactor.objects.filter(user_id=user.pk).first()
    return tf if tf is not None and tf.is_on else None


def enrolment_forced(user, *, staff=True) -> bool:
    """True when this person may use safecoach only with two-step on: platform staff always,
    everyone in an organisation that requires it, and anyone whose two-step a manager or devops
    reset (or for whom they recorded a number) until they have set it up again.

    `staff=False` leaves out the staff rule; see setup_required."""
    if user.is_staff and staff:
        return True
    if TwoFactor.objects.filter(user_id=user.pk, enrol_required=True).exists():
        return True
    return bool(
        user.organisation_id
        and get_user_model()
        .objects.filter(pk=user.pk, organisation__require_two_factor=True)
        .exists()
    )


def setup_required(user, *, staff=True) -> bool:
    """True when two-step must be on for this person (enrolment_forced) and it is not.

    The sign-in applies the staff rule (no staff session without two-step is ever made); the
    middleware that holds sessions already signed in passes `staff=False`, as the staff admin
    refuses any session that has not passed a second factor (safecoach.admin_site)."""
    if not user.is_authenticated:
        return False
    return two_factor_of(user) is None and enrolment_forced(user, staff=staff)


def recorded_phone_of(user) -> str:
    """The number recorded for this person's next enrolment, or ""."""
    row = TwoFactor.objects.filter(user_id=user.pk).values_list("recorded_phone", flat=True).first()
    return row or ""


# --- phone numbers ----------------------------------------------------------------------------


def allowed_prefixes() -> str:
    prefixes = [
        f"+{phonenumbers.country_code_for_region(r)}" for r in settings.SAFECOACH_SMS_REGIONS
    ]
    return _(" or ").join(dict.fromkeys(prefixes))


def normalise_phone(text: str) -> str:
    """An E.164 mobile number from what a person typed, or ValidationError with one sentence."""
    example = _("Enter a mobile number in international format, for example +31 6 12345678.")
    raw = (text or "").strip()
    if not raw or len(raw) > 32 or not all(ch.isdigit() or ch in "+-() ." for ch in raw):
        raise ValidationError(example, code="malformed")
    try:
        number = phonenumbers.parse(raw, settings.SAFECOACH_SMS_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(example, code="malformed") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(example, code="malformed")
    if phonenumbers.region_code_for_number(number) not in settings.SAFECOACH_SMS_REGIONS:
        raise ValidationError(
            _("We can only send text messages to numbers starting with %(prefixes)s.")
            % {"prefixes": allowed_prefixes()},
            code="foreign",
        )
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError(
            _("That is not a mobile number; enter a number that can receive text messages."),
            code="not_mobile",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(phone: str) -> str:
    """+31612345678 → +31 ••• ••• 78: enough to recognise, not enough to read out."""
    return f"{phone[:3]} ••• ••• {phone[-2:]}" if len(phone) > 6 else "•••"


# --- SMS codes --------------------------------------------------------------------------------


def _locked_error(until):
    return CodeError(
        _("Too many wrong codes. Try again after %(time)s.") % {"time": throttle.local_time(until)}
    )


def _latest(user, purpose):
    return OneTimeCode.objects.filter(user=user, purpose=purpose).first()


def send_code(user, purpose: str, phone: str) -> OneTimeCode:
    """Text a fresh code to `phone`; older codes of this purpose stop counting."""
    until = throttle.locked_until("code", user.pk)
    if until:
        raise _locked_error(until)
    now = timezone.now()
    latest = _latest(user, purpose)
    wait = settings.SAFECOACH_CODE_RESEND_SECONDS
    if latest and latest.used_at is None and latest.created_at > now - timedelta(seconds=wait):
        left = wait - int((now - latest.created_at).total_seconds())
        raise CodeError(
            _(
                "A code was sent less than %(wait)d seconds ago; wait %(left)d seconds and ask again."
            )
            % {"wait": wait, "left": max(left, 1)}
        )
    # A cap on texts per person, against SMS pumping through the enrolment form.
    until = throttle.locked_until("sms", user.pk)
    if until:
        raise CodeError(
            _("You have asked for many codes in a short time. Try again after %(time)s.")
            % {"time": throttle.local_time(until)}
        )
    throttle.record_failure("sms", user.pk)
    code = codes.new_numeric_code()
    minutes = max(1, settings.SAFECOACH_CODE_SECONDS // 60)
    with translation.override(user.language):
        text = _("Your safecoach code is %(code)s. It expires in %(minutes)d minutes.") % {
            "code": code,
            "minutes": minutes,
        }
    try:
        send_sms(phone, text, user_id=user.pk, kind=str(purpose))
    except SMSError:
        raise CodeError(_("We could not send the code; please try again.")) from None
    return OneTimeCode.objects.create(
        user=user,
        purpose=purpose,
        phone=phone,
        code_hash=codes.keyed_hash("sms", user.pk, purpose, code),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SAFECOACH_CODE_SECONDS),
    )


def pending_code(user, purpose) -> OneTimeCode | None:
    latest = _latest(user, purpose)
    if latest and latest.used_at is None and latest.expires_at > timezone.now():
        return latest
    return None


def _wrong():
    return CodeError(_("That code is not right; check it and try again."))


def _refused(until):
    """A code check refused while code entry is locked (counted as a failed sign-in step)."""
    metrics.signin_failed("locked")
    return _locked_error(until)


def _count_wrong(user):
    metrics.signin_failed("code")
    until = throttle.record_failure("code", user.pk)
    if until:
        raise _locked_error(until)
    raise _wrong()


def check_sms_code(user, purpose: str, code: str) -> OneTimeCode:
    """Use the newest code of `purpose`; raises CodeError (and counts wrong codes)."""
    until = throttle.locked_until("code", user.pk)
    if until:
        raise _refused(until)
    latest = _latest(user, purpose)
    if latest is None:
        raise CodeError(_("No code has been sent yet; ask for a code first."))
    if latest.used_at is not None:
        raise CodeError(_("That code has already been used; ask for a new code."))
    if latest.expires_at <= timezone.now():
        raise CodeError(_("That code has expired; ask for a new code."))
    if not codes.same(latest.code_hash, codes.keyed_hash("sms", user.pk, purpose, code)):
        _count_wrong(user)
    claimed = OneTimeCode.objects.filter(pk=latest.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if not claimed:  # the same code, used by a parallel request a moment ago
        raise CodeError(_("That code has already been used; ask for a new code."))
    throttle.reset("code", user.pk)
    return latest


# --- authenticator app ------------------------------------------------------------------------


def check_totp(user, secret: str, code: str, last_step=None) -> int:
    until = throttle.locked_until("code", user.pk)
    if until:
        raise _refused(until)
    step = codes.totp_match(secret, code, last_step)
    if step is None:
        if last_step is not None and codes.totp_match(secret, code, None) is not None:
            raise CodeError(_("That code has already been used; wait for the next one."))
        _count_wrong(user)
    throttle.reset("code", user.pk)
    return step


# --- backup codes -----------------------------------------------------------------------------


def new_backup_codes(user) -> list[str]:
    """Replace the user's backup codes; the plain codes are returned once and never stored."""
    plain = [codes.new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    with transaction.atomic():
        BackupCode.objects.filter(user=user).delete()
        BackupCode.objects.bulk_create(
            BackupCode(user=user, code_hash=codes.keyed_hash("backup", user.pk, c)) for c in plain
        )
    return plain


def unused_backup_codes(user) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


def check_backup_code(user, code: str) -> None:
    until = throttle.locked_until("code", user.pk)
    if until:
        raise _refused(until)
    digest = codes.keyed_hash("backup", user.pk, codes.normalise_backup_code(code))
    row = BackupCode.objects.filter(user=user, code_hash=digest).first()
    if row is None:
        _count_wrong(user)
    if row.used_at is not None or not BackupCode.objects.filter(
        pk=row.pk, used_at__isnull=True
    ).update(used_at=timezone.now()):
        raise CodeError(_("That backup code has already been used; use another one."))
    throttle.reset("code", user.pk)


# --- switching on and off, and the second step at sign-in -------------------------------------


def _change_kind(before: TwoFactor | None, method: str, phone: str) -> str:
    """Which credential_changed notice a switch to (method, phone) is."""
    if before is None:
        return "two_factor_on"
    if before.method != method or method == TwoFactorMethod.TOTP:
        return "two_factor_method"  # SMS <-> app, or a new authenticator app
    return "phone" if before.phone != phone else "two_factor_method"


def enable(user, method, phone="", secret="", step=None, actor=None) -> list[str] | None:
    """Switch two-step on (or to another phone or app) with a proven phone or app key, clear any
    recorded number, and tell the person. Returns fresh backup codes when none were left."""
    before = two_factor_of(user)
    with transaction.atomic():
        tf, _created = TwoFactor.objects.select_for_update().get_or_create(user=user)
        tf.method = method
        tf.phone = phone if method == TwoFactorMethod.SMS else ""
        tf.set_totp_key(secret if method == TwoFactorMethod.TOTP else "")
        tf.totp_last_step = step if method == TwoFactorMethod.TOTP else None
        tf.enabled_at = timezone.now()
        tf.recorded_phone = ""
        tf.enrol_required = False
        tf.save()
    notices.credential_changed(user, _change_kind(before, method, phone), actor)
    if unused_backup_codes(user) == 0:
        return new_backup_codes(user)
    return None


def disable(user, actor=None) -> None:
    """Switch two-step off: phone, app key, backup codes and pending codes are removed."""
    with transaction.atomic():
        TwoFactor.objects.filter(user=user).update(
            method="", phone="", totp_secret="", totp_last_step=None, enabled_at=None
        )
        BackupCode.objects.filter(user=user).delete()
        OneTimeCode.objects.filter(user=user).delete()
    notices.credential_changed(user, "two_factor_off", actor)


def record_phone(user, phone: str, actor=None, *, notify=True) -> None:
    """Record a number for the person's next enrolment (by their manager or devops).

    Not a verified number: nothing is switched on. The person's next sign-in texts a code to
    it and only that code switches SMS two-step on (enrol_required). The person is told, except
    on the invitation that creates their account (`notify=False`: nothing has changed yet).
    """
    with transaction.atomic():
        tf, _created = TwoFactor.objects.select_for_update().get_or_create(user=user)
        tf.recorded_phone = phone
        tf.enrol_required = True
        tf.save(update_fields=["recorded_phone", "enrol_required"])
    if notify:
        notices.credential_changed(user, "phone", actor)


def reset(user, phone: str, actor=None) -> None:
    """A lost phone: switch two-step off and record the new number for the next sign-in.

    The account then cannot be signed in with a password alone: enrolment is forced, and only
    a code to the recorded number completes the next sign-in.
    """
    with transaction.atomic():
        if two_factor_of(user) is not None:
            disable(user, actor)
        record_phone(user, phone, actor)


def send_signin_code(user) -> OneTimeCode:
    tf = two_factor_of(user)
    return send_code(user, CodePurpose.SIGNIN, tf.phone)


def send_enrolment_code(user) -> OneTimeCode:
    """At a sign-in that must set up two-step: a code to the recorded number (and no other)."""
    phone = recorded_phone_of(user)
    if not phone:
        raise CodeError(no_recorded_phone_message(user))
    return send_code(user, CodePurpose.SIGNIN, phone)


def no_recorded_phone_message(user) -> str:
    if user.is_staff:
        return _(
            "Platform staff must use two-step verification, and no mobile number is recorded "
            "for you: ask devops to run safecoach-admin record_phone on a web host."
        )
    return _(
        "You must use two-step verification, and no mobile number is recorded for you: ask "
        "your organisation's manager to record your mobile number."
    )


def enrol_with_recorded_phone(user, code: str) -> list[str] | None:
    """Check a code sent to the recorded number; the right one switches SMS two-step on with
    that number. Returns the new backup codes. Raises CodeError otherwise."""
    phone = recorded_phone_of(user)
    if not phone:
        raise CodeError(no_recorded_phone_message(user))
    used = check_sms_code(user, CodePurpose.SIGNIN, code)
    if used.phone != phone:  # the recorded number changed after this code was sent
        raise CodeError(_("That code is no longer valid; ask for a new code."))
    return enable(user, TwoFactorMethod.SMS, phone=phone)


def send_confirm_code(user) -> OneTimeCode:
    """Before a change of two-step: a code to the current, verified number."""
    tf = two_factor_of(user)
    return send_code(user, CodePurpose.CONFIRM, tf.phone)


def verify_second_step(user, code: str, purpose: str = CodePurpose.SIGNIN) -> None:
    """Accept a 6-digit SMS or app code, or a backup code; raise CodeError otherwise."""
    tf = two_factor_of(user)
    if tf is None:
        raise CodeError(_("Two-step verification is not on."))
    if not code.isdigit():
        check_backup_code(user, code)
        return
    if tf.method == TwoFactorMethod.SMS:
        check_sms_code(user, purpose, code)
        return
    step = check_totp(user, tf.totp_key, code, tf.totp_last_step)
    unspent = Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)
    if not TwoFactor.objects.filter(unspent, pk=tf.pk).update(totp_last_step=step):
        raise CodeError(_("That code has already been used; wait for the next one."))
