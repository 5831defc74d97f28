"""One middleware for the privacy rules that hold for every page.

- Restriction of processing (privacy/restriction.py): refuses what would process restricted data.
- Access log for profile pages of other apps: when a manager opens a person's page on the
  organisation screens, or staff open a user in the admin, and the page is shown (200), the
  visit is recorded for that person (privacy/access_log.py). Coaching views record their own.
"""

from accounts.models import User
from privacy.access_log import record_access
from privacy.models import AccessKind
from privacy.restriction import MAX_ID, refuse_if_restricted

# URL name -> the URL keyword that names the person whose profile the page shows.
PROFILE_PAGES = {
    "organisations:person_edit": "pk",
    "organisations:person_deactivate": "pk",
    "organisations:person_delete": "pk",
    "organisations:client_coach": "pk",
    "admin:accounts_user_change": "object_id",
    "admin:auth_user_password_change": "id",
}


def _profile_subject_id(request):
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name not in PROFILE_PAGES:
        return None
    try:
        value = int(match.kwargs.get(PROFILE_PAGES[match.view_name]))
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_ID else None


class PrivacyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (
            request.method == "GET"
            and response.status_code == 200
            and user is not None
            and user.is_authenticated
        ):
            subject_id = _profile_subject_id(request)
            if subject_id is not None and subject_id != user.pk:
                subject = User.objects.filter(pk=subject_id).first()
                if subject is not None:
                    record_access(user, subject, AccessKind.PROFILE)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        return refuse_if_restricted(request, view_kwargs)
