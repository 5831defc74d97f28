"""The policy's password rule: at least one digit and one upper-case letter.

The minimum length (8), common-password and similarity checks are Django's own validators,
configured next to this one in AUTH_PASSWORD_VALIDATORS.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class DigitAndUppercaseValidator:
    def validate(self, password, user=None):
        errors = []
        if not any(ch.isdigit() for ch in password):
            errors.append(
                ValidationError(_("The password needs at least one digit."), code="no_digit")
            )
        if not any(ch.isupper() for ch in password):
            errors.append(
                ValidationError(
                    _("The password needs at least one upper-case letter."), code="no_upper"
                )
            )
        if errors:
            raise ValidationError(errors)

    def get_help_text(self):
        return _("Your password must contain at least one digit and one upper-case letter.")
