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
