"""The platform staff's admin: a separate AdminSite so only what is registered here is shown.

Nothing here may ever show dialogue, assignment, answer, comment or note content, or a secret:
every model is registered with safecoach.admin_base.SafeModelAdmin (register refuses others).

Only an active staff member with two-step verification on, in a session that passed a code at
sign-in, gets in (safecoach.admin_access). Everyone else is sent to the admin's login view, which
never shows a form of its own: anonymous visitors go to the site's sign-in (throttled, with the
second step), staff without two-step are told to switch it on, and staff whose session never
passed a code are signed out and asked to sign in again with it. The admin's password-change
pages lead to the site's own (throttled, with the notice mail).
"""

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from safecoach.admin_access import AdminAccess, admin_access_for
from safecoach.admin_base import SafeModelAdmin


class SafecoachAdminSite(AdminSite):
    site_header = _("safecoach platform staff")
    site_title = _("safecoach staff")
    index_title = _("Platform administration")

    def register(self, model_or_iterable, admin_class=None, **options):
        if admin_class is None or not issubclass(admin_class, SafeModelAdmin):
            raise ImproperlyConfigured(
                "Register models on the staff admin with a SafeModelAdmin subclass."
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request):
        return admin_access_for(request) is AdminAccess.GRANTED

    def login(self, request, extra_context=None):
        """Staff sign in through the site's own sign-in (throttled, with two-step verification),
        never through the admin's form, which would bypass both."""
        target = request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = ""
        target = target or reverse("admin:index")
        access = admin_access_for(request)
        if access is AdminAccess.GRANTED:
            return redirect(target)
        if access is AdminAccess.ANONYMOUS:
            return redirect_to_login(target, reverse("accounts:login"))
        if access is AdminAccess.SIGN_IN_AGAIN:
            logout(request)
            messages.info(
                request,
                gettext("To open the staff admin, sign in again with your two-step code."),
            )
            return redirect_to_login(target, reverse("accounts:login"))
        if access is AdminAccess.NO_TWO_STEP:
            return render(
                request,
                "accounts/message.html",
                {
                    "title": gettext("The staff admin needs two-step verification"),
                    "lines": [
                        gettext(
                            "Switch on two-step verification for your account, then sign out "
                            "and sign in again with your code to open the staff admin."
                        )
                    ],
                    "link": (
                        reverse("accounts:two_factor"),
                        gettext("Switch on two-step verification"),
                    ),
                },
                status=403,
            )
        return render(
            request,
            "accounts/message.html",
            {
                "title": gettext("Platform staff only"),
                "lines": [gettext("This part of safecoach is for platform staff only.")],
                "link": (reverse("home"), gettext("Back to safecoach")),
            },
        )

    def password_change(self, request, extra_context=None):
        """The site's own password change: throttled, and it sends the notice mail."""
        return redirect("accounts:password_change")

    def password_change_done(self, request, extra_context=None):
        return redirect("accounts:profile")


admin_site = SafecoachAdminSite(name="admin")
