"""The platform staff's admin: a separate AdminSite so only what is registered here is shown.

Nothing here may ever show dialogue, assignment, answer, comment or note content.
"""

from django.contrib.admin import AdminSite
from django.utils.translation import gettext_lazy as _


class SafecoachAdminSite(AdminSite):
    site_header = _("safecoach platform staff")
    site_title = _("safecoach staff")
    index_title = _("Platform administration")


admin_site = SafecoachAdminSite(name="admin")
