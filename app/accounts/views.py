import time
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts import codes, twofactor
from accounts.decorators import mark_confirmed, password_confirmed, recently_confirmed
from accounts.forms import (
    CodeForm,
    ConfirmPasswordForm,
    EmailAuthenticationForm,
    OrganisationSecurityForm,
    PhoneForm,
    ProfileForm,
    SafePasswordResetForm,
    SecondStepForm,
    ThrottledPasswordChangeForm,
)
from accounts.invitations import invitable, mark_used, open_invitation, send_invitation
from accounts.mail import send_account_mail, sign_in_url
from accounts.models import CodePurpose, Role, TwoFactorMethod, User
from accounts.twofactor import CodeError

PENDING = "signin_pending"
INVITATION_SESSION_KEY = "invitation_token"
INVITATION_HIDDEN_TOKEN = "set-password"  # noqa: S105  (a placeholder, not a secret)


def _safe_next(request, candidate):
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


# --- sign-in, with the second step when two-step verification is on -------------------------


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        tf = twofactor.two_factor_of(user)
        if tf is None:
            return super().form_valid(form)
        # The password was right; the account is not signed in until the second step is done.
        self.request.session.cycle_key()
        self.request.session[PENDING] = {
            "uid": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_redirect_url(),
        }
        if tf.method == TwoFactorMethod.SMS:
            try:
                twofactor.send_signin_code(user)
            except CodeError as error:
                messages.error(self.request, str(error))
        return redirect("accounts:signin_verify")


def _pending_user(request):
    """The user who passed the password step in this session, if that was recent enough."""
    pending = request.session.get(PENDING)
    if not pending:
        return None
    if time.time() - pending["at"] > settings.SAFECOACH_CODE_SECONDS:
        del request.session[PENDING]
        messages.error(request, _("Signing in took too long; please sign in again."))
        return None
    user = User.objects.filter(pk=pending["uid"], is_active=True).first()
    if user is None or twofactor.two_factor_of(user) is None:
        del request.session[PENDING]
        return None
    return user


@never_cache
@sensitive_post_parameters("code")
def signin_verify(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    user = _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    tf = twofactor.two_factor_of(user)
    form = SecondStepForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            twofactor.verify_second_step(user, form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            pending = request.session.pop(PENDING)
            login(request, user, backend=pending["backend"])
            twofactor.mark_second_factor(request)
            if not form.cleaned_data["code"].isdigit():
                left = twofactor.unused_backup_codes(user)
                messages.warning(
                    request,
                    _("You used a backup code; %(left)d are left. Make new ones in My account.")
                    % {"left": left},
                )
            return redirect(_safe_next(request, pending.get("next")))
    context = {"form": form, "method": tf.method, "phone": twofactor.masked(tf.phone)}
    return render(request, "accounts/signin_verify.html", context)


@require_POST
def signin_resend(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    user = _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    if twofactor.two_factor_of(user).method == TwoFactorMethod.SMS:
        try:
            twofactor.send_signin_code(user)
        except CodeError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("A new code has been sent."))
    return redirect("accounts:signin_verify")


class LogoutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


# --- passwords ------------------------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's: validators apply, this session stays, every other session of the user ends."""

    template_name = "form.html"
    form_class = ThrottledPasswordChangeForm
    success_url = reverse_lazy("accounts:profile")
    extra_context = {
        "title": gettext_lazy("Change password"),
        "submit_label": gettext_lazy("Change password"),
    }

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        send_account_mail(form.user, "password_changed", sign_in_url(), background=True)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "form.html"
    form_class = SafePasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")
    extra_context = {
        "title": gettext_lazy("Forgot your password?"),
        "intro": gettext_lazy(
            "Enter the e-mail address of your account. We will send you a link to choose a "
            "new password."
        ),
        "submit_label": gettext_lazy("Send the link"),
        "cancel_url": reverse_lazy("accounts:login"),
    }

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


@require_GET
def password_reset_done(request):
    hours = max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)
    return render(
        request,
        "accounts/message.html",
        {
            "title": _("Check your e-mail"),
            "lines": [
                _(
                    "If an account uses that e-mail address, we have sent it a link to choose a "
                    "new password."
                ),
                _("The link works once and expires in %(hours)d hours.") % {"hours": hours},
            ],
            "link": (reverse("accounts:login"), _("Back to sign in")),
        },
    )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's single-use link; refused for a deactivated account; no sign-in afterwards."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        send_account_mail(form.user, "password_changed", sign_in_url(), background=True)
        return response


@require_GET
def password_reset_complete(request):
    return render(
        request,
        "accounts/message.html",
        {
            "title": _("Your password has been changed"),
            "lines": [_("Sign in with your e-mail address and your new password.")],
            "link": (reverse("accounts:login"), _("Sign in")),
        },
    )


@login_required
@sensitive_post_parameters("password")
def confirm_password(request):
    form = ConfirmPasswordForm(request.user, request.POST or None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST" and form.is_valid():
        mark_confirmed(request)
        return redirect(_safe_next(request, next_url))
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Confirm your password"),
            "intro": _("For your safety, enter your password again to continue."),
            "submit_label": _("Continue"),
            "next": next_url,
        },
    )


# --- invitations ----------------------------------------------------------------------------


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def invitation_accept(request, token):
    """Choose a first password. A good link's token moves from the address into the session
    first (as Django's reset view does), so it stays out of history and the page itself."""
    if token == INVITATION_HIDDEN_TOKEN:
        token = request.session.get(INVITATION_SESSION_KEY, "")
    elif request.method == "GET" and open_invitation(token) is not None:
        request.session[INVITATION_SESSION_KEY] = token
        return redirect("accounts:invitation_accept", token=INVITATION_HIDDEN_TOKEN)
    invitation = open_invitation(token)
    if invitation is None:
        return render(
            request,
            "accounts/message.html",
            {
                "title": _("This invitation link cannot be used"),
                "lines": [
                    _(
                        "The link has been used already, has expired or was replaced by a newer "
                        "invitation. Ask your organisation to send you a new invitation."
                    )
                ],
                "link": (reverse("accounts:login"), _("Sign in")),
            },
        )
    form = SetPasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if mark_used(invitation):
                form.save()
                messages.success(
                    request, _("Your password has been set. Sign in with your e-mail address.")
                )
        request.session.pop(INVITATION_SESSION_KEY, None)
        return redirect("accounts:login")
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Welcome to safecoach"),
            "intro": _("Choose a password for your account."),
            "submit_label": _("Set my password"),
        },
    )


@require_POST
@login_required
def invitation_resend(request, pk):
    person = get_object_or_404(User.objects.managed_by(request.user), pk=pk)
    if invitable(person):
        send_invitation(person, invited_by=request.user)
        messages.success(request, _("A new invitation has been sent."))
    else:
        messages.error(
            request, _("This person has already chosen a password or has been deactivated.")
        )
    return redirect("organisations:people")


@require_POST
@login_required
def two_factor_reset_for(request, pk):
    """A manager switches off two-step for someone who lost their phone and backup codes.

    If the organisation requires two-step, the person sets it up again at the next sign-in.
    The person is told by e-mail. Needs a recent password confirmation of the manager.
    """
    person = get_object_or_404(User.objects.managed_by(request.user), pk=pk)
    back = reverse("organisations:person_edit", args=[person.pk])
    if not recently_confirmed(request):
        return redirect(f"{reverse('accounts:confirm_password')}?{urlencode({'next': back})}")
    if twofactor.two_factor_of(person) is None:
        messages.error(request, _("This person has no two-step verification switched on."))
        return redirect(back)
    twofactor.disable(person)
    send_account_mail(person, "two_factor_off", sign_in_url(), background=True)
    messages.success(request, _("Two-step verification has been switched off for this person."))
    return redirect(back)


# --- two-step verification: overview, SMS, app, backup codes, off ------------------------------


@require_GET
@login_required
def two_factor(request):
    user = request.user
    tf = twofactor.two_factor_of(user)
    required = bool(user.organisation_id and user.organisation.require_two_factor)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "tf": tf,
            "phone": twofactor.masked(tf.phone) if tf and tf.phone else "",
            "required": required,
            "backup_left": twofactor.unused_backup_codes(user) if tf else 0,
        },
    )


def _show_backup_codes(request, plain):
    return render(request, "accounts/backup_codes_new.html", {"codes": plain})


@password_confirmed
@sensitive_post_parameters("phone")
def two_factor_sms(request):
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            twofactor.send_code(request.user, CodePurpose.ENROL, form.cleaned_data["phone"])
        except CodeError as error:
            form.add_error(None, str(error))
        else:
            return redirect("accounts:two_factor_sms_confirm")
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Two-step verification by text message"),
            "intro": _(
                "We will send a code to this number. Two-step verification is switched on "
                "only after you have entered that code."
            ),
            "submit_label": _("Send the code"),
            "cancel_url": reverse("accounts:two_factor"),
        },
    )


@password_confirmed
@sensitive_post_parameters("code")
def two_factor_sms_confirm(request):
    user = request.user
    pending = twofactor.pending_code(user, CodePurpose.ENROL)
    if request.method == "POST" and "resend" in request.POST:
        if pending is None:
            return redirect("accounts:two_factor_sms")
        try:
            twofactor.send_code(user, CodePurpose.ENROL, pending.phone)
        except CodeError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("A new code has been sent."))
        return redirect("accounts:two_factor_sms_confirm")
    latest = twofactor._latest(user, CodePurpose.ENROL)
    if latest is None or latest.used_at is not None:
        messages.info(request, _("Enter your mobile number first."))
        return redirect("accounts:two_factor_sms")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            used = twofactor.check_sms_code(user, CodePurpose.ENROL, form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            plain = twofactor.enable(user, TwoFactorMethod.SMS, phone=used.phone)
            request.session["two_factor_setup_required"] = False
            messages.success(request, _("Two-step verification by text message is on."))
            if plain:
                return _show_backup_codes(request, plain)
            return redirect("accounts:two_factor")
    return render(
        request,
        "accounts/two_factor_sms_confirm.html",
        {"form": form, "phone": twofactor.masked(latest.phone)},
    )


def _qr_svg(uri):
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = image.to_string(encoding="unicode")
    # Drop the fixed size in millimetres; the stylesheet sizes it. No style attribute is used.
    svg = svg.replace(' width="', ' data-w="').replace(' height="', ' data-h="')
    return mark_safe(svg)  # noqa: S308  (made here from our own URI; no user HTML in it)


@password_confirmed
@sensitive_post_parameters("code")
def two_factor_totp(request):
    user = request.user
    secret = request.session.get("totp_secret")
    if not secret:
        secret = request.session["totp_secret"] = codes.new_totp_secret()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            step = twofactor.check_totp(user, secret, form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            del request.session["totp_secret"]
            plain = twofactor.enable(user, TwoFactorMethod.TOTP, secret=secret, step=step)
            request.session["two_factor_setup_required"] = False
            messages.success(request, _("Two-step verification with an authenticator app is on."))
            if plain:
                return _show_backup_codes(request, plain)
            return redirect("accounts:two_factor")
    uri = codes.totp_uri(secret, user.email)
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return render(
        request,
        "accounts/two_factor_totp.html",
        {"form": form, "qr": _qr_svg(uri), "secret": spaced},
    )


@password_confirmed
def backup_codes(request):
    user = request.user
    if twofactor.two_factor_of(user) is None:
        messages.info(request, _("Switch on two-step verification first."))
        return redirect("accounts:two_factor")
    if request.method == "POST":
        return _show_backup_codes(request, twofactor.new_backup_codes(user))
    return render(
        request,
        "accounts/backup_codes.html",
        {"left": twofactor.unused_backup_codes(user)},
    )


@password_confirmed
def two_factor_disable(request):
    user = request.user
    if twofactor.two_factor_of(user) is None:
        return redirect("accounts:two_factor")
    if user.organisation_id and user.organisation.require_two_factor:
        messages.error(
            request,
            _("Your organisation requires two-step verification, so it cannot be switched off."),
        )
        return redirect("accounts:two_factor")
    if request.method == "POST":
        twofactor.disable(user)
        send_account_mail(user, "two_factor_off", sign_in_url(), background=True)
        messages.success(request, _("Two-step verification is off."))
        return redirect("accounts:two_factor")
    return render(
        request,
        "accounts/confirm.html",
        {
            "title": _("Switch off two-step verification?"),
            "lines": [
                _(
                    "Without it, your password alone protects your account. Your backup codes "
                    "stop working."
                )
            ],
            "submit_label": _("Switch off"),
            "cancel_url": reverse("accounts:two_factor"),
        },
    )


@login_required
def organisation_security(request):
    """A manager decides whether everyone in the organisation must use two-step verification."""
    if request.user.role != Role.MANAGER or not request.user.organisation_id:
        raise Http404
    return _organisation_security(request)


@password_confirmed
def _organisation_security(request):
    organisation = request.user.organisation
    form = OrganisationSecurityForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The security settings have been saved."))
        return redirect("accounts:organisation_security")
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Sign-in security of your organisation"),
            "submit_label": _("Save"),
        },
    )


# --- profile --------------------------------------------------------------------------------


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your details have been saved."))
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})
