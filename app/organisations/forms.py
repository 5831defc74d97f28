"""Forms of the manager screens.

The organisation is never a form field: it always comes from the signed-in manager. Choices
(role, coach) are limited server-side, so a tampered POST fails validation instead of changing
anything.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.email_change import address_in_use, normalise_email, refuse_if_too_many
from accounts.models import Role, User
from accounts.twofactor import normalise_phone

ASSIGNABLE_ROLES = [(Role.COACH.value, Role.COACH.label), (Role.CLIENT.value, Role.CLIENT.label)]


def active_coaches(organisation_id):
    return User.objects.filter(
        organisation_id=organisation_id, role=Role.COACH, is_active=True
    ).order_by("full_name", "email")


class CoachChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.full_name or obj.email


class PersonFormMixin:
    """Name and e-mail, with a case-insensitive uniqueness check on the address."""

    def clean_full_name(self):
        name = self.cleaned_data["full_name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter a name."))
        return name

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        others = User.objects.filter(email__iexact=email)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(
                _("An account with this e-mail address already exists. Use another address.")
            )
        return email


class PersonCreateForm(PersonFormMixin, forms.ModelForm):
    role = forms.ChoiceField(label=_("Role"), choices=ASSIGNABLE_ROLES)
    coach = CoachChoiceField(
        label=_("Coach"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("No coach yet"),
        help_text=_("Only for a client: one of the active coaches of your organisation."),
    )
    phone = forms.CharField(
        label=_("Mobile number (optional)"),
        max_length=32,
        required=False,
        help_text=_(
            "For two-step verification by text message: at their first sign-in the person "
            "confirms this number with a code we text to it."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
    )

    class Meta:
        model = User
        fields = ["full_name", "email", "role", "coach"]
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.fields["coach"].queryset = active_coaches(organisation.pk)

    def clean_phone(self):
        text = self.cleaned_data["phone"].strip()
        return normalise_phone(text) if text else ""

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") != Role.CLIENT and cleaned.get("coach") is not None:
            self.add_error("coach", _("Only a client can have a coach."))
        return cleaned

    def _post_clean(self):
        # The organisation is set before model validation so its constraints hold.
        self.instance.organisation = self.organisation
        super()._post_clean()

    def save(self, commit=True):
        person = super().save(commit=False)
        person.organisation = self.organisation
        person.set_unusable_password()  # invitations come with a later issue
        if commit:
            person.save()
        return person


class PersonEditForm(PersonFormMixin, forms.ModelForm):
    """A manager corrects the name; a new e-mail address is only asked for.

    The address is not a model field of this form: saving never changes it. A different, unused
    address becomes `requested_email`, which the view hands to accounts.email_change: the person
    confirms it from the new address while signed in as themselves, or nothing changes. A person
    who cannot sign in (no password chosen yet, or deactivated) cannot confirm, so for them a new
    address is refused with a sentence.
    """

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        help_text=_(
            "A new address takes effect only after the person confirms it: we e-mail a link to "
            "the new address and tell the current one."
        ),
    )

    class Meta:
        model = User
        fields = ["full_name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("email", self.instance.email)

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        person = self.instance
        if email == person.email.lower():
            return email
        if address_in_use(email, exclude=person):
            raise forms.ValidationError(
                _("An account with this e-mail address already exists. Use another address.")
            )
        if not person.is_active:
            raise forms.ValidationError(
                _(
                    "This person is deactivated and cannot confirm a new address; "
                    "reactivate them first."
                )
            )
        if not person.has_usable_password():
            raise forms.ValidationError(
                _(
                    "This person has not chosen a password yet and cannot confirm a new address; "
                    "delete them and add them again with the right address."
                )
            )
        refuse_if_too_many(person)
        return email

    @property
    def requested_email(self):
        """The new address to ask the person to confirm, or None when it stays the same."""
        email = self.cleaned_data.get("email")
        return email if email and email != self.instance.email.lower() else None


class ClientCoachForm(forms.Form):
    coach = CoachChoiceField(
        label=_("Coach"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("No coach"),
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["coach"].queryset = active_coaches(client.organisation_id)
        if client.coach_id and not client.coach.is_active:
            self.fields["coach"].help_text = _(
                "The current coach is deactivated; choose an active coach."
            )
        self.initial.setdefault("coach", client.coach_id)
