"""Who may open the platform staff's admin: an active staff member with two-step verification on,
in a session that passed a second factor when it was signed in.

`admin_access_for(request)` names the visitor's situation; the admin site (safecoach.admin_site)
lets only GRANTED in and answers each of the others with its own page or redirect.
"""

from enum import Enum

from accounts.twofactor import second_factor_passed, two_factor_of


class AdminAccess(Enum):
    ANONYMOUS = "anonymous"  # not signed in: the site's sign-in page
    NOT_STAFF = "not-staff"  # signed in, but not (active) platform staff
    NO_TWO_STEP = "no-two-step"  # staff without two-step verification: switch it on first
    SIGN_IN_AGAIN = "sign-in-again"  # two-step is on, but this session never passed a code
    GRANTED = "granted"


def admin_access_for(request) -> AdminAccess:
    user = request.user
    if not user.is_authenticated:
        return AdminAccess.ANONYMOUS
    if not (user.is_active and user.is_staff):
        return AdminAccess.NOT_STAFF
    if two_factor_of(user) is None:
        return AdminAccess.NO_TWO_STEP
    if not second_factor_passed(request):
        return AdminAccess.SIGN_IN_AGAIN
    return AdminAccess.GRANTED
