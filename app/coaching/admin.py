"""The confidential models in the platform staff's admin: metadata only, view-only.

Content fields (message, answer, comment and note bodies; assignment titles and instructions,
safecoach.admin_protected.CONTENT_FIELDS) appear in no list, change view, search, filter or
ordering, and no filter may reach them (safecoach.admin_base.SafeModelAdmin). Nothing can be
added or changed here; only superusers may delete (for instance to carry out an erasure request).
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from coaching.models import Answer, Assignment, Comment, Message, Note
from safecoach.admin_base import SafeModelAdmin
from safecoach.admin_site import admin_site


class MetadataOnlyAdmin(SafeModelAdmin):
    """View-only, metadata-only admin: subclasses list the metadata fields they show."""

    metadata_fields: tuple[str, ...] = ()
    search_fields = ()
    list_display_links = ("id",)
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        return list(self.metadata_fields)

    def get_readonly_fields(self, request, obj=None):
        return list(self.metadata_fields)

    def get_list_display(self, request):
        return self.list_display

    def get_search_fields(self, request):
        return ()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.register(Message, site=admin_site)
class MessageAdmin(MetadataOnlyAdmin):
    metadata_fields = ("id", "coach", "client", "sender", "created_at", "read_at")
    list_display = ("id", "coach", "client", "sender", "created_at", "is_read")
    list_filter = ("created_at",)
    list_select_related = ("coach", "client", "sender")
    date_hierarchy = "created_at"

    @admin.display(description=_("read"), boolean=True, ordering="read_at")
    def is_read(self, obj):
        return obj.read_at is not None


@admin.register(Assignment, site=admin_site)
class AssignmentAdmin(MetadataOnlyAdmin):
    metadata_fields = ("id", "coach", "client", "due_date", "created_at")
    list_display = ("id", "coach", "client", "due_date", "created_at", "answered")
    list_filter = ("created_at", "due_date")
    list_select_related = ("coach", "client", "answer")

    @admin.display(description=_("answered"), boolean=True)
    def answered(self, obj):
        return hasattr(obj, "answer")


@admin.register(Answer, site=admin_site)
class AnswerAdmin(MetadataOnlyAdmin):
    metadata_fields = ("id", "assignment", "created_at", "updated_at")
    list_display = ("id", "assignment", "created_at", "updated_at")
    list_filter = ("created_at",)


@admin.register(Comment, site=admin_site)
class CommentAdmin(MetadataOnlyAdmin):
    metadata_fields = ("id", "assignment", "created_at")
    list_display = ("id", "assignment", "created_at")
    list_filter = ("created_at",)


@admin.register(Note, site=admin_site)
class NoteAdmin(MetadataOnlyAdmin):
    metadata_fields = ("id", "coach", "client", "created_at", "updated_at")
    list_display = ("id", "coach", "client", "created_at", "updated_at")
    list_filter = ("created_at",)
    list_select_related = ("coach", "client")
