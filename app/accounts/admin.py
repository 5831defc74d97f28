"""Users in the platform staff's admin: profiles and access, never credentials or dialogue content.

Staff cannot set or change anyone's password, e-mail address, phone number or second factor:
the change form has no password field and shows the address read-only, two-step verification is
not in the admin at all, and `/admin/accounts/user/<id>/password/` answers 404 for everyone.
A new account gets no password: the person is sent an invitation to choose one. What staff can
do for a person is deactivate the account and send a password-reset link to the person's own
registered address (the two actions of the list), the same link the sign-in page sends.
Only a superuser may make someone staff or superuser.
"""

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.forms import SafePasswordResetForm
from accounts.invitations import invitable, send_invitation
from accounts.models import Role, User
from safecoach.admin_base import SafeModelAdmin
from safecoach.admin_site import admin_site


class StaffUserForm(forms.ModelForm):
    """The staff admin's user form (add and change): the profile and the place in an
    organisation, checked against the rules the database enforces, so a mistake is a form error."""

    class Meta:
        model = User
        fields = ("email", "full_name", "language", "organisation", "role", "coach")

    def _value(self, name):
        if name in self.fields:
            return self.cleaned_data.get(name)
        return getattr(self.instance, name)

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data["email"]).strip().lower()
        others = User.objects.filter(email__iexact=email)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(_("An account with this e-mail address already exists."))
        return email

    def clean(self):
        cleaned = super().clean()
        organisation, role, coach = (self._value(n) for n in ("organisation", "role", "coach"))
        if self.has_error("organisation") or self.has_error("role") or self.has_error("coach"):
            return cleaned
        if role and organisation is None and "organisation" in self.fields:
            self.add_error(
                "organisation", _("Choose the organisation of someone with a role, or no role.")
            )
        if coach is not None and "coach" in self.fields:
            if role != Role.CLIENT:
                self.add_error("coach", _("Only a client has a coach; leave this empty."))
            elif coach.role != Role.COACH:
                self.add_error("coach", _("Choose a user with the role coach."))
            elif coach.organisation_id != getattr(organisation, "pk", None):
                self.add_error("coach", _("The coach must belong to the same organisation."))
        return cleaned


@admin.register(User, site=admin_site)
class UserAdmin(SafeModelAdmin):
    form = StaffUserForm
    list_display = ("email", "full_name", "organisation", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff", "is_superuser", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("email", "full_name")
    ordering = ("email",)
    raw_id_fields = ("coach",)
    actions = ("deactivate", "send_password_reset")
    fieldsets = (
        (None, {"fields": ("email",)}),
        (_("Profile"), {"fields": ("full_name", "language")}),
        (_("Organisation"), {"fields": ("organisation", "role", "coach")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Dates"), {"fields": ("date_joined", "last_login", "last_activity")}),
    )
    add_fieldsets = (
        (None, {"fields": ("email", "full_name", "language", "organisation", "role", "coach")}),
    )
    always_read_only = ("email", "date_joined", "last_login", "last_activity")
    superuser_only = ("is_staff", "is_superuser")

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if request.user.is_superuser:
            return self.always_read_only
        return (*self.always_read_only, *self.superuser_only)

    def get_urls(self):
        refused = path(
            "<path:object_id>/password/", password_form_refused, name="accounts_user_password"
        )
        return [refused, *super().get_urls()]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)
        if not change:
            send_invitation(obj, invited_by=request.user)
            self.message_user(
                request,
                gettext("The person gets an invitation by e-mail to choose a password."),
                messages.SUCCESS,
            )

    @admin.action(description=_("Deactivate the selected accounts"), permissions=["change"])
    def deactivate(self, request, queryset):
        people = queryset.filter(is_active=True).exclude(pk=request.user.pk)
        if not request.user.is_superuser:
            people = people.filter(is_superuser=False)
        count = people.update(is_active=False)
        self.message_user(
            request,
            ngettext(
                "%(count)d account deactivated; that person can no longer sign in.",
                "%(count)d accounts deactivated; those people can no longer sign in.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Send a password-reset link to the person's own address"),
        permissions=["change"],
    )
    def send_password_reset(self, request, queryset):
        """The reset link (or, for someone who never chose a password, a new invitation) goes to
        the address registered for the person, exactly as the sign-in page's reset would."""
        reset = invited = 0
        for person in queryset.filter(is_active=True):
            if person.has_usable_password():
                form = SafePasswordResetForm(data={"email": person.email})
                if form.is_valid():
                    form.save()
                    reset += 1
            elif invitable(person):
                send_invitation(person, invited_by=request.user)
                invited += 1
        self.message_user(
            request,
            ngettext(
                "A password-reset link is on its way to %(count)d person, at their own address.",
                "A password-reset link is on its way to %(count)d people, at their own address.",
                reset,
            )
            % {"count": reset}
            + " "
            + ngettext(
                "%(count)d person without a password got a new invitation.",
                "%(count)d people without a password got a new invitation.",
                invited,
            )
            % {"count": invited},
            messages.SUCCESS,
        )


def password_form_refused(request, object_id):
    """Where Django's admin would set a person's password: there is no such form here."""
    raise Http404
