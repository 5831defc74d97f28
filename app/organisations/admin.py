"""Organisations in the platform staff's admin.

Whether an organisation requires two-step verification is its manager's decision (the
organisation's security page, which tells every member when the rule becomes weaker): staff
set it only when they create an organisation, and see it read-only after that.
"""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from organisations.models import Organisation
from safecoach.admin_base import SafeModelAdmin
from safecoach.admin_site import admin_site


@admin.register(Organisation, site=admin_site)
class OrganisationAdmin(SafeModelAdmin):
    list_display = ("name", "member_count", "require_two_factor", "created_at")
    list_filter = ("require_two_factor",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return (*self.readonly_fields, "require_two_factor")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("members"))

    @admin.display(description=_("members"), ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count
