"""Users: one organisation each, with one role. E-mail is the login."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    MANAGER = "manager", _("Organisation manager")
    COACH = "coach", _("Coach")
    CLIENT = "client", _("Client")


class UserQuerySet(models.QuerySet):
    def for_user(self, viewer):
        """The people whose profile `viewer` may see: never anyone outside their organisation."""
        if not viewer.is_authenticated or not viewer.is_active:
            return self.none()
        if viewer.role == Role.MANAGER:
            return self.filter(organisation_id=viewer.organisation_id)
        if viewer.role == Role.COACH:
            return self.filter(models.Q(pk=viewer.pk) | models.Q(coach=viewer, role=Role.CLIENT))
        if viewer.role == Role.CLIENT:
            ids = [viewer.pk] + ([viewer.coach_id] if viewer.coach_id else [])
            return self.filter(pk__in=ids)
        return self.none()

    def managed_by(self, manager):
        """Coaches and clients a manager may edit, deactivate and delete."""
        if not manager.is_authenticated or manager.role != Role.MANAGER or not manager.is_active:
            return self.none()
        return self.filter(
            organisation_id=manager.organisation_id, role__in=[Role.COACH, Role.CLIENT]
        )

    def clients_of(self, coach):
        """The current clients of a coach."""
        return self.filter(coach=coach, role=Role.CLIENT, is_active=True)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Platform staff have no organisation and no role; everyone else has both."""

    email = models.EmailField(_("e-mail address"), unique=True, max_length=254)
    full_name = models.CharField(_("name"), max_length=150)
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("organisation"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    coach = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clients",
        limit_choices_to={"role": Role.COACH},
        verbose_name=_("coach"),
    )
    language = models.CharField(
        _("language"), max_length=8, choices=[("nl", "Nederlands"), ("en", "English")], default="nl"
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("platform staff"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    last_activity = models.DateTimeField(_("last activity"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["full_name", "email"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role="") | models.Q(organisation__isnull=False),
                name="role_needs_organisation",
            ),
            models.CheckConstraint(
                condition=models.Q(coach__isnull=True) | models.Q(role="client"),
                name="only_clients_have_a_coach",
            ),
        ]

    def __str__(self):
        return self.full_name or self.email

    def get_full_name(self):
        return self.full_name

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email

    @property
    def is_manager(self):
        return self.role == Role.MANAGER

    @property
    def is_coach(self):
        return self.role == Role.COACH

    @property
    def is_client(self):
        return self.role == Role.CLIENT


# --- Sign-in security: two-step verification, one-time codes, invitations, throttling --------
#
# Nothing secret is stored readable: codes and tokens are kept as keyed hashes (accounts.codes),
# throttle keys are keyed hashes of the e-mail address or network address they count.


class TwoFactorMethod(models.TextChoices):
    SMS = "sms", _("Text message (SMS)")
    TOTP = "totp", _("Authenticator app")


class TwoFactor(models.Model):
    """A user's two-step verification. Switched on only once the phone or app has been proven.

    `phone` is the verified number (codes go there while SMS is on). `recorded_phone` is a number
    recorded for the person by their manager (on the invitation or with a two-step reset) or by
    devops (`record_phone`), not yet verified: with `enrol_required` (set whenever a number is
    recorded or two-step is reset), the person's next sign-in texts a code to it and switches SMS
    two-step on with it. `totp_secret` holds the authenticator key encrypted
    (accounts.field_crypto), never in plain text.
    """

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="two_factor", verbose_name=_("user")
    )
    method = models.CharField(
        _("method"), max_length=8, choices=TwoFactorMethod.choices, blank=True
    )
    phone = models.CharField(_("verified phone number"), max_length=20, blank=True)
    recorded_phone = models.CharField(_("recorded phone number"), max_length=20, blank=True)
    enrol_required = models.BooleanField(_("must set up two-step at next sign-in"), default=False)
    totp_secret = models.CharField(_("authenticator key (encrypted)"), max_length=255, blank=True)
    totp_last_step = models.BigIntegerField(null=True, blank=True)
    enabled_at = models.DateTimeField(_("switched on"), null=True, blank=True)

    class Meta:
        verbose_name = _("two-step verification")
        verbose_name_plural = _("two-step verifications")

    def __str__(self):
        return self.get_method_display() or "-"

    @property
    def is_on(self):
        return bool(self.method)

    def totp_context(self) -> str:
        return f"totp:{self.user_id}"

    @property
    def totp_key(self) -> str:
        """The authenticator key in base32, decrypted; "" when none is stored."""
        from accounts import field_crypto

        if not self.totp_secret:
            return ""
        return field_crypto.decrypt(self.totp_secret, self.totp_context())

    def set_totp_key(self, key: str) -> None:
        from accounts import field_crypto

        self.totp_secret = field_crypto.encrypt(key, self.totp_context()) if key else ""


class CodePurpose(models.TextChoices):
    ENROL = "enrol", _("confirm a phone number")
    SIGNIN = "signin", _("sign in")
    CONFIRM = "confirm", _("confirm a change of two-step verification")


class OneTimeCodeQuerySet(models.QuerySet):
    def for_user(self, viewer):
        if not viewer.is_authenticated:
            return self.none()
        return self.filter(user=viewer)


class OneTimeCode(models.Model):
    """A code sent by SMS. Only the newest unused code of a user and purpose counts."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_codes")
    purpose = models.CharField(max_length=8, choices=CodePurpose.choices)
    phone = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = OneTimeCodeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "purpose", "-created_at"])]

    def __str__(self):
        return f"{self.purpose} code for user {self.user_id}"


class BackupCode(models.Model):
    """A single-use code for a lost phone; shown once, stored as a keyed hash."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="backup_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"backup code {self.pk} of user {self.user_id}"


class Invitation(models.Model):
    """A single-use, expiring link to choose a first password. The token itself is never stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"invitation {self.pk} for user {self.user_id}"


class Throttle(models.Model):
    """Failed attempts counted under one key (a keyed hash of scope and e-mail or address)."""

    key = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=32)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.scope} throttle"
