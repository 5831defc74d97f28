"""Users in the platform staff's admin: profiles and access, never dialogue content."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from safecoach.admin_site import admin_site


class _UserFormMixin:
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
        coach = cleaned.get("coach")
        if coach is not None:
            if coach.role != Role.COACH:
                self.add_error("coach", _("Choose a user with the role coach."))
            elif coach.organisation_id != getattr(cleaned.get("organisation"), "pk", None):
                self.add_error("coach", _("The coach must belong to the same organisation."))
        return cleaned


class StaffUserChangeForm(_UserFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class StaffUserCreationForm(_UserFormMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "organisation", "role", "coach")


@admin.register(User, site=admin_site)
class UserAdmin(DjangoUserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    list_display = ("email", "full_name", "organisation", "role", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff", "is_superuser", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("email", "full_name")
    ordering = ("email",)
    raw_id_fields = ("coach",)
    readonly_fields = ("date_joined", "last_login", "last_activity")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("full_name", "language")}),
        (_("Organisation"), {"fields": ("organisation", "role", "coach")}),
        (
            _("Access"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("date_joined", "last_login", "last_activity")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "full_name",
                    "organisation",
                    "role",
                    "coach",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
