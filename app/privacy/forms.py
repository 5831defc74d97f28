"""Forms of the privacy pages. Every confirming form carries a signed, short-lived token that
names the signed-in person: a form issued to someone else, tampered with or left open too long
is refused with one clear sentence, and nothing happens."""

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext_lazy as _

from accounts.forms import check_password_throttled
from privacy.models import RequestKind, RequestStatus


def issue_token(user, purpose):
    return signing.TimestampSigner(salt=f"privacy.{purpose}").sign(str(user.pk))


class ConfirmWithPasswordForm(forms.Form):
    purpose = "confirm"

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, user, *args, request=None, **kwargs):
        self.user = user
        self.request = request
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["token"] = issue_token(user, self.purpose)

    def clean_token(self):
        signer = signing.TimestampSigner(salt=f"privacy.{self.purpose}")
        try:
            value = signer.unsign(
                self.cleaned_data["token"], max_age=settings.PRIVACY_CONFIRMATION_SECONDS
            )
        except signing.SignatureExpired:
            raise forms.ValidationError(
                _("This confirmation has expired. Enter your password again."), code="expired"
            ) from None
        except signing.BadSignature:
            raise forms.ValidationError(
                _("This form is not valid any more. Open the page again and retry."),
                code="tampered",
            ) from None
        if value != str(self.user.pk):
            raise forms.ValidationError(
                _("This form is not valid any more. Open the page again and retry."),
                code="tampered",
            )
        return value

    def clean_password(self):
        password = self.cleaned_data["password"]
        # Each attempt is taken from the sign-in throttle (for this account and the request's
        # address), so this form cannot be used to guess a password around it.
        check_password_throttled(
            self.user,
            password,
            _("That password is not correct. Enter the password you sign in with."),
            request=self.request,
        )
        return password

    def full_clean(self):
        super().full_clean()
        # A problem with the token is shown above the form, where it is seen.
        if self.errors.get("token"):
            self.add_error(None, self.errors.pop("token"))
        if self.is_bound:
            # The password field never comes back filled in, and a new token is issued.
            self.data = self.data.copy()
            self.data["token"] = issue_token(self.user, self.purpose)


class ExportForm(ConfirmWithPasswordForm):
    purpose = "export"


class DeleteAccountForm(ConfirmWithPasswordForm):
    purpose = "delete"

    confirmation = forms.CharField(
        label=_("Type your e-mail address to confirm"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_confirmation(self):
        typed = self.cleaned_data["confirmation"].strip().lower()
        if typed != self.user.email.lower():
            raise forms.ValidationError(
                _("That is not your e-mail address. Type it exactly as shown to confirm."),
                code="wrong_confirmation",
            )
        return typed


class PrivacyRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("What do you ask for?"), choices=RequestKind.choices)
    details = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "For a correction: what is wrong and what it should be. "
            "Please do not include anything from your dialogue."
        ),
    )

    NEEDS_DETAILS = {RequestKind.CORRECTION, RequestKind.COMPLAINT, RequestKind.OBJECTION}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") in self.NEEDS_DETAILS and not cleaned.get("details", "").strip():
            self.add_error("details", _("Tell us what this request is about."))
        return cleaned


class HandleRequestForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (RequestStatus.DONE, RequestStatus.DONE.label),
            (RequestStatus.REFUSED, RequestStatus.REFUSED.label),
        ],
    )
    outcome = forms.CharField(
        label=_("What was done"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Write what was done and when, without names, e-mail addresses or content."),
    )


class StaffEraseForm(forms.Form):
    confirmation = forms.CharField(
        label=_("Type ERASE to confirm"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_confirmation(self):
        if self.cleaned_data["confirmation"].strip() != "ERASE":
            raise forms.ValidationError(
                _("Type ERASE in capitals to confirm the erasure."), code="wrong_confirmation"
            )
        return "ERASE"
