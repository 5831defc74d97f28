"""The platform staff's admin: a separate AdminSite so only what is registered here is shown.

Nothing here may ever show dialogue, assignment, answer, comment or note content.
"""

from django.contrib.admin import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _


class SafecoachAdminSite(AdminSite):
    site_header = _("safecoach platform staff")
    site_title = _("safecoach staff")
    index_title = _("Platform administration")

    def login(self, request, extra_context=None):
        """Staff sign in through the site's own sign-in (throttled, with two-step verification),
        never through the admin's form, which would bypass both."""
        if request.user.is_authenticated:
            if request.user.is_active and request.user.is_staff:
                return redirect("admin:index")
            return render(
                request,
                "accounts/message.html",
                {
                    "title": _gettext("Platform staff only"),
                    "lines": [_gettext("This part of safecoach is for platform staff only.")],
                    "link": (reverse("home"), _gettext("Back to safecoach")),
                },
            )
        return redirect_to_login(
            request.GET.get("next") or reverse("admin:index"), reverse("accounts:login")
        )


admin_site = SafecoachAdminSite(name="admin")
