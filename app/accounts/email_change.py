"""Changing a person's e-mail address: it changes only when the person confirms it, signed in.

A change is asked for by the person (My account, after confirming their password) or by their
organisation manager (the person's page on the manager screens, `request_change`). Nothing
changes then: the new address gets a link, and the current address is told that a change was
asked for, so the person learns of it even if nobody ever confirms.

The link (`/account/email/confirm/<token>/`, `email_change_link`) moves a good token into the
session and redirects to `/account/email/confirm/` (`email_change_confirm`), so the token stays
out of the address bar, the history and the page. That page needs the person signed in as
themselves (password and, where on, the second step) with a recently typed password; it shows
the new address, and only its POST changes it. Then the old address gets the notice and the
person's access log shows the change (`accounts.notices.credential_changed`). Anyone else
signed in gets a 404; a visitor is sent to the sign-in page first.

The token is signed with django.core.signing (own salt) and expires after MAX_AGE. It carries
the user id, the new address (encrypted with accounts.field_crypto, so no address appears in a
URL or a web server's log), who asked, and a keyed hash of the current address and password
hash: once the address has changed (the link was used) or the password has changed, the hash no
longer matches and the link is refused. There is no table: nothing to store or clean up.

Requests are counted per account (throttle scope "email-change", settings): each one mails the
new address and the current one, so the person's mailbox and anyone's inbox cannot be flooded
through the form. Once the limit is reached the form refuses with a sentence saying when it
opens again, before anything is sent or saved.

The new address must be unused (case-insensitively) when the change is asked for and when it
is confirmed. On the manager screen a used address is refused with a sentence (as on the
add-person form); on My account the answer is the same whether or not the address is in use,
and no link is sent for a used one, so the page tells nobody which addresses have an account.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts import field_crypto, throttle
from accounts.decorators import password_confirmed, recently_confirmed
from accounts.mail import send_account_mail, sign_in_url
from accounts.models import User
from accounts.notices import credential_changed

log = logging.getLogger(__name__)

SALT = "accounts.email_change"
MAX_AGE = 24 * 60 * 60  # one day, as the mail says
SESSION_KEY = "email_change_token"


class EmailChangeError(Exception):
    """A change that cannot be made; the message is the sentence for the person."""


def normalise_email(value: str) -> str:
    return User.objects.normalize_email(value).strip().lower()


def address_in_use(email: str, exclude: User | None = None) -> bool:
    others = User.objects.filter(email__iexact=email)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    return others.exists()


# --- the token --------------------------------------------------------------------------------


def _state(user: User) -> str:
    """A keyed hash of what the link is valid for: this account's current address and password."""
    value = f"{user.pk}\x00{user.email}\x00{user.password}"
    return salted_hmac(f"{SALT}.state", value).hexdigest()[:32]


def _context(user_id: int) -> str:
    return f"{SALT}:{user_id}"


def make_token(user: User, new_email: str, requested_by: User) -> str:
    sealed = field_crypto.encrypt(new_email, _context(user.pk))
    payload = {"u": user.pk, "e": sealed, "r": requested_by.pk, "s": _state(user)}
    return signing.dumps(payload, salt=SALT)


@dataclass(frozen=True)
class ChangeRequest:
    user: User
    new_email: str
    requested_by_id: int
    state: str

    def actor(self) -> User:
        """Who asked for the change (the person themselves, or their manager), for the log."""
        if self.requested_by_id == self.user.pk:
            return self.user
        return User.objects.filter(pk=self.requested_by_id).first() or self.user


def read_token(token: str) -> ChangeRequest | None:
    """The change a token asks for, or None if it is tampered, expired, used or outdated."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("u"), int)
        and isinstance(data.get("r"), int)
        and isinstance(data.get("e"), str)
        and isinstance(data.get("s"), str)
    ):
        return None
    try:
        new_email = field_crypto.decrypt(data["e"], _context(data["u"]))
    except field_crypto.DecryptionError:
        return None
    user = User.objects.filter(pk=data["u"], is_active=True).first()
    if user is None or not constant_time_compare(data["s"], _state(user)):
        return None
    return ChangeRequest(user, new_email, data["r"], data["s"])


# --- asking for and making the change --------------------------------------------------------


TOO_MANY_REQUESTS = gettext_lazy(
    "Too many address changes have been asked for this account; try again after %(time)s."
)


def refuse_if_too_many(user: User) -> None:
    """For a form's clean: a ValidationError with the sentence once the account's limit is reached."""
    until = throttle.locked_until("email-change", user.pk)
    if until is not None:
        raise forms.ValidationError(TOO_MANY_REQUESTS % {"time": throttle.local_time(until)})


def tell_current_address(user: User) -> None:
    """Notice to the address the account has now: a change was asked for. Counts one request."""
    throttle.record_failure("email-change", user.pk)
    send_account_mail(user, "email_change_requested", sign_in_url(), background=True)


def request_change(user: User, new_email: str, requested_by: User) -> None:
    """Mail the confirmation link to `new_email` and tell the current address. Changes nothing."""
    token = make_token(user, new_email, requested_by)
    url = settings.SITE_URL + reverse("accounts:email_change_link", args=[token])
    send_account_mail(user, "email_change_confirm", url, background=True, to=new_email)
    tell_current_address(user)
    log.info("e-mail change for user %s asked for by user %s", user.pk, requested_by.pk)


LINK_UNUSABLE = gettext_lazy(
    "This link has expired, has been used already or was made before a password change; "
    "ask for the change again in My account."
)
ADDRESS_TAKEN = gettext_lazy(
    "Another account uses this e-mail address now, so your address has not been changed; "
    "choose another address in My account."
)


def confirm_change(change: ChangeRequest) -> None:
    """Make the change the person confirmed; raises EmailChangeError with the sentence."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=change.user.pk)
        if not constant_time_compare(change.state, _state(user)):
            raise EmailChangeError(LINK_UNUSABLE)
        if address_in_use(change.new_email, exclude=user):
            raise EmailChangeError(ADDRESS_TAKEN)
        old_email = user.email
        user.email = change.new_email
        try:
            with transaction.atomic():
                user.save(update_fields=["email"])
        except IntegrityError:  # taken between the check and the write
            raise EmailChangeError(ADDRESS_TAKEN) from None
    credential_changed(user, "email", change.actor(), old_email=old_email)
    log.info("e-mail address of user %s changed", user.pk)


# --- the person's own request (My account) ------------------------------------------------------


class NewEmailForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("New e-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        if email == self.user.email.lower():
            raise forms.ValidationError(
                _("This is already the address of your account; enter the new address.")
            )
        refuse_if_too_many(self.user)
        return email


@password_confirmed
@require_http_methods(["GET", "POST"])
def email_change(request):
    user = request.user
    form = NewEmailForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        new_email = form.cleaned_data["email"]
        if address_in_use(new_email, exclude=user):
            # The same answer and the same notice to the current address, but no link.
            tell_current_address(user)
            log.info("e-mail change for user %s: the new address is in use, no link", user.pk)
        else:
            request_change(user, new_email, requested_by=user)
        messages.info(
            request,
            _(
                "If the new address can be used, we have sent a link to it. Open it while "
                "signed in to confirm; until then your address stays as it is."
            ),
        )
        return redirect("accounts:profile")
    return render(request, "accounts/email_change.html", {"form": form})


# --- the link and the confirmation --------------------------------------------------------------


def _unusable(request, reason=LINK_UNUSABLE):
    request.session.pop(SESSION_KEY, None)
    return render(
        request,
        "accounts/message.html",
        {
            "title": _("Your e-mail address has not been changed"),
            "lines": [str(reason)],
            "link": (reverse("accounts:profile"), _("My account")),
        },
    )


@never_cache
@require_GET
def email_change_link(request, token):
    """Opening the mailed link: a good token goes into the session, then to the confirmation."""
    if read_token(token) is None:
        log.info("e-mail change link refused: tampered, expired, used or outdated")
        return _unusable(request)
    request.session[SESSION_KEY] = token
    return redirect("accounts:email_change_confirm")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def email_change_confirm(request):
    """Signed in as the person, with a recent password: GET shows the new address, POST makes it."""
    change = read_token(request.session.get(SESSION_KEY, ""))
    if change is None:
        return _unusable(request)
    if change.user.pk != request.user.pk:
        request.session.pop(SESSION_KEY, None)
        log.warning(
            "e-mail change link of user %s opened by user %s", change.user.pk, request.user.pk
        )
        raise Http404
    if not recently_confirmed(request):
        query = urlencode({"next": reverse("accounts:email_change_confirm")})
        return redirect(f"{reverse('accounts:confirm_password')}?{query}")
    if request.method == "POST":
        try:
            confirm_change(change)
        except EmailChangeError as error:
            log.info("e-mail change for user %s refused at confirmation", change.user.pk)
            return _unusable(request, error)
        request.session.pop(SESSION_KEY, None)
        messages.success(request, _("Your e-mail address has been changed."))
        return redirect("accounts:profile")
    return render(request, "accounts/email_change_confirm.html", {"new_email": change.new_email})
