from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_lazy as _

from accounts import throttle
from accounts.codes import CODE_DIGITS, normalise_backup_code
from accounts.mail import render_account_mail, send_account_mail
from accounts.models import User
from accounts.twofactor import normalise_phone
from organisations.models import Organisation
from safecoach import metrics


def _locked_message(until):
    return _("Too many failed attempts. Try again after %(time)s.") % {
        "time": throttle.local_time(until)
    }


class EmailAuthenticationForm(AuthenticationForm):
    """Sign-in by e-mail, throttled per account and address, per address and per account.

    The attempt is taken from the throttle before the password is checked (accounts.throttle):
    parallel requests cannot race past the limit, and a locked attempt is refused without
    checking the password at all. An unknown address, an inactive account and a wrong password
    give the same error, and Django's ModelBackend hashes the typed password for an unknown
    address too, so the answer takes as long as for a known one.
    """

    username = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _("That e-mail address and password do not match an active account."),
        "inactive": _("That e-mail address and password do not match an active account."),
    }

    def clean(self):
        email = (self.cleaned_data.get("username") or "").lower()
        if not (email and self.cleaned_data.get("password")):
            return super().clean()  # a field is missing: nothing is checked
        address = throttle.client_address(self.request) if self.request else "unknown"
        counters = throttle.password_counters(email, address)
        attempt = throttle.take(*counters)
        if attempt.refused:
            metrics.signin_failed("locked")
            raise ValidationError(_locked_message(attempt.refused_until), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            metrics.signin_failed("password")
            throttle.count_locks(attempt)
            if attempt.locks_until:
                raise ValidationError(
                    _locked_message(attempt.locks_until), code="throttled"
                ) from None
            raise
        throttle.give_back(attempt)
        throttle.reset(*counters[0])  # the account and this address: a fresh start
        return cleaned


def check_password_throttled(user, password, wrong_message=None, request=None):
    """Check a signed-in person's password against the sign-in throttle's counters.

    Every form that asks for the password again must use this (or the confirm page), or it
    would be a way to guess passwords around the sign-in throttle. Give it the request, so the
    attempt counts for the network address too. Raises ValidationError with code "throttled"
    or "wrong".
    """
    address = throttle.client_address(request) if request is not None else None
    attempt = throttle.take(*throttle.password_counters(user.email, address))
    if attempt.refused:
        metrics.signin_failed("locked")
        raise ValidationError(_locked_message(attempt.refused_until), code="throttled")
    if not user.check_password(password):
        metrics.signin_failed("password_again")
        throttle.count_locks(attempt)
        if attempt.locks_until:
            raise ValidationError(_locked_message(attempt.locks_until), code="throttled")
        raise ValidationError(wrong_message or _("That is not your password."), code="wrong")
    throttle.give_back(attempt)


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, user, *args, request=None, **kwargs):
        self.user = user
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        check_password_throttled(self.user, password, request=self.request)
        return password


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's form; wrong current passwords count against the sign-in throttle."""

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        check_password_throttled(
            self.user, old_password, self.error_messages["password_incorrect"], request=self.request
        )
        return old_password


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        help_text=_("In international format, for example +31 6 12345678."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone(self):
        return normalise_phone(self.cleaned_data["phone"])


class RecordPhoneForm(forms.Form):
    """A manager records the mobile number a person will confirm at their next sign-in."""

    recorded_phone = forms.CharField(
        label=_("Their mobile number"),
        max_length=32,
        help_text=_("In international format, for example +31 6 12345678."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )

    def clean_recorded_phone(self):
        return normalise_phone(self.cleaned_data["recorded_phone"])


class CodeForm(forms.Form):
    """A 6-digit code from an SMS or the authenticator app."""

    code = forms.CharField(
        label=_("Code"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise ValidationError(
                _("Enter the %(digits)d digits of the code.") % {"digits": CODE_DIGITS},
                code="format",
            )
        return code


class SecondStepForm(forms.Form):
    """At sign-in: the 6-digit code, or one of the backup codes."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("The 6-digit code, or one of your backup codes if you lost your phone."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if len(code) == CODE_DIGITS and code.isdigit():
            return code
        backup = normalise_backup_code(code)
        if backup:
            return backup
        raise ValidationError(
            _("Enter the %(digits)d-digit code, or a backup code like abcd-efgh.")
            % {"digits": CODE_DIGITS},
            code="format",
        )


class OrganisationSecurityForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = ["require_two_factor"]
        labels = {"require_two_factor": _("Require two-step verification for everyone")}
        help_texts = {
            "require_two_factor": _(
                "People without two-step verification then confirm the mobile number you "
                "recorded for them with a code when they sign in; without a recorded number "
                "they cannot sign in."
            )
        }


class SafePasswordResetForm(PasswordResetForm):
    """Django's reset form, with the same work done and the same answer for unknown addresses.

    The mail names nobody and holds only the link. A network address that asks too often gets
    a clear error (that says nothing about any account); an e-mail address asked for too often
    simply gets no more mail for a while, with the same answer as always.
    """

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if self.request is not None:
            address = throttle.client_address(self.request)
            until = throttle.locked_until("reset-address", address)
            if until:
                raise ValidationError(
                    _("Too many requests from your network. Try again after %(time)s.")
                    % {"time": throttle.local_time(until)},
                    code="throttled",
                )
        return cleaned

    def save(self, request=None, token_generator=None, **kwargs):
        generator = token_generator or default_token_generator
        email = self.cleaned_data["email"]
        if request is not None:
            throttle.record_failure("reset-address", throttle.client_address(request))
        account_locked = throttle.locked_until("reset-account", email) is not None
        throttle.record_failure("reset-account", email)
        users = [] if account_locked else list(self.get_users(email))
        # For an unknown address: make a token and render the mail all the same, then drop it.
        language = translation.get_language() or settings.LANGUAGE_CODE
        targets = users or [User(pk=0, email=email, password="!", language=language)]  # noqa: S106
        for user in targets:
            uid = urlsafe_base64_encode(force_bytes(user.pk))
            token = generator.make_token(user)
            url = settings.SITE_URL + reverse(
                "accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token}
            )
            if users:
                send_account_mail(user, "password_reset", url, background=True)
            else:
                render_account_mail(user.language, "password_reset", url)


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "language"]
