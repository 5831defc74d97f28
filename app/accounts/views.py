import logging
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
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts import codes, field_crypto, organisation_notices, twofactor
from accounts.decorators import mark_confirmed, password_confirmed, recently_confirmed
from accounts.factor_confirmation import mark_factor_confirmed, two_step_change
from accounts.forms import (
    CodeForm,
    ConfirmPasswordForm,
    EmailAuthenticationForm,
    OrganisationSecurityForm,
    PhoneForm,
    ProfileForm,
    RecordPhoneForm,
    SafePasswordResetForm,
    SecondStepForm,
    ThrottledPasswordChangeForm,
)
from accounts.invitations import invitable, mark_used, open_invitation, send_invitation
from accounts.models import CodePurpose, Role, TwoFactorMethod, User
from accounts.notices import credential_changed
from accounts.twofactor import CodeError

logger = logging.getLogger(__name__)

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
    """The password step. With two-step on, or when two-step must be set up first
    (twofactor.enrolment_forced), a right password does not sign in: the session holds a
    pending sign-in and the code step (signin_verify) finishes it."""

    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        tf = twofactor.two_factor_of(user)
        enrol = tf is None and twofactor.enrolment_forced(user)
        if tf is None and not enrol:
            return super().form_valid(form)
        if enrol and not twofactor.recorded_phone_of(user):
            logger.info(
                "sign-in refused: two-step must be set up, no number recorded (user %s)", user.pk
            )
            form.add_error(None, twofactor.no_recorded_phone_message(user))
            return self.form_invalid(form)
        # The password was right; the account is not signed in until the code step is done.
        self.request.session.cycle_key()
        self.request.session[PENDING] = {
            "uid": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_redirect_url(),
            "hash": user.get_session_auth_hash(),
            "enrol": enrol,
        }
        if enrol or tf.method == TwoFactorMethod.SMS:
            try:
                if enrol:
                    twofactor.send_enrolment_code(user)
                else:
                    twofactor.send_signin_code(user)
            except CodeError as error:
                messages.error(self.request, str(error))
        return redirect("accounts:signin_verify")


def _pending_user(request):
    """The user who passed the password step in this session, if that was recent enough and
    the password has not changed since (the session auth hash is compared)."""
    pending = request.session.get(PENDING)
    if not pending:
        return None
    if time.time() - pending["at"] > settings.SAFECOACH_CODE_SECONDS:
        del request.session[PENDING]
        messages.error(request, _("Signing in took too long; please sign in again."))
        return None
    user = User.objects.filter(pk=pending["uid"], is_active=True).first()
    if user is None or not codes.same(pending.get("hash", ""), user.get_session_auth_hash()):
        del request.session[PENDING]
        if user is not None:
            logger.info("pending sign-in ended: the password changed (user %s)", user.pk)
            messages.error(request, _("Your password has changed; please sign in again."))
        return None
    on = twofactor.two_factor_of(user) is not None
    if on == bool(pending.get("enrol")):  # two-step was switched on or off meanwhile
        del request.session[PENDING]
        messages.error(request, _("Signing in was interrupted; please sign in again."))
        return None
    return user


def _finish_sign_in(request, user, pending):
    login(request, user, backend=pending["backend"])
    twofactor.mark_second_factor(request)
    request.session["two_factor_setup_required"] = False


@never_cache
@sensitive_post_parameters("code")
def signin_verify(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    user = _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    enrol = request.session[PENDING].get("enrol")
    form = (CodeForm if enrol else SecondStepForm)(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        try:
            if enrol:
                plain = twofactor.enrol_with_recorded_phone(user, code)
            else:
                twofactor.verify_second_step(user, code)
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            pending = request.session.pop(PENDING)
            _finish_sign_in(request, user, pending)
            next_url = _safe_next(request, pending.get("next"))
            if enrol:
                messages.success(request, _("Two-step verification by text message is on."))
                return _show_backup_codes(request, plain or [], next_url)
            if not code.isdigit():
                left = twofactor.unused_backup_codes(user)
                messages.warning(
                    request,
                    _("You used a backup code; %(left)d are left. Make new ones in My account.")
                    % {"left": left},
                )
            return redirect(next_url)
    if enrol:
        context = {"form": form, "method": "sms", "enrol": True}
        context["phone"] = twofactor.masked(twofactor.recorded_phone_of(user))
    else:
        tf = twofactor.two_factor_of(user)
        context = {"form": form, "method": tf.method, "phone": twofactor.masked(tf.phone)}
    return render(request, "accounts/signin_verify.html", context)


@require_POST
def signin_resend(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    user = _pending_user(request)
    if user is None:
        return redirect("accounts:login")
    enrol = request.session[PENDING].get("enrol")
    if enrol or twofactor.two_factor_of(user).method == TwoFactorMethod.SMS:
        try:
            if enrol:
                twofactor.send_enrolment_code(user)
            else:
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

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    success_url = reverse_lazy("accounts:profile")
    extra_context = {
        "title": gettext_lazy("Change password"),
        "submit_label": gettext_lazy("Change password"),
    }

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        credential_changed(form.user, "password")
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
        credential_changed(form.user, "password")
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
    form = ConfirmPasswordForm(request.user, request.POST or None, request=request)
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


@login_required
@sensitive_post_parameters("recorded_phone")
def two_factor_reset_for(request, pk):
    """A manager resets two-step for someone who lost their phone (and backup codes), or records
    a mobile number for someone who has none yet.

    The manager enters the person's new mobile number. Two-step is switched off and the number
    recorded, not verified: the person's next sign-in texts a code to it, and only that code
    signs them in (and switches SMS two-step on). A password alone never opens the account.
    The person is told by e-mail. Needs a recent password confirmation of the manager.
    """
    person = get_object_or_404(User.objects.managed_by(request.user), pk=pk)
    here = reverse("accounts:two_factor_reset_for", args=[person.pk])
    if not recently_confirmed(request):
        return redirect(f"{reverse('accounts:confirm_password')}?{urlencode({'next': here})}")
    # The person-edit page's button posts without a number: that opens this form.
    bound = request.method == "POST" and "recorded_phone" in request.POST
    form = RecordPhoneForm(request.POST if bound else None)
    if bound and form.is_valid():
        was_on = twofactor.two_factor_of(person) is not None
        twofactor.reset(person, form.cleaned_data["recorded_phone"], actor=request.user)
        if was_on:
            text = _(
                "Two-step verification has been reset. At the next sign-in this person confirms "
                "the new number with a code."
            )
        else:
            text = _(
                "The mobile number has been recorded. At the next sign-in this person confirms it "
                "with a code."
            )
        messages.success(request, text)
        return redirect("organisations:person_edit", pk=person.pk)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Reset two-step verification for %(name)s")
            % {"name": person.full_name or person.email},
            "intro": _(
                "For someone who lost their phone and backup codes, or has no mobile number "
                "recorded yet. Enter the mobile number they now use. Their two-step verification "
                "is switched off, they are told by e-mail, and they cannot sign in until they "
                "enter the code we text to this number at their next sign-in."
            ),
            "submit_label": _("Reset two-step verification"),
            "cancel_url": reverse("organisations:person_edit", args=[person.pk]),
        },
    )


# --- two-step verification: overview, SMS, app, backup codes, off ------------------------------


@login_required
@sensitive_post_parameters("code")
def two_factor(request):
    """The overview. For someone who must set up two-step first, the only way on: a code to the
    number recorded for them (never a number or app of their choosing)."""
    user = request.user
    if twofactor.setup_required(user):
        return _setup_with_recorded_phone(request)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    tf = twofactor.two_factor_of(user)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "tf": tf,
            "phone": twofactor.masked(tf.phone) if tf and tf.phone else "",
            "required": twofactor.enrolment_forced(user),
            "backup_left": twofactor.unused_backup_codes(user) if tf else 0,
        },
    )


def _setup_with_recorded_phone(request):
    user = request.user
    phone = twofactor.recorded_phone_of(user)
    form = CodeForm(request.POST if "code" in request.POST else None)
    if phone and request.method == "POST" and "send" in request.POST:
        try:
            twofactor.send_enrolment_code(user)
        except CodeError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("A code has been sent."))
        return redirect("accounts:two_factor")
    if phone and form.is_bound and form.is_valid():
        try:
            plain = twofactor.enrol_with_recorded_phone(user, form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            twofactor.mark_second_factor(request)
            mark_factor_confirmed(request)
            request.session["two_factor_setup_required"] = False
            messages.success(request, _("Two-step verification by text message is on."))
            return _show_backup_codes(request, plain or [])
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "phone": twofactor.masked(phone) if phone else "",
            "sent": phone and twofactor.pending_code(user, CodePurpose.SIGNIN) is not None,
            "no_phone": "" if phone else twofactor.no_recorded_phone_message(user),
        },
    )


def _show_backup_codes(request, plain, next_url=None):
    return render(
        request,
        "accounts/backup_codes_new.html",
        {"codes": plain, "next_url": next_url or reverse("accounts:two_factor")},
    )


@login_required
@sensitive_post_parameters("code")
def confirm_factor(request):
    """A code from the current second factor (SMS to the current number, app or backup code)
    before two-step verification is changed; see accounts.factor_confirmation."""
    user = request.user
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    tf = twofactor.two_factor_of(user)
    if tf is None:
        return redirect(_safe_next(request, next_url))
    sms = tf.method == TwoFactorMethod.SMS
    if sms and (
        (request.method == "POST" and "resend" in request.POST)
        or (request.method == "GET" and twofactor.pending_code(user, CodePurpose.CONFIRM) is None)
    ):
        try:
            twofactor.send_confirm_code(user)
        except CodeError as error:
            messages.error(request, str(error))
        else:
            if request.method == "POST":
                messages.success(request, _("A new code has been sent."))
        if request.method == "POST":
            return redirect(f"{request.path}?{urlencode({'next': next_url})}")
    form = SecondStepForm(request.POST if "code" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            twofactor.verify_second_step(user, form.cleaned_data["code"], CodePurpose.CONFIRM)
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            mark_factor_confirmed(request)
            return redirect(_safe_next(request, next_url))
    return render(
        request,
        "accounts/confirm_factor.html",
        {"form": form, "method": tf.method, "phone": twofactor.masked(tf.phone), "next": next_url},
    )


@two_step_change
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


@two_step_change
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


TOTP_SESSION_KEY = "totp_secret"


@two_step_change
@sensitive_post_parameters("code")
def two_factor_totp(request):
    """Set up an authenticator app. The new key waits in the session encrypted (sessions are
    stored in the database too) until a right code proves the app has it."""
    user = request.user
    context = f"totp-enrol:{user.pk}"
    stored = request.session.get(TOTP_SESSION_KEY)
    try:
        secret = field_crypto.decrypt(stored, context) if stored else ""
    except field_crypto.DecryptionError:
        secret = ""
    if not secret:
        secret = codes.new_totp_secret()
        request.session[TOTP_SESSION_KEY] = field_crypto.encrypt(secret, context)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            step = twofactor.check_totp(user, secret, form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            del request.session[TOTP_SESSION_KEY]
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


@two_step_change
def backup_codes(request):
    user = request.user
    if twofactor.two_factor_of(user) is None:
        messages.info(request, _("Switch on two-step verification first."))
        return redirect("accounts:two_factor")
    if request.method == "POST":
        plain = twofactor.new_backup_codes(user)
        credential_changed(user, "backup_codes")
        return _show_backup_codes(request, plain)
    return render(
        request,
        "accounts/backup_codes.html",
        {"left": twofactor.unused_backup_codes(user)},
    )


@two_step_change
def two_factor_disable(request):
    user = request.user
    if twofactor.two_factor_of(user) is None:
        return redirect("accounts:two_factor")
    if twofactor.enrolment_forced(user):
        if user.is_staff:
            text = _("Platform staff must use two-step verification, so it cannot be switched off.")
        else:
            text = _(
                "Your organisation requires two-step verification, so it cannot be switched off."
            )
        messages.error(request, text)
        return redirect("accounts:two_factor")
    if request.method == "POST":
        twofactor.disable(user)
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
    was_required = organisation.require_two_factor  # the form changes the instance
    form = OrganisationSecurityForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        form.save()
        if was_required and not organisation.require_two_factor:
            organisation_notices.two_factor_requirement_off(organisation)
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
